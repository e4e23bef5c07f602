/**
 * Cookie sessions under HTTP load: requests per second and p99 latency of one handler (read a counter
 * from the session, add one, write it back, answer it as JSON) on node:http, Express 5, Fastify 5 and
 * Hono, with Latchkey, with the popular session libraries of each, with a hand-written AES-256-GCM
 * cookie (the practical limit) and with no session at all (each framework's baseline), in one run.
 * Informational only: nothing here fails a build, and a missed target exits 0.
 *
 *   npm run bench:http              # 3 interleaved rounds of 1 s warm-up + 3 s per configuration, ~4 min
 *   npm run bench:http -- --quick   # 1 round of 1 s + 2 s: a smoke run, not numbers to quote
 *   npm run bench:http -- --json    # the same measurements as JSON on stdout
 *   npm run bench:http -- --only=express   # only configurations whose id contains the text
 *
 * Each configuration runs bench/http-server.ts in a child process and drives it from another child
 * process (bench/http-load.ts, autocannon). See bench/README.md for the method and how to read the
 * output.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIGS,
  type CounterBody,
  type HttpConfig,
  type LoadInput,
  type LoadResult,
  RUN_ORDER,
  TARGETS,
} from './http-configs.ts';
import { machineTicks } from './store-configs.ts';

// ---------------------------------------------------------------------------------------------------
// Options

interface Options {
  readonly quick: boolean;
  readonly json: boolean;
  readonly rounds: number;
  readonly warmupSec: number;
  readonly durationSec: number;
  readonly connections: number;
  /** Only the configurations whose id contains this text (each one's framework baseline always runs). */
  readonly only: string | undefined;
}

function parseArgs(argv: readonly string[]): Options {
  let quick = false;
  let json = false;
  let only: string | undefined;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--json') json = true;
    else if (arg.startsWith('--only=')) only = arg.slice('--only='.length);
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: npm run bench:http -- [--quick] [--json] [--only=TEXT]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench/http.ts: unknown argument ${JSON.stringify(arg)}\n`);
      process.exit(2);
    }
  }
  // autocannon stops on its 1-second sample tick, so durations are whole seconds.
  return quick
    ? { quick, json, only, rounds: 1, warmupSec: 1, durationSec: 2, connections: 10 }
    : { quick, json, only, rounds: 3, warmupSec: 1, durationSec: 3, connections: 10 };
}

const options = parseArgs(process.argv.slice(2));
/** Progress and tables go to stdout, or to stderr under --json (stdout then holds only the JSON). */
const log = (line = '') => (options.json ? process.stderr : process.stdout).write(`${line}\n`);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE_ARGS = ['--conditions=source', '--import', 'tsx'];
const SERVER = fileURLToPath(new URL('./http-server.ts', import.meta.url));
const LOAD = fileURLToPath(new URL('./http-load.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------------
// Child processes: every one is tracked, and killed by its PID when done or if this process stops early.

const children = new Set<ChildProcess>();
let stopping = false;

function startChild(script: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  if (stopping) throw new Error('interrupted');
  const child = spawn(process.execPath, [...NODE_ARGS, script, ...args], {
    cwd: ROOT,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM by PID, then SIGKILL if it is still there after 3 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {}
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    } catch {}
  }, 3000);
  await exited(child);
  clearTimeout(timer);
}

function killAllNow(): void {
  for (const child of children) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {}
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopping = true;
    killAllNow();
    process.stderr.write(`\nbench/http.ts: ${signal}; children killed\n`);
    process.exit(130);
  });
}

/** Keep the last `limit` characters a stream wrote (a server's stderr, for a failure report). */
function tail(stream: NodeJS.ReadableStream | null, limit = 4000): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

// ---------------------------------------------------------------------------------------------------
// One server

interface RunningServer {
  readonly child: ChildProcess;
  readonly base: string;
  readonly stderr: () => string;
}

/** Thrown when a configuration's Latchkey module does not exist yet: skipped, not failed. */
class Unavailable extends Error {}

async function startServer(config: HttpConfig): Promise<RunningServer> {
  const child = startChild(SERVER, [config.id]);
  const stderr = tail(child.stderr);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server not ready after 30 s`)), 30_000);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const ready = /^ready (\d+)$/m.exec(out);
      if (ready) {
        clearTimeout(timer);
        resolve(Number(ready[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const unavailable = /^unavailable (.*)$/m.exec(out);
      if (unavailable) reject(new Unavailable(unavailable[1]));
      else reject(new Error(`server exited (${signal ?? code}) before ready:\n${stderr().trim()}`));
    });
  });
  return { child, base: `http://127.0.0.1:${port}`, stderr };
}

/** `name=value; name2=value2` from a response's Set-Cookie lines. */
function cookieOf(setCookie: readonly string[]): string {
  return setCookie.map((line) => line.split(';')[0]!.trim()).join('; ');
}

interface Answer {
  readonly status: number;
  readonly n: number | undefined;
  readonly setCookie: string[];
}

async function get(url: string, cookie?: string): Promise<Answer> {
  const response = await fetch(url, { headers: cookie ? { cookie } : {} });
  const text = await response.text();
  let n: number | undefined;
  try {
    const parsed = JSON.parse(text) as CounterBody;
    n = typeof parsed.n === 'number' ? parsed.n : undefined;
  } catch {}
  return { status: response.status, n, setCookie: response.headers.getSetCookie() };
}

interface Check {
  readonly ok: boolean;
  readonly text: string;
}

/**
 * Before any load: a first request without a cookie must answer n = 1 and set a cookie; the same
 * request with that cookie must answer 2 and set a cookie again, and with the second cookie 3. So the
 * session is read, changed and written back, and a Set-Cookie goes out on every response.
 */
async function checkSession(base: string): Promise<Check> {
  const first = await get(`${base}/`);
  const second = await get(`${base}/`, cookieOf(first.setCookie));
  const third = await get(`${base}/`, cookieOf(second.setCookie));
  const answers = [first, second, third];
  const counts = answers.map((a) => (a.status === 200 ? String(a.n) : `HTTP ${a.status}`)).join(' → ');
  const lines = answers.map((a) => a.setCookie.length);
  const ok = answers.every((a, i) => a.status === 200 && a.n === i + 1 && a.setCookie.length > 0);
  const changes = cookieOf(first.setCookie) !== cookieOf(second.setCookie) ? 'new value' : 'same value';
  const size = Math.max(...second.setCookie.map((line) => line.length), 0);
  return {
    ok,
    text:
      `n ${counts}; Set-Cookie lines per response ${lines.join('/')} (${changes} each time, ` +
      `longest line ${size} chars)`,
  };
}

/** A configuration without a session must simply answer 200 with a counter. */
async function checkPlain(base: string): Promise<Check> {
  const answer = await get(`${base}/`);
  const ok = answer.status === 200 && answer.n !== undefined && answer.setCookie.length === 0;
  return { ok, text: `HTTP ${answer.status}, n ${answer.n}, Set-Cookie lines ${answer.setCookie.length}` };
}

/** The cookie each connection sends: a session made by one first request each (n = 1). */
async function sessionCookies(base: string, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const first = await get(`${base}/`);
      const cookie = cookieOf(first.setCookie);
      if (first.status !== 200 || first.n !== 1 || cookie === '') {
        throw new Error(`connection ${i}: first request answered ${first.status}, n ${first.n}, no cookie?`);
      }
      return cookie;
    }),
  );
}

/**
 * The no-session baselines send a cookie too, of about a session cookie's size, so every request is
 * about the same size on the wire (nothing reads it).
 */
const PLAIN_COOKIE = `sid=${randomBytes(96).toString('base64url')}`;

// ---------------------------------------------------------------------------------------------------
// One measured run

interface RunResult {
  readonly round: number;
  readonly load: LoadResult;
  readonly check: Check;
  readonly serverStderr: string;
}

interface LoadChild {
  run(input: LoadInput): Promise<LoadResult>;
  stop(): Promise<void>;
}

/** Started before the server, so its start-up overlaps the server's; it waits on stdin for its input. */
function startLoad(): LoadChild {
  const child = startChild(LOAD, [], 'pipe');
  child.stdin?.on('error', () => {}); // EPIPE if it died early: its exit code tells
  const stderr = tail(child.stderr);
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
  });
  return {
    async run(input) {
      child.stdin?.end(JSON.stringify(input));
      const limit = (input.warmupSec + input.durationSec + 60) * 1000;
      const timer = setTimeout(() => void stopChild(child), limit);
      await exited(child);
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (child.exitCode !== 0 || !line.startsWith('{')) {
        throw new Error(`load generator failed (${child.signalCode ?? child.exitCode}):\n${stderr()}`);
      }
      return JSON.parse(line) as LoadResult;
    },
    stop: () => stopChild(child),
  };
}

/** Thrown when the correctness check fails: the configuration is excluded from the results. */
class CheckFailed extends Error {}

async function runOne(config: HttpConfig, round: number): Promise<RunResult> {
  const loader = startLoad();
  let server: RunningServer;
  try {
    server = await startServer(config);
  } catch (error) {
    await loader.stop();
    throw error;
  }
  try {
    const check = config.session ? await checkSession(server.base) : await checkPlain(server.base);
    if (!check.ok) throw new CheckFailed(`correctness check failed: ${check.text}`);
    const cookies = config.session
      ? await sessionCookies(server.base, options.connections)
      : Array.from({ length: options.connections }, () => PLAIN_COOKIE);
    const load = await loader.run({
      url: `${server.base}/`,
      cookies,
      warmupSec: options.warmupSec,
      durationSec: options.durationSec,
      serverPid: server.child.pid!,
    });
    return { round, load, check, serverStderr: server.stderr() };
  } finally {
    await loader.stop();
    await stopChild(server.child);
  }
}

// ---------------------------------------------------------------------------------------------------
// Statistics and printing

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const int = (value: number) => Math.round(value).toLocaleString('en-US');
const times = (value: number) => `${value.toFixed(2)}×`;
const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);

interface ConfigSummary {
  readonly id: string;
  readonly label: string;
  readonly status: 'ok' | 'failed' | 'unavailable' | 'not run';
  readonly note: string | undefined;
  readonly check: string | undefined;
  readonly runs: RunResult[];
  readonly reqPerSec: number | undefined;
  readonly p99Ms: number | undefined;
  readonly serverCpuUsPerReq: number | undefined;
  readonly bytesPerResponse: number | undefined;
  readonly errors: number;
  /** req/s ÷ the same framework's no-session req/s: the median of the per-round ratios. */
  readonly vsFramework: number | undefined;
}

function perRoundRatios(a: readonly RunResult[], b: readonly RunResult[]): number[] {
  return a.flatMap((r) => {
    const other = b.find((x) => x.round === r.round);
    return other ? [r.load.reqPerSec / other.load.reqPerSec] : [];
  });
}

/**
 * The median of the per-round ratios: both sides of each were timed moments apart, so a machine that
 * drifts between rounds (a shared VM) moves both alike. A ratio of medians could pair rounds far apart.
 */
function pairedRatio(a: readonly RunResult[], b: readonly RunResult[]): number | undefined {
  const ratios = perRoundRatios(a, b);
  return ratios.length ? median(ratios) : undefined;
}

function printTable(summaries: readonly ConfigSummary[]): void {
  const rounds = (s: ConfigSummary, pick: (r: RunResult) => string) =>
    s.runs.length > 1 ? `(${s.runs.map(pick).join(' / ')})` : '';
  log(
    `\n${'configuration'.padEnd(41)}${'req/s'.padStart(7)} ${'rounds'.padEnd(27)}${'p99 ms'.padStart(6)} ` +
      `${'rounds'.padEnd(22)}${'µs/req'.padStart(7)}${'B/resp'.padStart(7)}${'errors'.padStart(7)}` +
      `${'vs framework'.padStart(13)}`,
  );
  for (const s of summaries) {
    if (s.reqPerSec === undefined) {
      log(`${s.label.padEnd(41)}${s.status.padStart(7)}  ${s.note?.split('\n')[0] ?? ''}`);
      continue;
    }
    const config = CONFIGS.find((c) => c.id === s.id)!;
    const ratio =
      config.baseline === s.id ? '1.00×' : s.vsFramework === undefined ? '–' : times(s.vsFramework);
    log(
      `${s.label.padEnd(41)}${int(s.reqPerSec).padStart(7)} ` +
        `${rounds(s, (r) => int(r.load.reqPerSec)).padEnd(27)}${ms(s.p99Ms ?? 0).padStart(6)} ` +
        `${rounds(s, (r) => ms(r.load.p99Ms)).padEnd(22)}` +
        `${(s.serverCpuUsPerReq === undefined ? '–' : int(s.serverCpuUsPerReq)).padStart(7)}` +
        `${int(s.bytesPerResponse ?? 0).padStart(7)}${String(s.errors).padStart(7)}${ratio.padStart(13)}` +
        `${s.errors > 0 ? ' !' : ''}`,
    );
  }
}

function packageVersion(name: string): string {
  try {
    const file = join(ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** The machine's busy share (all cores) over one second, before anything of this run starts. */
async function backgroundLoad(): Promise<number | null> {
  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = machineTicks();
  if (!before || !after) return null;
  return (100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total);
}

// ---------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const cpu = cpus();
  const env = {
    node: process.version,
    platform: `${platform()} ${arch()}`,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    date: new Date().toISOString(),
    packages: Object.fromEntries(
      [
        'express',
        'fastify',
        'hono',
        'express-session',
        'cookie-session',
        'iron-session',
        '@fastify/secure-session',
        'autocannon',
      ].map((name) => [name, packageVersion(name)]),
    ),
    busyBeforePct: null as number | null,
  };
  const method = {
    rounds: options.rounds,
    runOrder: RUN_ORDER,
    warmupSec: options.warmupSec,
    durationSec: options.durationSec,
    connections: options.connections,
    pipelining: 1,
    quick: options.quick,
  };
  log('Latchkey HTTP benchmark: cookie sessions under load (bench/http.ts)');
  log(`  node ${env.node} on ${env.platform}; ${env.cpu}; ${env.cores} cores; ${env.date}`);
  log(
    `  ${Object.entries(env.packages)
      .map(([n, v]) => `${n} ${v}`)
      .join(', ')}`,
  );
  log(
    `  ${options.rounds} round(s); each configuration: its own server process, checked first, then ` +
      `${options.connections} keep-alive\n  connections (one session cookie each) from another process ` +
      `for ${options.warmupSec} s warm-up + ${options.durationSec} s measured; every request\n  GET / opens ` +
      'the session, increments a counter, seals it again and answers {"n":…} with a new Set-Cookie',
  );
  if (options.quick) log('  --quick: a smoke run; do not quote these numbers');
  const quiet = await backgroundLoad();
  env.busyBeforePct = quiet;
  if (quiet !== null) {
    const note = quiet > 10 ? ': something else is running; expect noisy numbers' : ' (quiet)';
    log(`  machine busy before the run: ${Math.round(quiet)}% of ${env.cores} cores over 1 s${note}`);
  }

  const selected = CONFIGS.filter(
    (c) =>
      options.only === undefined ||
      c.id.includes(options.only) ||
      CONFIGS.some((o) => o.baseline === c.id && o.id.includes(options.only!)),
  );
  const order = RUN_ORDER.map((id) => selected.find((c) => c.id === id)).filter((c) => c !== undefined);
  const runs = new Map<string, RunResult[]>(selected.map((c) => [c.id, []]));
  const excluded = new Map<string, { status: 'failed' | 'unavailable'; note: string }>();
  const checks = new Map<string, string>();

  for (let round = 1; round <= options.rounds; round++) {
    log(`\nround ${round}/${options.rounds}`);
    for (const config of round % 2 ? order : [...order].reverse()) {
      if (stopping) break;
      if (excluded.has(config.id)) continue;
      try {
        const run = await runOne(config, round);
        runs.get(config.id)!.push(run);
        if (!checks.has(config.id)) checks.set(config.id, run.check.text);
        const l = run.load;
        const errors = l.non2xx + l.errors + l.timeouts;
        log(
          `  ${config.label.padEnd(41)}${int(l.reqPerSec).padStart(7)} req/s  p99 ${ms(l.p99Ms).padStart(5)} ms` +
            `  ${int(l.bytesPerResponse).padStart(4)} B/resp  errors ${errors}`,
        );
        if (errors > 0 || run.serverStderr.trim()) {
          if (errors > 0) log(`    ! non-2xx ${l.non2xx}, errors ${l.errors}, timeouts ${l.timeouts}`);
          for (const line of run.serverStderr.trim().split('\n').slice(0, 3)) log(`    ! server: ${line}`);
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const status = error instanceof Unavailable ? 'unavailable' : 'failed';
        excluded.set(config.id, { status, note: message });
        log(`  ${config.label.padEnd(41)}${status.toUpperCase()}: ${message}`);
      }
    }
  }
  if (stopping) return;

  const medianRate = (id: string) => {
    const r = runs.get(id) ?? [];
    return r.length ? median(r.map((x) => x.load.reqPerSec)) : undefined;
  };
  const baselineRuns = (id: string) => (excluded.get(id)?.status === 'failed' ? [] : (runs.get(id) ?? []));
  const summaries: ConfigSummary[] = selected.map((c) => {
    const r = runs.get(c.id)!;
    const out = excluded.get(c.id);
    const reqPerSec = out?.status === 'failed' ? undefined : medianRate(c.id);
    const cpu = r.filter((x) => x.load.serverCpuMs !== null);
    return {
      id: c.id,
      label: c.label,
      status: out?.status ?? (r.length ? 'ok' : 'not run'),
      note: out?.note,
      check: checks.get(c.id),
      runs: out?.status === 'failed' ? [] : r,
      reqPerSec,
      p99Ms: reqPerSec === undefined ? undefined : median(r.map((x) => x.load.p99Ms)),
      serverCpuUsPerReq:
        reqPerSec !== undefined && cpu.length
          ? median(cpu.map((x) => (x.load.serverCpuMs! * 1000) / Math.max(1, x.load.ok + x.load.non2xx)))
          : undefined,
      bytesPerResponse: reqPerSec === undefined ? undefined : median(r.map((x) => x.load.bytesPerResponse)),
      errors: r.reduce((sum, x) => sum + x.load.non2xx + x.load.errors + x.load.timeouts, 0),
      vsFramework: reqPerSec === undefined ? undefined : pairedRatio(r, baselineRuns(c.baseline)),
    };
  });

  log('\nCorrectness checks (before the load; a configuration that fails one is excluded):');
  for (const s of summaries) {
    log(`  ${s.label.padEnd(41)}${s.check ?? `${s.status}: ${s.note?.split('\n')[0] ?? ''}`}`);
  }

  log(
    `\nResults: ${options.rounds > 1 ? `median of ${options.rounds} rounds, each round in brackets` : '1 round'}` +
      `; ${options.connections} connections`,
  );
  printTable(summaries);
  log(
    '\n  req/s: responses ÷ measured seconds. p99 ms: the 99th percentile of every response time. µs/req: the' +
      "\n  server process's CPU time (all its threads) per response. B/resp: bytes read per response (status" +
      '\n  line, headers, body): the Set-Cookie is in it. vs framework: req/s ÷ the same framework without a session,' +
      '\n  the median of the per-round ratios (as for the targets below).',
  );

  const byId = new Map(summaries.map((s) => [s.id, s]));
  const targets = TARGETS.map((t) => {
    const subject = t.subject.map((id) => byId.get(id)).find((s) => s?.reqPerSec !== undefined);
    const against = byId.get(t.against);
    const perRound = subject && against ? perRoundRatios(subject.runs, against.runs) : [];
    const value = perRound.length ? median(perRound) : undefined;
    return {
      label: t.label,
      subject: subject?.id ?? null,
      against: t.against,
      threshold: t.ratio,
      value: value ?? null,
      perRound,
      pass: value !== undefined && value >= t.ratio,
    };
  });
  log('\nTargets (issue), the median of the per-round req/s ratios; informational, never a failure:');
  for (const t of targets) {
    const verdict = t.value === null ? 'n/a ' : t.pass ? 'PASS' : 'MISS';
    const using = t.subject === null ? '' : `${t.subject} ÷ ${t.against}: `;
    const cpu = (id: string | null) => (id === null ? undefined : byId.get(id)?.serverCpuUsPerReq);
    const cpuA = cpu(t.subject);
    const cpuB = cpu(t.against);
    log(
      `  ${verdict}  ${t.label} (${using}${t.value === null ? 'not measured' : times(t.value)}` +
        `${t.perRound.length > 1 ? `; per round ${t.perRound.map(times).join(', ')}` : ''}` +
        `${cpuA !== undefined && cpuB !== undefined ? `; server µs/req ${int(cpuA)} vs ${int(cpuB)}` : ''})`,
    );
  }

  if (options.json) {
    const output = {
      env,
      method,
      results: summaries.map(({ runs: r, ...rest }) => ({ ...rest, rounds: r })),
      targets,
    };
    process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  }
}

try {
  await main();
} finally {
  killAllNow();
}
