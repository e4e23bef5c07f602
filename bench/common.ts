/**
 * What the benchmark runners (bench/seal.ts, bench/store.ts, bench/http.ts) and their load generators
 * (bench/store-load.ts, bench/http-load.ts) share: flags, machine facts, child processes, autocannon,
 * statistics and number formats. Importing this module has no side effects (unlike the runners, which
 * run when imported).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, platform } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: every child process runs there. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * How children run: through tsx, and by default with Latchkey as published, from `dist/` (the package's
 * `default` export condition, through the package's self-reference): compiled JavaScript, like every library it is compared with. tsx's own
 * transform of `src/` keeps function names with a `__name()` call for every closure, which costs the
 * per-request closures a few µs that a build does not have. `--source` (fromSource) runs `src/` instead.
 */
/** tsx with `latchkey/*` resolved to src/ (scripts/register-src.mjs); without it, to dist/. */
const SOURCE_ARGS = ['--import', fileURLToPath(new URL('../scripts/register-src.mjs', import.meta.url))];
const DIST_ARGS = ['--import', 'tsx'];
let childArgs = SOURCE_ARGS;

/**
 * Before the children start: with `fromSource` false, build `dist/` (`npm run build`, a few seconds) and
 * have the children load Latchkey from it. Exits 1 when the build fails.
 */
export function prepareLatchkey(fromSource: boolean, log: (line?: string) => void): void {
  if (fromSource) {
    log('  Latchkey runs from src/ through tsx (--source)');
    return;
  }
  const build = spawnSync('npm', ['run', '--silent', 'build'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (build.status !== 0) {
    process.stderr.write(`npm run build failed:\n${build.stdout}${build.stderr}\n`);
    process.exit(1);
  }
  childArgs = DIST_ARGS;
  log('  Latchkey runs from dist/ (built just now with npm run build), as published');
}

/**
 * The arguments every child gets after the node binary (tsx and the repo-only resolve hook under `--source`),
 * for a runner that starts its servers itself (bench/instr.ts runs them under valgrind).
 */
export const nodeArgs = (): readonly string[] => childArgs;

// ---------------------------------------------------------------------------------------------------
// Flags and output

export interface Flags {
  readonly quick: boolean;
  readonly json: boolean;
  /**
   * `--only=TEXT[,TEXT…]`: only the configurations whose id contains one of the texts (where the bench
   * takes it).
   */
  readonly only: readonly string[] | undefined;
  /** `--source`: run Latchkey from src/ through tsx instead of a fresh build (where the bench takes it). */
  readonly source: boolean;
}

/**
 * `--quick`, `--json` and, where `withOnly` (the HTTP benches), `--only=TEXT[,TEXT…]` and `--source`;
 * `--help` prints the usage and exits 0.
 */
export function parseFlags(
  bench: 'seal' | 'store' | 'http',
  argv: readonly string[],
  withOnly: boolean,
): Flags {
  let quick = false;
  let json = false;
  let only: string[] | undefined;
  let source = false;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--json') json = true;
    else if (withOnly && arg.startsWith('--only=')) {
      only = arg
        .slice('--only='.length)
        .split(',')
        .filter((text) => text !== '');
    } else if (withOnly && arg === '--source') {
      source = true;
    } else if (arg === '--help' || arg === '-h') {
      const usage = `npm run bench:${bench} -- [--quick] [--json]${withOnly ? ' [--only=TEXT[,TEXT…]] [--source]' : ''}`;
      process.stdout.write(`usage: ${usage}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`bench/${bench}.ts: unknown argument ${JSON.stringify(arg)}\n`);
      process.exit(2);
    }
  }
  return { quick, json, only, source };
}

/** Progress and tables go to stdout, or to stderr under --json (stdout then holds only the JSON). */
export function logger(json: boolean): (line?: string) => void {
  return (line = '') => (json ? process.stderr : process.stdout).write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------------
// Statistics and number formats

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A whole number with thousands separators: `12,345`. */
export const int = (value: number) => Math.round(value).toLocaleString('en-US');
/** A ratio: `1.23×`. */
export const times = (value: number) => `${value.toFixed(2)}×`;

// ---------------------------------------------------------------------------------------------------
// The machine

export interface Machine {
  readonly node: string;
  readonly platform: string;
  readonly cpu: string;
  readonly cores: number;
  readonly date: string;
}

export function machine(): Machine {
  const cpu = cpus();
  return {
    node: process.version,
    platform: `${platform()} ${arch()}`,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    date: new Date().toISOString(),
  };
}

/** The second line of every bench's header. */
export const machineLine = (m: Machine) =>
  `  node ${m.node} on ${m.platform}; ${m.cpu}; ${m.cores} cores; ${m.date}`;

/** The installed version of a package under node_modules, or `?`. */
export function packageVersion(name: string): string {
  try {
    const file = join(ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** `{ name: version }` for each package, and the header line that lists them. */
export function packageVersions(names: readonly string[]): {
  versions: Record<string, string>;
  line: string;
} {
  const versions = Object.fromEntries(names.map((name) => [name, packageVersion(name)]));
  const line = `  ${Object.entries(versions)
    .map(([n, v]) => `${n} ${v}`)
    .join(', ')}`;
  return { versions, line };
}

export interface Ticks {
  readonly busy: number;
  readonly total: number;
}

/** Busy and total jiffies of the whole machine, from /proc/stat; null if unreadable. */
export function machineTicks(): Ticks | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** The machine's busy share (all cores) between two readings, 0–100; null if either is missing. */
export function busyPct(before: Ticks | null, after: Ticks | null): number | null {
  if (!before || !after) return null;
  return (100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total);
}

/**
 * The machine's busy share over one second, before anything of the run starts, logged with a warning
 * above 10%; null where /proc/stat is missing.
 */
export async function backgroundLoad(log: (line: string) => void, cores: number): Promise<number | null> {
  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const quiet = busyPct(before, machineTicks());
  if (quiet !== null) {
    const note = quiet > 10 ? ': something else is running; expect noisy numbers' : ' (quiet)';
    log(`  machine busy before the run: ${Math.round(quiet)}% of ${cores} cores over 1 s${note}`);
  }
  return quiet;
}

/** user + system CPU time of a process in ms, from /proc (Linux); null if unreadable. */
export function processCpuMs(pid: number | null): number | null {
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

// ---------------------------------------------------------------------------------------------------
// Child processes: every one is tracked, and killed by its PID when done or if the runner stops early.

export interface Children {
  /** Set on SIGINT/SIGTERM: no new child may start while the run is being torn down. */
  readonly stopping: boolean;
  /** `node --import tsx <script> <args>` in the repository root (see prepareLatchkey). */
  start(script: string, args: readonly string[], stdin?: 'ignore' | 'pipe'): ChildProcess;
  /** SIGKILL every child still running. */
  killAll(): void;
}

/**
 * The runner's children. On SIGINT or SIGTERM every child is killed, then `onSignal` runs (a cleanup
 * that reports what it did), then the runner exits 130.
 */
export function trackChildren(runner: string, onSignal?: () => Promise<void>): Children {
  const children = new Set<ChildProcess>();
  let stopping = false;
  const killAll = () => {
    for (const child of children) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {}
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopping = true;
      killAll();
      process.stderr.write(`\nbench/${runner}: ${signal}; children killed\n`);
      if (onSignal) void onSignal().then(() => process.exit(130));
      else process.exit(130);
    });
  }
  return {
    get stopping() {
      return stopping;
    },
    start(script, args, stdin = 'ignore') {
      if (stopping) throw new Error('interrupted');
      const child = spawn(process.execPath, [...childArgs, script, ...args], {
        cwd: ROOT,
        stdio: [stdin, 'pipe', 'pipe'],
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    killAll,
  };
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM by PID, then SIGKILL if it is still there after 3 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
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

/** Keep the last `limit` characters a stream wrote (a server's stderr, for a failure report). */
export function tail(stream: NodeJS.ReadableStream | null, limit = 4000): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

export interface RunningServer {
  readonly child: ChildProcess;
  readonly base: string;
  readonly stderr: () => string;
}

/** Start a bench server and wait until it prints `ready <port>`. Error messages start with `prefix`. */
export async function startServer(
  children: Children,
  script: string,
  args: readonly string[],
  prefix = '',
): Promise<RunningServer> {
  const child = children.start(script, args);
  const stderr = tail(child.stderr);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${prefix}server not ready after 30 s`)), 30_000);
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
      reject(new Error(`${prefix}server exited (${signal ?? code}) before ready:\n${stderr().trim()}`));
    });
  });
  return { child, base: `http://127.0.0.1:${port}`, stderr };
}

export interface LoadChild<Input, Result> {
  /** Hand the input over (on stdin) and wait for the result. */
  run(input: Input): Promise<Result>;
  stop(): Promise<void>;
}

/** Start a load generator; it waits on stdin for its input and prints its result as a JSON line. */
export function startLoad<Input extends { warmupSec: number; durationSec: number }, Result>(
  children: Children,
  script: string,
): LoadChild<Input, Result> {
  const child = children.start(script, [], 'pipe');
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
      return JSON.parse(line) as Result;
    },
    stop: () => stopChild(child),
  };
}

/**
 * One measured run's processes: the load generator first, so its start-up (tsx, autocannon) overlaps
 * the server's, then the server; `body` drives them; both are stopped afterwards, whatever happened.
 */
export async function withLoadAndServer<Input, Result, T>(
  load: () => LoadChild<Input, Result>,
  server: () => Promise<RunningServer>,
  body: (loader: LoadChild<Input, Result>, server: RunningServer) => Promise<T>,
): Promise<T> {
  const loader = load();
  let running: RunningServer;
  try {
    running = await server();
  } catch (error) {
    await loader.stop();
    throw error;
  }
  try {
    return await body(loader, running);
  } finally {
    await loader.stop();
    await stopChild(running.child);
  }
}

/** `name=value; name2=value2` from a response's Set-Cookie lines. */
export function cookieOf(setCookie: readonly string[]): string {
  return setCookie.map((line) => line.split(';')[0]!.trim()).join('; ');
}

// ---------------------------------------------------------------------------------------------------
// Rounds and their results

/** The selected configurations in `runOrder`'s order. */
export function inRunOrder<C extends { readonly id: string }>(
  runOrder: readonly string[],
  selected: readonly C[],
) {
  return runOrder.map((id) => selected.find((c) => c.id === id)).filter((c) => c !== undefined);
}

/** Odd rounds run in order, even rounds in reverse, so slow drift of the machine lands on both ends alike. */
export const roundOrder = <C>(order: readonly C[], round: number): readonly C[] =>
  round % 2 ? order : [...order].reverse();

/** The input of both load generators, as JSON on stdin. */
export interface LoadInputBase {
  readonly url: string;
  /** One `name=value` Cookie header per connection: connection i sends cookies[i] on every request. */
  readonly cookies: readonly string[];
  readonly warmupSec: number;
  readonly durationSec: number;
  /** The server's PID, for its CPU time over the measured phase (Linux /proc; null elsewhere). */
  readonly serverPid: number;
}

/** What both load generators print, as one JSON line on stdout. */
export interface LoadResultBase {
  /** Requests per second in the measured phase (each load generator says how it counts them). */
  readonly reqPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly durationSec: number;
  /** Completed 2xx responses in the measured phase. */
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** CPU time (user + system) over the measured phase, in ms; null when not measurable here. */
  readonly serverCpuMs: number | null;
  readonly loadCpuMs: number;
  /** The whole machine's busy share over the measured phase (all cores, /proc/stat), 0–100. */
  readonly machineBusyPct: number | null;
}

export interface Run<L extends LoadResultBase = LoadResultBase> {
  readonly round: number;
  readonly load: L;
}

export const errorCount = (l: LoadResultBase) => l.non2xx + l.errors + l.timeouts;

/** The median over runs of the server's CPU time per response, in µs; undefined when never measured. */
export function serverCpuUsPerReq(runs: readonly Run[]): number | undefined {
  const cpu = runs.filter((r) => r.load.serverCpuMs !== null);
  return cpu.length
    ? median(cpu.map((r) => (r.load.serverCpuMs! * 1000) / Math.max(1, r.load.ok + r.load.non2xx)))
    : undefined;
}

/** req/s of `a` ÷ req/s of `b` in each round both ran (both sides timed moments apart). */
export function perRoundRatios(a: readonly Run[], b: readonly Run[]): number[] {
  return a.flatMap((r) => {
    const other = b.find((x) => x.round === r.round);
    return other ? [r.load.reqPerSec / other.load.reqPerSec] : [];
  });
}

/** Every round's figure in brackets, `(a / b / c)`, or nothing for a single round. */
export const roundsOf = <R>(runs: readonly R[], pick: (run: R) => string) =>
  runs.length > 1 ? `(${runs.map(pick).join(' / ')})` : '';

// ---------------------------------------------------------------------------------------------------
// The load generators' side: input on stdin, autocannon

/** All of stdin, as text. */
export async function readStdin(): Promise<string> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

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
export interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  latency: { p50: number; p99: number; average: number };
  requests: { average: number; total: number };
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

let autocannon: Autocannon | undefined;

/**
 * One autocannon run against `url`: one keep-alive connection per cookie (connection i sends
 * cookies[i], with `headers`, on every request), no pipelining. `onResponse` sees every response time.
 */
export function autocannonRun(
  url: string,
  cookies: readonly string[],
  durationSec: number,
  headers: Record<string, string>,
  onResponse: (responseTimeMs: number) => void,
): Promise<AutocannonResult> {
  autocannon ??= createRequire(import.meta.url)('autocannon') as Autocannon;
  let next = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon!(
      {
        url,
        connections: cookies.length,
        duration: durationSec,
        pipelining: 1,
        timeout: 10,
        headers: { ...headers },
        // Called once per connection, in order: connection i sends cookie i for the whole run.
        setupClient: (client) => client.setHeaders({ ...headers, cookie: cookies[next++ % cookies.length]! }),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on('response', (_client, _status, _bytes, ms) => onResponse(ms));
  });
}
