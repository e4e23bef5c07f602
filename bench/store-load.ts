/**
 * The load generator of bench/store.ts, in its own process so its CPU use is not the server's:
 *
 *   node --import tsx bench/store-load.ts '<LoadInput as JSON>'   (or the JSON on stdin)
 *
 * One keep-alive connection per session (connection i always sends cookies[i]), every request `GET /`,
 * no pipelining: a warm-up run, then the measured run, both with autocannon. Prints one LoadResult as a
 * JSON line on stdout.
 */
import { autocannonRun, busyPct, machineTicks, processCpuMs, readStdin } from './common.ts';
import { FORWARDED, type LoadInput, type LoadResult } from './store-configs.ts';

/** The input: the first argument, or else all of stdin (the runner starts this early and writes it later). */
const text = process.argv[2] ?? (await readStdin());
const input = text.trim() === '' ? null : (JSON.parse(text) as LoadInput);
if (!input || input.cookies.length === 0) {
  process.stderr.write("usage: store-load.ts ['<LoadInput JSON>'], or the JSON on stdin\n");
  process.exit(2);
}

let responses = 0;

// Connection i is session i for the whole run.
const run = (durationSec: number) =>
  autocannonRun(input!.url, input!.cookies, durationSec, FORWARDED, () => {
    responses++;
  });

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
  machineBusyPct: busyPct(before.machine, machine),
  machineBusyMs: machine && before.machine ? ((machine.busy - before.machine.busy) * 1000) / 100 : null,
};
process.stdout.write(`${JSON.stringify(output)}\n`);
