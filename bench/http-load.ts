/**
 * The load generator of bench/http.ts, in its own process so its CPU use is not the server's:
 *
 *   node --import tsx bench/http-load.ts   (a LoadInput as JSON on stdin)
 *
 * One keep-alive connection per cookie (connection i sends cookies[i] on every request), every request
 * `GET /`, no pipelining: a warm-up run, then the measured run, both with autocannon. Prints one
 * LoadResult as a JSON line on stdout.
 */
import { autocannonRun, busyPct, machineTicks, processCpuMs, readStdin } from './common.ts';
import type { LoadInput, LoadResult } from './http-configs.ts';

const text = await readStdin();
const input = text.trim() === '' ? null : (JSON.parse(text) as LoadInput);
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

function run(durationSec: number) {
  latencyCount = 0;
  return autocannonRun(input!.url, input!.cookies, durationSec, {}, record);
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
  machineBusyPct: busyPct(before.machine, machine),
};
process.stdout.write(`${JSON.stringify(output)}\n`);
