/**
 * The load generator of bench/store.ts, in its own process so its CPU use is not the server's:
 *
 *   node --conditions=source --import tsx bench/store-load.ts '<LoadInput as JSON>'   (or the JSON on stdin)
 *
 * One keep-alive connection per session (connection i always sends cookies[i]), every request `GET /`,
 * no pipelining: a warm-up run, then the measured run, both with autocannon. Prints one LoadResult as a
 * JSON line on stdout.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { FORWARDED, type LoadInput, type LoadResult, machineTicks } from './store-configs.ts';

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
  headers: Record<string, string>;
  setupClient: (client: AutocannonClient) => void;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  latency: { p50: number; p99: number; average: number };
  requests: { average: number; total: number };
}
interface AutocannonInstance {
  on(event: 'response', listener: () => void): void;
}
type Autocannon = (
  options: AutocannonOptions,
  callback: (error: unknown, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** The input: the first argument, or else all of stdin (the runner starts this early and writes it later). */
async function readInput(): Promise<LoadInput | null> {
  let text = process.argv[2];
  if (text === undefined) {
    text = '';
    process.stdin.setEncoding('utf8');
    for await (const chunk of process.stdin) text += chunk;
  }
  return text.trim() === '' ? null : (JSON.parse(text) as LoadInput);
}

const input = await readInput();
if (!input || input.cookies.length === 0) {
  process.stderr.write("usage: store-load.ts ['<LoadInput JSON>'], or the JSON on stdin\n");
  process.exit(2);
}

let responses = 0;

function run(durationSec: number): Promise<AutocannonResult> {
  let next = 0;
  const cookies = input!.cookies;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: input!.url,
        connections: cookies.length,
        duration: durationSec,
        pipelining: 1,
        timeout: 10,
        headers: { ...FORWARDED },
        // Called once per connection, in order: connection i is session i for the whole run.
        setupClient: (client) =>
          client.setHeaders({ ...FORWARDED, cookie: cookies[next++ % cookies.length]! }),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on('response', () => {
      responses++;
    });
  });
}

/** user + system CPU time of a process in ms, from /proc (Linux); null if unreadable. */
function processCpuMs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") "; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

const delta = (after: number | null, before: number | null) =>
  after === null || before === null ? null : after - before;

if (input.warmupSec > 0) await run(input.warmupSec);

const before = {
  server: processCpuMs(input.serverPid),
  redis: processCpuMs(input.redisPid),
  load: process.cpuUsage(),
  machine: machineTicks(),
};
const result = await run(input.durationSec);
const load = process.cpuUsage(before.load);
const machine = machineTicks();

const output: LoadResult = {
  reqPerSec: result.requests.average,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  meanMs: result.latency.average,
  durationSec: result.duration,
  ok: result['2xx'],
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  responses,
  serverCpuMs: delta(processCpuMs(input.serverPid), before.server),
  loadCpuMs: (load.user + load.system) / 1000,
  redisCpuMs: delta(processCpuMs(input.redisPid), before.redis),
  machineBusyPct:
    machine && before.machine
      ? (100 * (machine.busy - before.machine.busy)) / Math.max(1, machine.total - before.machine.total)
      : null,
  machineBusyMs: machine && before.machine ? ((machine.busy - before.machine.busy) * 1000) / 100 : null,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
