/**
 * Instructions per warm request under valgrind's callgrind: the server process only, every thread, JIT
 * code included (callgrind counts every instruction the guest runs). Informational: nothing here fails.
 *
 *   npm run bench:instr                         # the essential configurations (issue 15's three paths, lk-express-legacy)
 *   npm run bench:instr -- --all                # every configuration of bench:http and bench:store
 *   npm run bench:instr -- --only=lk-express    # only these (exact ids, else substrings), with the framework
 *   npm run bench:instr -- --only=lk-express --no-baseline   # without the framework row (before/after runs)
 *   npm run bench:instr -- --warm=800 --requests=200 --windows=3 --spread=lk-express --runs=3 --json --source
 *
 * Each configuration runs its own bench server (bench/http-server.ts or bench/store-server.ts) under
 * `valgrind --tool=callgrind --instr-atstart=no`; this process is the client (plain node:http, one
 * keep-alive connection, a browser-like cookie jar) and stays outside valgrind. Warm-up requests run
 * with instrumentation off, then `callgrind_control -i on`, a full GC in the server (SIGUSR2, see
 * PRELOAD), then `--windows` counted windows (each: `--zero`, `--requests` requests, `--dump`). The figure
 * of a process is its median window's instructions excluding V8's compilers (see RunResult); tables,
 * overheads and ratios use it. Every request is `GET /`: the handler reads the counter in the session,
 * adds one and writes it back; the runner checks every answer is one more.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createClient } from 'redis';
import {
  int,
  logger,
  machine,
  machineLine,
  median,
  nodeArgs,
  prepareLatchkey,
  ROOT,
  times,
} from './common.ts';
import {
  ESSENTIAL,
  GROUPS,
  type Group,
  INSTR_CONFIGS,
  type InstrConfig,
  MINIMAL_TARGET,
  SPREAD_DEFAULT,
} from './instr-configs.ts';
import { isJsFunction, medianWindow, type Profile, parseDump, parsePerfMap } from './instr-profile.ts';
import { FORWARDED, PG, REDIS_URL, type ServerOptions } from './store-configs.ts';

// ---------------------------------------------------------------------------------------------------
// Flags

interface Options {
  all: boolean;
  only: string[] | undefined;
  /** `--no-baseline`: with --only, leave out the framework rows that --only otherwise adds. */
  baseline: boolean;
  warm: number;
  requests: number;
  /** `--windows=N`: counted windows per process, each its own dump (see RunResult). */
  windows: number;
  json: boolean;
  source: boolean;
  spread: string | undefined;
  runs: number;
  top: number;
  /** `--svg=FILE`: write a bar chart of the table (no dependencies). */
  svg: string | undefined;
  /** `--keep=DIR`: copy every counted dump there (for callgrind_annotate), with the perf map. */
  keep: string | undefined;
  /** `--v8=FLAG[,FLAG…]`: more V8 flags for the servers (after V8_FLAGS), for experiments. */
  v8: string[];
}

/** Where node's --perf-basic-prof writes a process's map of JIT code: the system temporary directory. */
const perfMapOf = (pid: number | undefined) => join(tmpdir(), `perf-${pid}.map`);

function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    all: false,
    only: undefined,
    baseline: true,
    warm: 800,
    requests: 200,
    windows: 3,
    json: false,
    source: false,
    spread: SPREAD_DEFAULT,
    runs: 3,
    top: 12,
    svg: undefined,
    keep: undefined,
    v8: [],
  };
  const usage =
    'usage: npm run bench:instr -- [--all] [--only=ID[,ID…]] [--no-baseline] [--warm=N] [--requests=N] [--windows=N] [--spread=ID|none] ' +
    '[--runs=N] [--top=N] [--svg=FILE] [--keep=DIR] [--v8=FLAG,…] [--json] [--source]\n';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? '';
    const count = () => {
      const n = Number(value());
      if (!Number.isSafeInteger(n) || n < 0) {
        process.stderr.write(`bench/instr.ts: ${name} needs a whole number\n${usage}`);
        process.exit(2);
      }
      return n;
    };
    if (name === '--all') o.all = true;
    else if (name === '--json') o.json = true;
    else if (name === '--source') o.source = true;
    else if (name === '--no-baseline') o.baseline = false;
    else if (name === '--only')
      o.only = value()
        .split(',')
        .filter((t) => t !== '');
    else if (name === '--warm') o.warm = count();
    else if (name === '--requests') o.requests = Math.max(1, count());
    else if (name === '--runs') o.runs = Math.max(1, count());
    else if (name === '--windows') o.windows = Math.max(1, count());
    else if (name === '--top') o.top = count();
    else if (name === '--svg') o.svg = value();
    else if (name === '--keep') o.keep = value();
    else if (name === '--v8')
      o.v8 = value()
        .split(',')
        .filter((t) => t !== '');
    else if (name === '--spread') {
      const id = value();
      o.spread = id === 'none' ? undefined : id;
    } else if (name === '--help' || name === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    } else {
      process.stderr.write(`bench/instr.ts: unknown argument ${JSON.stringify(arg)}\n${usage}`);
      process.exit(2);
    }
  }
  return o;
}

const options = parseOptions(process.argv.slice(2));
const log = logger(options.json);

// ---------------------------------------------------------------------------------------------------
// The server under valgrind

/**
 * V8 flags of the server under callgrind. `--single-threaded`: compilation and GC on the main thread,
 * where valgrind's serialised threads make background work land at random points; the same code runs.
 * `--no-memory-reducer`: no GC triggered by idleness (the pauses between phases). `--perf-basic-prof`
 * and `--interpreted-frames-native-stack`: a map of JIT code to JS function names, for the top functions.
 * `--expose-gc`: the full GC before counting (PRELOAD).
 */
const V8_FLAGS = [
  '--single-threaded',
  '--no-memory-reducer',
  '--perf-basic-prof',
  '--interpreted-frames-native-stack',
  '--expose-gc',
];
/** In the server: SIGUSR2 runs a full GC and says so, so every count starts from a collected heap. */
const PRELOAD = `data:text/javascript,${encodeURIComponent(
  "process.on('SIGUSR2', () => { globalThis.gc(); process.stdout.write('gc done\\n'); });",
)}`;

const RUN_ID = randomBytes(4).toString('hex');
const RUN_PREFIX = `lkinstr:${RUN_ID}:`;
const PG_TABLE = `lkinstr_${RUN_ID}`;
const TMP = mkdtempSync(join(tmpdir(), 'lk-instr-'));

const children = new Set<ChildProcess>();
function killChildren(): void {
  for (const child of children) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {}
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killChildren();
    process.stderr.write(`\nbench/instr.ts: ${signal}; servers killed\n`);
    process.exit(130);
  });
}

interface Server {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Resolves at the next line of stdout matching `pattern`. */
  waitFor(pattern: RegExp, ms: number): Promise<void>;
  stderr(): string;
}

function startServer(config: InstrConfig, run: number): Promise<Server> {
  const script = join(ROOT, 'bench', config.bench === 'http' ? 'http-server.ts' : 'store-server.ts');
  const serverOptions: ServerOptions = {
    redisPrefix: `${RUN_PREFIX}${config.id}:${run}:`,
    pgTable: PG_TABLE,
    fsDir: join(TMP, `${config.id}-${run}`),
    // Under valgrind a request can take far more than the store's default 1 s (a 503 would end the run).
    storeTimeout: 60_000,
  };
  const args = config.bench === 'http' ? [config.id] : [config.id, JSON.stringify(serverOptions)];
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--compress-strings=no',
      `--callgrind-out-file=${join(TMP, 'cg.%p')}`,
      process.execPath,
      ...V8_FLAGS,
      ...options.v8,
      '--import',
      PRELOAD,
      ...nodeArgs(),
      script,
      ...args,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let err = '';
  const waiters: Array<{ pattern: RegExp; from: number; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    err = (err + chunk).slice(-4000);
  });
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    for (const w of [...waiters]) {
      if (w.pattern.test(out.slice(w.from))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const waitFor = (pattern: RegExp, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TypeError(`server: no ${pattern} after ${ms / 1000} s`)), ms);
      waiters.push({
        pattern,
        from: out.length,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      child.once('exit', () => reject(new TypeError(`server exited:\n${err.trim()}`)));
    });
  return waitFor(/^ready \d+$/m, 600_000).then(() => ({
    child,
    pid: child.pid!,
    port: Number(/^ready (\d+)$/m.exec(out)![1]),
    waitFor,
    stderr: () => err,
  }));
}

async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  try {
    process.kill(server.pid, 'SIGTERM');
  } catch {}
  const timer = setTimeout(() => {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {}
  }, 20_000);
  await exited;
  clearTimeout(timer);
}

function callgrindControl(command: readonly string[], pid: number): void {
  const result = spawnSync('callgrind_control', [...command, String(pid)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new TypeError(`callgrind_control ${command.join(' ')} failed: ${result.stderr}${result.stdout}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// The client: one keep-alive connection, a cookie jar

/** A cookie of about a session cookie's size for the configurations without a session (nothing reads it). */
const PLAIN_COOKIE = `sid=${randomBytes(96).toString('base64url')}`;

class Client {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private readonly jar = new Map<string, string>();
  private last: number | undefined;
  constructor(
    private readonly port: number,
    private readonly config: InstrConfig,
  ) {
    if (!config.session) this.jar.set('sid', PLAIN_COOKIE.slice(4));
  }

  /** One `GET /`; throws unless it answers 200 with a counter one above the last. */
  request(): Promise<void> {
    const cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const headers: Record<string, string> = {
      ...(this.config.bench === 'store' ? FORWARDED : {}),
      ...(cookie ? { cookie } : {}),
    };
    return new Promise((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: this.port, path: '/', agent: this.agent, headers },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => {
            for (const line of res.headers['set-cookie'] ?? []) this.store(line);
            const n = Number(body.startsWith('{') ? (JSON.parse(body) as { n: number }).n : body);
            if (
              res.statusCode !== 200 ||
              !Number.isSafeInteger(n) ||
              (this.last !== undefined && n !== this.last + 1)
            ) {
              reject(
                new TypeError(`answer HTTP ${res.statusCode} ${body.slice(0, 80)} after n = ${this.last}`),
              );
              return;
            }
            this.last = n;
            resolve();
          });
        },
      );
      req.on('error', reject);
    });
  }

  async requests(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      // The server closes an idle keep-alive connection after 5 s (the pauses between phases under
      // valgrind are longer): a request on a socket it closed is sent again on a new connection. The
      // counter check still holds: a request the server handled twice would answer two more.
      await this.request().catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET') throw error;
        return this.request();
      });
    }
  }

  private store(line: string): void {
    const pair = line.split(';')[0]!;
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (/;\s*max-age=0/i.test(line) || value === '') this.jar.delete(name);
    else this.jar.set(name, value);
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------------
// One measured run

interface TopFunction {
  readonly name: string;
  readonly inclusivePerRequest: number;
  readonly selfPerRequest: number;
}

/** One counted window of `--requests` requests. */
interface WindowResult {
  /** Every instruction counted, per request. */
  readonly irPerRequest: number;
  /** Of which V8's compilers (JIT tier-up still going on in the window). */
  readonly compilePerRequest: number;
}

interface RunResult {
  /**
   * The figure the tables compare: instructions per request excluding JIT compilation, in the median
   * window (by that figure) of this process. Compilation is a warm-up cost that comes in lumps of
   * millions of instructions long after the code is warm; it is left out. Two things make single
   * windows stray: the compile figure is inclusive, so a GC that a compilation triggers counts as
   * compile and that window comes out low; and the window after a deoptimisation wave runs code not yet
   * optimised again, with its inline caches refilling, and comes out high. The median takes neither.
   */
  readonly netPerRequest: number;
  /** Every instruction counted, compilation included, per request over all the windows. */
  readonly irPerRequest: number;
  /** Of which V8's compilers, over all the windows. */
  readonly compilePerRequest: number;
  /** Every window, in order. */
  readonly windows: readonly WindowResult[];
  readonly requests: number;
  readonly seconds: number;
  /** Share of the instructions in JIT code the perf map named. */
  readonly namedJitShare: number;
  readonly topInclusive: readonly TopFunction[];
  readonly topSelf: readonly TopFunction[];
}

async function runOne(config: InstrConfig, run: number, keepTop: boolean): Promise<RunResult> {
  const started = performance.now();
  const server = await startServer(config, run);
  const client = new Client(server.port, config);
  try {
    await client.requests(options.warm);
    callgrindControl(['-i', 'on'], server.pid);
    await client.requests(20);
    const gc = server.waitFor(/^gc done$/m, 120_000);
    process.kill(server.pid, 'SIGUSR2');
    await gc;
    const dumps: string[] = [];
    for (let w = 0; w < options.windows; w++) {
      callgrindControl(['--zero'], server.pid);
      await client.requests(options.requests);
      const before = new Set(readdirSync(TMP));
      callgrindControl(['--dump'], server.pid);
      const dumpName = readdirSync(TMP).find((f) => !before.has(f) && f.startsWith(`cg.${server.pid}.`));
      if (dumpName === undefined) throw new TypeError('callgrind wrote no dump');
      dumps.push(join(TMP, dumpName));
    }
    client.close();
    await stopServer(server);
    const mapFile = perfMapOf(server.pid);
    let mapText = '';
    try {
      mapText = readFileSync(mapFile, 'utf8');
      rmSync(mapFile, { force: true });
    } catch {}
    // The map is read after the last window, so JIT code of every window is named (later lines win).
    const perf = mapText ? parsePerfMap(mapText, ROOT) : undefined;
    if (options.keep !== undefined) {
      mkdirSync(options.keep, { recursive: true });
      const stem = join(options.keep, `${config.id}-${run}`);
      if (mapText) writeFileSync(`${stem}.perf.map`, mapText);
      for (const [w, file] of dumps.entries()) copyFileSync(file, `${stem}.w${w + 1}.callgrind`);
    }
    const profiles = dumps.map((file) => {
      const profile = parseDump(readFileSync(file, 'utf8'), perf);
      rmSync(file, { force: true });
      return profile;
    });
    return summarize(profiles, keepTop, (performance.now() - started) / 1000);
  } finally {
    client.close();
    await stopServer(server);
    rmSync(perfMapOf(server.pid), { force: true });
    for (const f of readdirSync(TMP))
      if (f.startsWith(`cg.${server.pid}`)) rmSync(join(TMP, f), { force: true });
  }
}

function summarize(profiles: readonly Profile[], keepTop: boolean, seconds: number): RunResult {
  const per = (v: number) => v / options.requests;
  // The figure: the median window's, net of compilation (see RunResult); its functions are the ones listed.
  const profile = medianWindow(profiles);
  const net = (p: Profile) => p.total - p.compile;
  const fn = (f: Profile['functions'][number]) => ({
    name: f.name,
    inclusivePerRequest: per(f.inclusive),
    selfPerRequest: per(f.self),
  });
  const js = profile.functions.filter((f) => isJsFunction(f.name));
  return {
    netPerRequest: per(net(profile)),
    // Over every window, so that these two compare between processes whichever window is the median.
    irPerRequest: profiles.reduce((sum, p) => sum + per(p.total), 0) / profiles.length,
    compilePerRequest: profiles.reduce((sum, p) => sum + per(p.compile), 0) / profiles.length,
    windows: profiles.map((p) => ({ irPerRequest: per(p.total), compilePerRequest: per(p.compile) })),
    requests: options.requests,
    seconds,
    namedJitShare: profile.namedJit / Math.max(1, profile.namedJit + profile.unnamedJit),
    topInclusive: keepTop
      ? [...js]
          .sort((a, b) => b.inclusive - a.inclusive)
          .slice(0, options.top)
          .map(fn)
      : [],
    topSelf: keepTop
      ? [...profile.functions]
          .sort((a, b) => b.self - a.self)
          .slice(0, options.top)
          .map(fn)
      : [],
  };
}

// ---------------------------------------------------------------------------------------------------
// Stores: what the store servers wrote, removed at the end

async function cleanupStores(): Promise<string> {
  const done: string[] = [];
  try {
    const client = createClient({
      url: REDIS_URL,
      socket: { connectTimeout: 2000, reconnectStrategy: false },
    });
    client.on('error', () => {});
    await client.connect();
    let deleted = 0;
    for await (const keys of client.scanIterator({ MATCH: `${RUN_PREFIX}*`, COUNT: 1000 })) {
      if (keys.length > 0) deleted += await client.unlink(keys);
    }
    await client.close();
    done.push(`${deleted} Redis keys deleted`);
  } catch (error) {
    done.push(`Redis cleanup skipped (${(error as Error).message})`);
  }
  try {
    const pool = new pg.Pool({ ...PG, max: 1, connectionTimeoutMillis: 2000 });
    pool.on('error', () => {});
    await pool.query(`DROP TABLE IF EXISTS "${PG_TABLE}"`);
    await pool.end();
    done.push(`table ${PG_TABLE} dropped`);
  } catch (error) {
    done.push(`PostgreSQL cleanup skipped (${(error as Error).message})`);
  }
  rmSync(TMP, { recursive: true, force: true });
  return done.join('; ');
}

// ---------------------------------------------------------------------------------------------------
// Results

interface ConfigResult {
  readonly id: string;
  readonly label: string;
  readonly status: 'ok' | 'failed';
  readonly note: string | undefined;
  readonly runs: RunResult[];
  /** The median over runs of netPerRequest (instructions excluding JIT compile): what the tables compare. */
  readonly netPerRequest: number | undefined;
  /** The median over runs of irPerRequest (everything counted). */
  readonly irPerRequest: number | undefined;
}

const k = (v: number | undefined) => (v === undefined ? '–' : `${int(v / 1000)}k`);

interface GroupRow {
  readonly id: string;
  readonly label: string;
  readonly role: string;
  /** Instructions per request excluding JIT compile: the base of the overheads and ratios. */
  readonly netPerRequest: number;
  readonly irPerRequest: number;
  readonly compilePerRequest: number;
  readonly overhead: number | undefined;
  readonly overheadVsMinimal: number | undefined;
  readonly vsPeer: number | undefined;
}

function groupRows(group: Group, results: ReadonlyMap<string, ConfigResult>): GroupRow[] {
  const ir = (id: string | undefined) => (id === undefined ? undefined : results.get(id)?.netPerRequest);
  const base = ir(group.framework);
  const minimal = ir(group.minimal);
  const peer = ir(group.peer);
  const minimalOverhead = base !== undefined && minimal !== undefined ? minimal - base : undefined;
  const roles: Array<[string | undefined, string]> = [
    [group.framework, 'framework alone'],
    [group.minimal, 'minimal (only the musts)'],
    [group.peer, 'peer'],
    ...group.latchkey.map((id) => [id, 'Latchkey'] as [string, string]),
    ...group.others.map((id) => [id, 'other'] as [string, string]),
  ];
  return roles.flatMap(([id, role]) => {
    const result = id === undefined ? undefined : results.get(id);
    if (result?.netPerRequest === undefined || result.irPerRequest === undefined) return [];
    const overhead = base === undefined ? undefined : result.netPerRequest - base;
    return [
      {
        id: result.id,
        label: result.label,
        role,
        netPerRequest: result.netPerRequest,
        irPerRequest: result.irPerRequest,
        compilePerRequest: median(result.runs.map((r) => r.compilePerRequest)),
        overhead,
        overheadVsMinimal:
          overhead !== undefined && minimalOverhead !== undefined && minimalOverhead > 0
            ? overhead / minimalOverhead
            : undefined,
        vsPeer: peer === undefined ? undefined : result.netPerRequest / peer,
      },
    ];
  });
}

function markdownTable(groups: ReadonlyArray<{ group: Group; rows: GroupRow[] }>): string {
  const lines = [
    "| path | configuration | role | instructions / request, excluding JIT compile | all counted | of which JIT compile | overhead over the framework | overhead ÷ minimal's | ÷ peer |",
    '|---|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { group, rows } of groups) {
    for (const r of rows) {
      lines.push(
        `| ${group.label} | ${r.label} (\`${r.id}\`) | ${r.role} | ${k(r.netPerRequest)} | ${k(r.irPerRequest)} | ${k(r.compilePerRequest)} | ` +
          `${r.role === 'framework alone' ? '–' : k(r.overhead)} | ${r.overheadVsMinimal === undefined || r.role === 'framework alone' ? '–' : times(r.overheadVsMinimal)} | ` +
          `${r.vsPeer === undefined ? '–' : times(r.vsPeer)} |`,
      );
    }
  }
  return lines.join('\n');
}

const COLOURS: Record<string, string> = {
  'framework alone': '#9aa5b1',
  'minimal (only the musts)': '#4c9f70',
  peer: '#d08c3f',
  Latchkey: '#3b6fb6',
  other: '#b8b8d0',
};
const escapeXml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** A horizontal bar chart of every group's rows, instructions per request; plain SVG, no dependencies. */
function svgChart(groups: ReadonlyArray<{ group: Group; rows: GroupRow[] }>, caption: string): string {
  const max = Math.max(...groups.flatMap((g) => g.rows.map((r) => r.netPerRequest)), 1);
  const labelWidth = 360;
  const barWidth = 440;
  const rowHeight = 20;
  const parts: string[] = [];
  let y = 30;
  for (const { group, rows } of groups) {
    y += 10;
    parts.push(`<text x="8" y="${y + 12}" font-weight="bold">${escapeXml(group.label)}</text>`);
    y += rowHeight;
    for (const r of rows) {
      const w = Math.max(1, Math.round((barWidth * r.netPerRequest) / max));
      parts.push(
        `<text x="${labelWidth - 6}" y="${y + 14}" text-anchor="end">${escapeXml(r.id)} (${escapeXml(r.role)})</text>`,
        `<rect x="${labelWidth}" y="${y + 3}" width="${w}" height="${rowHeight - 6}" fill="${COLOURS[r.role] ?? '#888'}"/>`,
        `<text x="${labelWidth + w + 6}" y="${y + 14}">${k(r.netPerRequest)}</text>`,
      );
      y += rowHeight;
    }
  }
  const height = y + 20;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barWidth + 80}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">\n<title>${escapeXml(caption)}</title>\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n` +
    `<text x="8" y="18" font-size="13">${escapeXml(caption)}</text>\n${parts.join('\n')}\n</svg>\n`
  );
}

// ---------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const env = machine();
  log('Latchkey instruction-count benchmark: callgrind, server process only (bench/instr.ts)');
  log(machineLine(env));
  prepareLatchkey(options.source, log);
  const wanted = (id: string) =>
    options.only !== undefined
      ? options.only.some((t) => id === t || (!INSTR_CONFIGS.some((c) => c.id === t) && id.includes(t)))
      : options.all || ESSENTIAL.includes(id);
  const picked = new Set(INSTR_CONFIGS.filter((c) => wanted(c.id)).map((c) => c.id));
  // The framework baseline of every picked configuration, so its overhead can be given.
  for (const g of options.baseline ? GROUPS : []) {
    if (
      [...picked].some(
        (id) => g.latchkey.includes(id) || g.minimal === id || g.peer === id || g.others.includes(id),
      )
    )
      picked.add(g.framework);
  }
  const selected = INSTR_CONFIGS.filter((c) => picked.has(c.id));
  const spreadId = options.spread !== undefined && picked.has(options.spread) ? options.spread : undefined;
  log(
    `  ${selected.length} configuration(s); each: its own server under callgrind, ${options.warm} warm-up requests ` +
      `(instrumentation off), 20 more (on), a full GC, then ${options.requests} counted requests` +
      `${spreadId ? `; ${spreadId} ${options.runs}× for the run-to-run spread` : ''}`,
  );
  const results = new Map<string, ConfigResult>();
  for (const config of selected) {
    const runs: RunResult[] = [];
    let note: string | undefined;
    const count = config.id === spreadId ? options.runs : 1;
    for (let run = 1; run <= count; run++) {
      try {
        const r = await runOne(config, run, run === 1);
        runs.push(r);
        log(
          `  ${config.label.padEnd(48)}${k(r.netPerRequest).padStart(8)} instr/req excluding JIT compile ` +
            `(windows: ${r.windows.map((w) => `${k(w.irPerRequest)} − ${k(w.compilePerRequest)}`).join(', ')}; ${r.seconds.toFixed(0)} s)`,
        );
      } catch (error) {
        note = error instanceof Error ? error.message : String(error);
        log(`  ${config.label.padEnd(48)}FAILED: ${note.split('\n')[0]}`);
        break;
      }
    }
    results.set(config.id, {
      id: config.id,
      label: config.label,
      status: note === undefined ? 'ok' : 'failed',
      note,
      runs,
      netPerRequest: note === undefined && runs.length ? median(runs.map((r) => r.netPerRequest)) : undefined,
      irPerRequest: note === undefined && runs.length ? median(runs.map((r) => r.irPerRequest)) : undefined,
    });
  }
  log(`\ncleanup: ${await cleanupStores()}`);

  const groups = GROUPS.map((group) => ({ group, rows: groupRows(group, results) })).filter(
    (g) => g.rows.length > 0,
  );
  log(
    '\nInstructions per warm request (callgrind Ir, server process, all threads; k = 1,000), excluding JIT ' +
      `compile, the median of ${options.windows} window(s) of ${options.requests} requests per process; overheads and ratios on that figure:\n`,
  );
  log(markdownTable(groups));

  const targets = groups.flatMap(({ group, rows }) => {
    const lk = rows.find((r) => r.role === 'Latchkey');
    if (lk === undefined) return [];
    const out = [];
    if (lk.overheadVsMinimal !== undefined)
      out.push({
        label: `${group.label}: Latchkey's overhead ≤ ${MINIMAL_TARGET}× the minimal's`,
        value: lk.overheadVsMinimal,
        threshold: MINIMAL_TARGET,
        pass: lk.overheadVsMinimal <= MINIMAL_TARGET,
      });
    if (lk.vsPeer !== undefined && group.peerTarget !== undefined)
      out.push({
        label: `${group.label}: Latchkey ≤ ${group.peerTarget}× the peer's instructions`,
        value: lk.vsPeer,
        threshold: group.peerTarget,
        pass: lk.vsPeer <= group.peerTarget,
      });
    return out;
  });
  log('\nTargets (issue 15; informational):');
  for (const t of targets) log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.label}: ${times(t.value)}`);

  const spread = spreadId === undefined ? undefined : results.get(spreadId);
  if (spread && spread.runs.length > 1) {
    const spreadOf = (values: number[]) =>
      `${values.map(k).join(' / ')} (max − min = ${((100 * (Math.max(...values) - Math.min(...values))) / median(values)).toFixed(1)}% of the median)`;
    log(
      `\nRun-to-run spread, ${spread.id}, ${spread.runs.length} processes: excluding JIT compile ` +
        `${spreadOf(spread.runs.map((r) => r.netPerRequest))}; all counted ${spreadOf(spread.runs.map((r) => r.irPerRequest))}`,
    );
  }

  for (const r of results.values()) {
    if (!groups.some((g) => g.rows.some((row) => row.id === r.id && row.role === 'Latchkey'))) continue;
    const first = r.runs[0];
    if (!first) continue;
    log(
      `\nTop JS functions by inclusive instructions per request, ${r.id} (JIT code named: ${(100 * first.namedJitShare).toFixed(0)}%):`,
    );
    for (const f of first.topInclusive)
      log(`  ${k(f.inclusivePerRequest).padStart(7)}  ${f.name.slice(0, 150)}`);
    log(`Top functions by self instructions per request, ${r.id}:`);
    for (const f of first.topSelf) log(`  ${k(f.selfPerRequest).padStart(7)}  ${f.name.slice(0, 150)}`);
  }

  if (options.svg !== undefined) {
    const caption = `Instructions per warm request (callgrind, server process), node ${env.node}, ${env.cores} cores, ${env.date.slice(0, 10)}`;
    writeFileSync(options.svg, svgChart(groups, caption));
    log(`\nchart written: ${options.svg}`);
  }

  if (options.json) {
    const output = {
      env,
      method: {
        warm: options.warm,
        requests: options.requests,
        windows: options.windows,
        figure:
          'netPerRequest: instructions per request excluding JIT compile, in the median counted window of a process',
        v8Flags: [...V8_FLAGS, ...options.v8],
        source: options.source,
      },
      results: [...results.values()],
      groups: groups.map(({ group, rows }) => ({ id: group.id, label: group.label, rows })),
      targets,
    };
    process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  }
}

try {
  await main();
} finally {
  killChildren();
}
