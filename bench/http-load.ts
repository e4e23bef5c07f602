/**
 * The load generator of bench/http.ts, in its own process so its CPU use is not the server's:
 *
 *   node --conditions=source --import tsx bench/http-load.ts   (a LoadInput as JSON on stdin)
 *
 * One keep-alive connection per cookie (connection i sends cookies[i] on every request), every request
 * `GET /`, no pipelining: a warm-up run, then the measured run, both with autocannon. Prints one
 * LoadResult as a JSON line on stdout.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { LoadInput, LoadResult } from './http-configs.ts';
import { machineTicks } from './store-configs.ts';

/** The part of autocannon's API and result used here (it ships no types). */
interface AutocannonClient {
  setHeaders(headers: Record<string, string>): void;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  pipelining: number;
  timeout: number;
  setupClient: (client: AutocannonClient) => void;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  requests: { total: number };
  throughput: { total: number };
}
interface AutocannonInstance {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void,
  ): void;
}
type Autocannon = (
  options: AutocannonOptions,
  callback: (error: unknown, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

async function readInput(): Promise<LoadInput | null> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk;
  return text.trim() === '' ? null : (JSON.parse(text) as LoadInput);
}

const input = await readInput();
if (!input || input.cookies.length === 0) {
  process.stderr.write('usage: http-load.ts < LoadInput as JSON\n');
  process.exit(2);
}

/**
 * Every response time of a run, in ms with a fractional part: autocannon's own percentiles come from a
 * histogram of whole milliseconds, which reads 0 or 1 for every fast configuration.
 */
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;

function record(ms: number): void {
  if (latencyCount === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[latencyCount++] = ms;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function run(durationSec: number): Promise<AutocannonResult> {
  let next = 0;
  const cookies = input!.cookies;
  latencyCount = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: input!.url,
        connections: cookies.length,
        duration: durationSec,
        pipelining: 1,
        timeout: 10,
        // Called once per connection, in order: connection i sends cookie i for the whole run.
        setupClient: (client) => client.setHeaders({ cookie: cookies[next++ % cookies.length]! }),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on('response', (_client, _status, _bytes, ms) => record(ms));
  });
}

/** user + system CPU time of a process in ms, from /proc (Linux); null if unreadable. */
function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") "; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

if (input.warmupSec > 0) await run(input.warmupSec);

const before = { server: processCpuMs(input.serverPid), load: process.cpuUsage(), machine: machineTicks() };
const result = await run(input.durationSec);
const serverAfter = processCpuMs(input.serverPid);
const load = process.cpuUsage(before.load);
const machine = machineTicks();

const responses = result['2xx'] + result.non2xx;
const sorted = latencies.slice(0, latencyCount).sort();
const output: LoadResult = {
  reqPerSec: result.requests.total / result.duration,
  p50Ms: percentile(sorted, 50),
  p99Ms: percentile(sorted, 99),
  meanMs: sorted.reduce((sum, ms) => sum + ms, 0) / Math.max(1, sorted.length),
  durationSec: result.duration,
  ok: result['2xx'],
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  bytesPerResponse: responses > 0 ? result.throughput.total / responses : 0,
  serverCpuMs: serverAfter === null || before.server === null ? null : serverAfter - before.server,
  loadCpuMs: (load.user + load.system) / 1000,
  machineBusyPct:
    machine && before.machine
      ? (100 * (machine.busy - before.machine.busy)) / Math.max(1, machine.total - before.machine.total)
      : null,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
