/**
 * Store-mode throughput: Latchkey on Redis, PostgreSQL and the fs store, behind node:http and Express,
 * against express-session + connect-redis on the same Redis and Express, in one run; every request reads
 * and increments a counter in its session, so every request is a store read and a store write. Also shows,
 * in this process and at the wire, that an unmodified request is one store read and no write.
 * Informational only: nothing here fails a build, and a missed target exits 0.
 *
 *   npm run bench:store              # 3 interleaved rounds of 1.5 s warm-up + 4 s per configuration, ~3 min
 *   npm run bench:store -- --quick   # 1 round of 1 s + 2 s: a smoke run, not numbers to quote
 *   npm run bench:store -- --json    # the same measurements as JSON on stdout
 *   npm run bench:store -- --only=lk-redis-express   # only these configurations, with the baseline
 *   npm run bench:store -- --source  # Latchkey from src/ through tsx instead of a fresh dist/ build
 *   npm run bench:store -- --sessions 1000,1000000   # cost per request against the number of stored sessions
 *
 * Each configuration runs bench/store-server.ts in a child process and drives it from another child
 * process (bench/store-load.ts, autocannon). Needs Redis at 127.0.0.1:6379 and PostgreSQL at
 * 127.0.0.1:5432 (database `test`, user `postgres`); a configuration whose backend is down is skipped.
 * See bench/README.md for the method and how to read the output.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient } from 'redis';
import { createSessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { fsStore } from '../src/stores/fs.ts';
import { postgresStore } from '../src/stores/postgres.ts';
import { redisStore } from '../src/stores/redis.ts';
import type { SessionStore } from '../src/stores/types.ts';
import {
  backgroundLoad,
  cookieOf,
  errorCount,
  inRunOrder,
  int,
  logger,
  machine,
  machineLine,
  median,
  packageVersions,
  parseFlags,
  perRoundRatios,
  prepareLatchkey,
  type RunningServer,
  roundOrder,
  roundsOf,
  serverCpuUsPerReq,
  startLoad,
  startServer,
  stopChild,
  times,
  trackChildren,
  withLoadAndServer,
} from './common.ts';
import {
  BASELINE_ID,
  type BenchConfig,
  CEILING_IDS,
  CONFIGS,
  FORWARDED,
  type LoadInput,
  type LoadResult,
  MUSTS_ID,
  PG,
  REDIS_URL,
  RUN_ORDER,
  type ServerOptions,
  type StoreKind,
  TARGET_ID,
  TARGET_RATIO,
} from './store-configs.ts';

// `--sessions N,M`: the scale bench (bench/store-scale.ts), how the cost per request changes with the
// number of stored sessions.
if (process.argv.some((arg) => arg === '--sessions' || arg.startsWith('--sessions='))) {
  await import('./store-scale.ts');
  process.exit(0);
}

const flags = parseFlags('store', process.argv.slice(2), true);
/** `only`: the configurations whose id contains this text (e.g. `redis-express`); the baseline always runs. */
const options = flags.quick
  ? { ...flags, rounds: 1, warmupSec: 1, durationSec: 2, sessions: 50 }
  : { ...flags, rounds: 3, warmupSec: 1.5, durationSec: 4, sessions: 50 };
const log = logger(options.json);

const SERVER = fileURLToPath(new URL('./store-server.ts', import.meta.url));
const LOAD = fileURLToPath(new URL('./store-load.ts', import.meta.url));

// Names for this run only, removed at the end: Redis keys under RUN_PREFIX, one table, one temp directory.
const RUN_ID = randomBytes(4).toString('hex');
const RUN_PREFIX = `lkbench:${RUN_ID}:`;
const PG_TABLE = `lkbench_${RUN_ID}`;

/** Set once there is something to clean up: what an interrupted run still removes before it exits. */
let cleanupOnSignal: (() => Promise<string>) | undefined;

const children = trackChildren('store.ts', async () => {
  const timeout = new Promise<string>((resolve) =>
    setTimeout(
      () => resolve(`cleanup timed out: Redis keys ${RUN_PREFIX}*, table ${PG_TABLE} may remain`),
      3000,
    ),
  );
  const cleanup = cleanupOnSignal?.().catch((error: unknown) => `cleanup failed: ${error}`);
  const done = await Promise.race([cleanup ?? Promise.resolve('nothing to clean up yet'), timeout]);
  process.stderr.write(`cleanup: ${done}\n`);
});

// ---------------------------------------------------------------------------------------------------
// One server

function startStoreServer(config: BenchConfig, serverOptions: ServerOptions): Promise<RunningServer> {
  return startServer(children, SERVER, [config.id, JSON.stringify(serverOptions)], `${config.id}: `);
}

async function get(url: string, cookie?: string): Promise<{ status: number; body: string; cookie: string }> {
  const response = await fetch(url, { headers: { ...FORWARDED, ...(cookie ? { cookie } : {}) } });
  return {
    status: response.status,
    body: await response.text(),
    cookie: cookieOf(response.headers.getSetCookie()),
  };
}

/** One first request per virtual user: each creates a session with n = 1 and returns its cookie. */
async function createSessionsOver(base: string, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const first = await get(`${base}/`);
      if (first.status !== 200 || first.body !== '1' || first.cookie === '') {
        throw new Error(
          `session ${i}: status ${first.status}, body ${JSON.stringify(first.body)}, no cookie?`,
        );
      }
      return first.cookie;
    }),
  );
}

/** Σ n over the sessions, read with /peek (which changes nothing). */
async function counterSum(base: string, cookies: readonly string[]): Promise<number> {
  const values = await Promise.all(cookies.map((cookie) => get(`${base}/peek`, cookie)));
  return values.reduce((sum, value) => {
    if (value.status !== 200) throw new Error(`/peek answered ${value.status}`);
    return sum + Number(value.body);
  }, 0);
}

// ---------------------------------------------------------------------------------------------------
// One measured run: server, sessions, load, counter check

interface RunResult {
  readonly round: number;
  readonly load: LoadResult;
  /** Session writes the server made under load: Σ n after − Σ n before. */
  readonly writes: number;
  /**
   * writes − responses: requests the server completed but autocannon never counted, because it stopped
   * (after the warm-up and after the measured run): 0 … connections per autocannon run is expected.
   */
  readonly inFlight: number;
  readonly countersOk: boolean;
  readonly serverStderr: string;
  /** The CPU speed probe just before this run, relative to the first probe of the whole bench. */
  readonly speed: number;
}

/**
 * A fixed CPU-bound workload for ~200 ms in this process while nothing else of the bench runs: its rate
 * tracks how fast the machine is at the moment. On a shared VM it can change severalfold within minutes
 * (the host's other tenants), which moves every absolute number with it.
 */
function speedProbe(): number {
  const start = performance.now();
  let ops = 0;
  let sink = 0;
  while (performance.now() - start < 200) {
    for (let i = 0; i < 50; i++) {
      sink ^= createHash('sha256')
        .update(`probe ${ops + i}`)
        .digest()[0]!;
      sink ^= (JSON.parse(JSON.stringify({ n: ops + i, s: 'latchkey' })) as { n: number }).n;
    }
    ops += 50;
  }
  return (ops + (sink & 0)) / (performance.now() - start);
}

let firstProbe: number | undefined;

async function runOne(
  config: BenchConfig,
  round: number,
  tmp: string,
  redisPid: number | null,
): Promise<RunResult> {
  if (firstProbe === undefined) speedProbe(); // once untimed, so the reference is not the cold, unoptimised loop
  const probe = speedProbe();
  firstProbe ??= probe;
  const speed = probe / firstProbe;
  return withLoadAndServer(
    () => startLoad<LoadInput, LoadResult>(children, LOAD),
    () =>
      startStoreServer(config, {
        redisPrefix: `${RUN_PREFIX}${config.id}:${round}:`,
        pgTable: PG_TABLE,
        fsDir: join(tmp, `${config.id}-${round}`),
      }),
    async (loader, server) => {
      const cookies = await createSessionsOver(server.base, options.sessions);
      const before = await counterSum(server.base, cookies);
      const load = await loader.run({
        url: `${server.base}/`,
        cookies,
        warmupSec: options.warmupSec,
        durationSec: options.durationSec,
        serverPid: server.child.pid!,
        redisPid: config.store === 'redis' ? redisPid : null,
      });
      const writes = (await counterSum(server.base, cookies)) - before;
      const inFlight = writes - load.responses;
      return {
        round,
        load,
        writes,
        inFlight,
        countersOk: inFlight >= 0 && inFlight <= options.sessions * (options.warmupSec > 0 ? 2 : 1),
        serverStderr: server.stderr(),
        speed,
      };
    },
  );
}

// ---------------------------------------------------------------------------------------------------
// Round trips per request, in this process: a counting Proxy around each store

type Data = { n: number };

interface RoundTrips {
  readonly store: StoreKind;
  /** Store method calls of an unmodified request (load with the cookie, no change, commit). */
  readonly unmodified: string[];
  readonly unmodifiedSetCookie: number;
  /** Store method calls of a request that changes the session. */
  readonly modified: string[];
  /** The same for a signed-in session (`login()`: a user id, so the store keeps a per-user index). */
  readonly signedInModified: string[];
  /** What the backend saw: Redis command-stat deltas, SQL statements, or files changed. */
  readonly wireUnmodified: string;
  readonly wireModified: string;
  readonly wireSignedInModified: string;
  /** True when the unmodified request was exactly one `get` and the backend saw no write. */
  readonly ok: boolean;
}

const WRITES = new Set(['create', 'update', 'touch', 'delete', 'deleteByUser']);

function counting<T extends object>(
  target: T,
  calls: string[],
  name: (prop: string, args: unknown[]) => string,
): T {
  return new Proxy(target, {
    get(object, prop, receiver) {
      const value: unknown = Reflect.get(object, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        calls.push(name(prop, args));
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
}

type RedisClient = ReturnType<typeof createClient>;

/** `cmdstat_<name>` calls from INFO commandstats (Redis counts commands run inside scripts too). */
async function commandStats(admin: RedisClient): Promise<Map<string, number>> {
  const stats = new Map<string, number>();
  for (const match of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    stats.set(match[1]!, Number(match[2]));
  }
  return stats;
}

function statDelta(before: Map<string, number>, after: Map<string, number>): string {
  const parts: string[] = [];
  for (const [name, calls] of after) {
    const change = calls - (before.get(name) ?? 0);
    // INFO is this check's own command.
    if (change !== 0 && name !== 'info') parts.push(`${name} +${change}`);
  }
  return parts.sort().join(', ') || 'nothing';
}

interface RedisWatch {
  begin(): Promise<void>;
  /** What Redis saw since begin(): this prefix's commands, and the whole server's command-stat deltas. */
  end(): Promise<{ text: string; commands: string[]; inScripts: string[] }>;
  close(): void;
}

/**
 * Redis's own view of one request. MONITOR on a separate connection, keeping only the commands on keys
 * under `prefix`, so other clients of a shared Redis do not count; a marker command sent after the request
 * and seen by MONITOR proves that every command of the request is in. Beside it, INFO commandstats deltas,
 * which count the whole server (and, in Redis, the commands a script runs).
 */
async function redisWatch(admin: RedisClient, prefix: string): Promise<RedisWatch> {
  const monitor = createClient({ url: REDIS_URL });
  monitor.on('error', () => {});
  await monitor.connect();
  const seen: string[] = [];
  await monitor.monitor((reply: unknown) => {
    const line = String(reply);
    if (line.includes(prefix)) seen.push(line);
  });
  let markers = 0;
  let stats = new Map<string, number>();
  /** Send a marker command and wait for MONITOR to show it: every command executed before it is in. */
  const mark = async (): Promise<string> => {
    const marker = `${prefix}marker:${++markers}`;
    await admin.get(marker);
    for (const deadline = Date.now() + 2000; !seen.some((line) => line.includes(marker)); ) {
      if (Date.now() > deadline) throw new Error('MONITOR never showed the marker command');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return marker;
  };
  return {
    async begin() {
      // Lines of earlier requests may still be on their way (Redis shows a script after its commands).
      await mark();
      seen.length = 0;
      stats = await commandStats(admin);
    },
    async end() {
      const after = await commandStats(admin);
      const marker = await mark();
      const commands: string[] = [];
      const inScripts: string[] = [];
      for (const line of seen) {
        const match = /^\S+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
        if (!match || line.includes(marker)) continue;
        (match[1] === 'lua' ? inScripts : commands).push(match[2]!.toUpperCase());
      }
      const script = inScripts.length ? ` (inside the script: ${inScripts.join(', ')})` : '';
      return {
        commands,
        inScripts,
        text:
          `MONITOR: ${commands.length} round trip(s) [${commands.join(', ')}]${script}\n` +
          `INFO commandstats Δ, whole server: ${statDelta(stats, after)}`,
      };
    },
    close: () => monitor.destroy(),
  };
}

/** Every file under `dir` with its inode, size and mtime: a changed or new entry is a write. */
async function fileStates(dir: string): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    const s = await stat(path).catch(() => undefined);
    if (s?.isFile()) states.set(path, `${s.ino}:${s.size}:${s.mtimeMs}`);
  }
  return states;
}

function filesChanged(before: Map<string, string>, after: Map<string, string>): number {
  let changed = 0;
  for (const [path, state] of after) if (before.get(path) !== state) changed++;
  for (const path of before.keys()) if (!after.has(path)) changed++;
  return changed;
}

async function roundTrips(
  kind: StoreKind,
  backends: { admin: RedisClient | undefined; pool: pg.Pool | undefined },
  tmp: string,
): Promise<RoundTrips> {
  const calls: string[] = [];
  const statements: string[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  let store: SessionStore;
  let wire: () => Promise<unknown>;
  let after: (() => Promise<unknown>) | undefined;
  let describe: (before: unknown, after: unknown) => { text: string; wrote: boolean };
  const fsDir = join(tmp, 'round-trips');
  if (kind === 'redis') {
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    closers.push(() => client.close());
    const watch = await redisWatch(backends.admin!, `${RUN_PREFIX}rt:`);
    closers.push(async () => watch.close());
    store = redisStore({ client, prefix: `${RUN_PREFIX}rt:` });
    wire = () => watch.begin();
    after = () => watch.end();
    describe = (_before, seen) => {
      const { text, commands, inScripts } = seen as Awaited<ReturnType<RedisWatch['end']>>;
      return { text, wrote: inScripts.length > 0 || commands.some((command) => command !== 'GET') };
    };
  } else if (kind === 'postgres') {
    const pool = counting(new pg.Pool({ ...PG }), statements, (prop, args) =>
      prop === 'query' ? String(args[0]).trimStart().split(/\s/)[0]!.toUpperCase() : `pool.${prop}`,
    );
    closers.push(() => pool.end());
    store = postgresStore({ client: pool, table: PG_TABLE });
    wire = async () => statements.length;
    describe = (before) => {
      const sql = statements.slice(before as number);
      return {
        text: `SQL statements: ${sql.length} [${sql.join(', ')}]`,
        wrote: sql.some((s) => s !== 'SELECT'),
      };
    };
  } else {
    store = fsStore({ dir: fsDir });
    wire = () => fileStates(fsDir);
    describe = (before, after) => {
      const changed = filesChanged(before as Map<string, string>, after as Map<string, string>);
      return { text: `files created, changed or removed: ${changed}`, wrote: changed > 0 };
    };
  }
  try {
    const sessions = createSessions<Data>({
      keys: generateKeyLine('k1'),
      store: counting(store, calls, (prop) => prop),
      trustProxy: true,
    });
    // Request 1 creates the session; request 2 changes it once before anything is observed (on a fresh
    // Redis that loads the update script: a NOSCRIPT reply and an EVAL, once per server).
    let session = await sessions.load(undefined);
    session.set('n', 1);
    const cookie = (await sessions.commit(session))[0]?.split(';')[0];
    if (!cookie) throw new Error(`${kind}: no Set-Cookie for a new session`);
    const request = { headers: { ...FORWARDED, cookie } };
    session = await sessions.load(request);
    session.set('n', 2);
    await sessions.commit(session);

    const observe = async (change: boolean, req = request) => {
      calls.length = 0;
      const before = await wire();
      const s = await sessions.load(req);
      if (s.isNew || typeof s.get('n') !== 'number') throw new Error(`${kind}: the session did not load`);
      if (change) s.set('n', s.get('n')! + 1);
      const setCookie = await sessions.commit(s);
      const seen = await (after ?? wire)();
      return { calls: [...calls], setCookie: setCookie.length, ...describe(before, seen) };
    };
    const unmodified = await observe(false);
    const modified = await observe(true);
    // Sign in (a new token, a record with a user id), change it once, then observe one more change.
    session = await sessions.load(request);
    await session.login('bench-user');
    const signedInCookie = (await sessions.commit(session))[0]?.split(';')[0];
    if (!signedInCookie) throw new Error(`${kind}: no Set-Cookie after login()`);
    const signedIn = { headers: { ...FORWARDED, cookie: signedInCookie } };
    await observe(true, signedIn);
    const signedInModified = await observe(true, signedIn);
    return {
      store: kind,
      unmodified: unmodified.calls,
      unmodifiedSetCookie: unmodified.setCookie,
      modified: modified.calls,
      signedInModified: signedInModified.calls,
      wireUnmodified: unmodified.text,
      wireModified: modified.text,
      wireSignedInModified: signedInModified.text,
      ok:
        unmodified.calls.length === 1 &&
        unmodified.calls[0] === 'get' &&
        !unmodified.wrote &&
        unmodified.setCookie === 0,
    };
  } finally {
    for (const close of closers) await close().catch(() => {});
  }
}

/** express-session + connect-redis, for contrast: the same two requests over HTTP, seen by Redis. */
async function expressSessionRoundTrips(admin: RedisClient, tmp: string) {
  const config = CONFIGS.find((c) => c.id === BASELINE_ID)!;
  const server = await startStoreServer(config, {
    redisPrefix: `${RUN_PREFIX}rt-es:`,
    pgTable: PG_TABLE,
    fsDir: join(tmp, 'rt-es'),
  });
  const watch = await redisWatch(admin, `${RUN_PREFIX}rt-es:`);
  try {
    const [cookie] = await createSessionsOver(server.base, 1);
    await get(`${server.base}/`, cookie);
    const observe = async (path: string) => {
      await watch.begin();
      const response = await get(`${server.base}${path}`, cookie);
      if (response.status !== 200) throw new Error(`express-session ${path}: ${response.status}`);
      return (await watch.end()).text;
    };
    return { unmodified: await observe('/peek'), modified: await observe('/') };
  } finally {
    watch.close();
    await stopChild(server.child);
  }
}

// ---------------------------------------------------------------------------------------------------
// Environment, backends, cleanup

/** Redis's PID, if it is a redis process on this host (for its CPU time from /proc). */
function localRedisPid(info: string): number | null {
  const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    statSync(`/proc/${pid}/stat`);
    return readFileSync(`/proc/${pid}/comm`, 'utf8').includes('redis') ? pid : null;
  } catch {
    return null;
  }
}

async function connectBackends() {
  let admin: RedisClient | undefined;
  let redisVersion: string | undefined;
  let redisPid: number | null = null;
  try {
    const client = createClient({
      url: REDIS_URL,
      socket: { connectTimeout: 2000, reconnectStrategy: false },
    });
    client.on('error', () => {});
    await client.connect();
    const info = await client.info('server');
    redisVersion = /^redis_version:(\S+)/m.exec(info)?.[1];
    redisPid = localRedisPid(info);
    admin = client;
  } catch (error) {
    log(`  Redis at ${REDIS_URL} unavailable (${(error as Error).message}): its configurations are skipped`);
  }
  let pool: pg.Pool | undefined;
  let pgVersion: string | undefined;
  try {
    const candidate = new pg.Pool({ ...PG, max: 2, connectionTimeoutMillis: 2000 });
    candidate.on('error', () => {});
    const { rows } = await candidate.query<{ server_version: string }>('SHOW server_version');
    pgVersion = rows[0]?.server_version;
    pool = candidate;
  } catch (error) {
    log(`  PostgreSQL at ${PG.host}:${PG.port} unavailable (${(error as Error).message}): skipped`);
  }
  return { admin, redisVersion, redisPid, pool, pgVersion };
}

async function cleanup(admin: RedisClient | undefined, pool: pg.Pool | undefined, tmp: string) {
  const done: string[] = [];
  if (admin) {
    let deleted = 0;
    for await (const keys of admin.scanIterator({ MATCH: `${RUN_PREFIX}*`, COUNT: 1000 })) {
      if (keys.length > 0) deleted += await admin.unlink(keys);
    }
    done.push(`${deleted} Redis keys ${RUN_PREFIX}* deleted`);
    await admin.close();
  }
  if (pool) {
    await pool.query(`DROP TABLE IF EXISTS "${PG_TABLE}"`);
    done.push(`table ${PG_TABLE} dropped`);
    await pool.end();
  }
  await rm(tmp, { recursive: true, force: true });
  done.push('temp directory removed');
  return done.join('; ');
}

// ---------------------------------------------------------------------------------------------------
// Statistics and printing

interface ConfigSummary {
  readonly id: string;
  readonly label: string;
  readonly runs: RunResult[];
  readonly failures: string[];
  readonly reqPerSec: number | undefined;
  readonly p99Ms: number | undefined;
  readonly errors: number;
  readonly vsBaseline: number | undefined;
  readonly vsBaselinePerRound: number[];
  readonly serverCpuUsPerReq: number | undefined;
}

function summarize(
  config: BenchConfig,
  runs: RunResult[],
  failures: string[],
  baseline: RunResult[],
): ConfigSummary {
  const reqPerSec = runs.length ? median(runs.map((r) => r.load.reqPerSec)) : undefined;
  const baseRate = baseline.length ? median(baseline.map((r) => r.load.reqPerSec)) : undefined;
  return {
    id: config.id,
    label: config.label,
    runs,
    failures,
    reqPerSec,
    p99Ms: runs.length ? median(runs.map((r) => r.load.p99Ms)) : undefined,
    errors: runs.reduce((sum, r) => sum + errorCount(r.load), 0),
    vsBaseline: reqPerSec !== undefined && baseRate ? reqPerSec / baseRate : undefined,
    vsBaselinePerRound: perRoundRatios(runs, baseline),
    serverCpuUsPerReq: serverCpuUsPerReq(runs),
  };
}

function printTable(summaries: readonly ConfigSummary[]): void {
  log(
    `\n${'configuration'.padEnd(42)}${'req/s'.padStart(6)} ${'rounds'.padEnd(21)}` +
      `${'p99 ms'.padStart(6)} ${'rounds'.padEnd(15)}${'errors'.padStart(6)}${'vs es+cr'.padStart(10)}`,
  );
  for (const s of summaries) {
    if (s.reqPerSec === undefined) {
      log(`${s.label.padEnd(42)}${'failed'.padStart(8)}  ${s.failures[0]?.split('\n')[0] ?? ''}`);
      continue;
    }
    const flag = s.errors > 0 ? ' !' : '';
    log(
      `${s.label.padEnd(42)}${String(Math.round(s.reqPerSec)).padStart(6)} ` +
        `${roundsOf(s.runs, (r) => String(Math.round(r.load.reqPerSec))).padEnd(21)}` +
        `${String(s.p99Ms).padStart(6)} ${roundsOf(s.runs, (r) => String(r.load.p99Ms)).padEnd(15)}` +
        `${String(s.errors).padStart(6)}${(s.id === BASELINE_ID ? '1.00×' : s.vsBaseline ? times(s.vsBaseline) : '–').padStart(10)}${flag}`,
    );
  }
}

/**
 * Busy CPU time on the machine that none of server, load generator and Redis used: PostgreSQL's backends,
 * the kernel's network work, and anything else running on the machine.
 */
function otherCpuMs(l: LoadResult): number | null {
  if (l.machineBusyMs === null || l.serverCpuMs === null) return null;
  return Math.max(0, l.machineBusyMs - l.serverCpuMs - l.loadCpuMs - (l.redisCpuMs ?? 0));
}

function printCpu(summaries: readonly ConfigSummary[]): void {
  log(
    `\n${'where the CPU went (measured phase)'.padEnd(42)}${'server µs/req'.padStart(14)}${'server'.padStart(8)}` +
      `${'loadgen'.padStart(9)}${'redis'.padStart(7)}${'other'.padStart(7)}${'machine'.padStart(9)}` +
      `${'writes'.padStart(8)}${'speed'.padStart(7)}`,
  );
  const pct = (values: Array<number | null>) => {
    const known = values.filter((v): v is number => v !== null);
    return known.length ? `${Math.round(median(known))}%` : '–';
  };
  for (const s of summaries) {
    if (!s.runs.length) continue;
    const share = (pick: (l: LoadResult) => number | null) =>
      pct(
        s.runs.map((r) => {
          const ms = pick(r.load);
          return ms === null ? null : (100 * ms) / (r.load.durationSec * 1000);
        }),
      );
    const writes = s.runs.every((r) => r.countersOk) ? 'ok' : 'MISMATCH';
    log(
      `${s.label.padEnd(42)}${(s.serverCpuUsPerReq === undefined ? '–' : int(s.serverCpuUsPerReq)).padStart(14)}` +
        `${share((l) => l.serverCpuMs).padStart(8)}${share((l) => l.loadCpuMs).padStart(9)}` +
        `${share((l) => l.redisCpuMs).padStart(7)}${share(otherCpuMs).padStart(7)}` +
        `${pct(s.runs.map((r) => r.load.machineBusyPct)).padStart(9)}${writes.padStart(8)}` +
        `${median(s.runs.map((r) => r.speed))
          .toFixed(2)
          .padStart(7)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const packages = packageVersions([
    'express',
    'express-session',
    'connect-redis',
    'redis',
    'pg',
    'autocannon',
  ]);
  const env = {
    ...machine(),
    packages: packages.versions,
    redis: undefined as string | undefined,
    postgres: undefined as string | undefined,
    /** The machine's busy share over 1 s before the run, 0–100 (null where /proc/stat is missing). */
    busyBeforePct: null as number | null,
  };
  const method = {
    rounds: options.rounds,
    runOrder: RUN_ORDER,
    warmupSec: options.warmupSec,
    durationSec: options.durationSec,
    sessions: options.sessions,
    connections: options.sessions,
    pipelining: 1,
    quick: options.quick,
    cookie: `Secure __Host-lk with trustProxy: true; every request sends X-Forwarded-Proto: https`,
  };
  log('Latchkey store-mode benchmark (bench/store.ts)');
  log(machineLine(env));
  log(packages.line);
  prepareLatchkey(options.source, log);

  const backends = await connectBackends();
  env.redis = backends.redisVersion;
  env.postgres = backends.pgVersion;
  log(
    `  Redis ${env.redis ?? 'unavailable'} at 127.0.0.1:6379; PostgreSQL ${env.postgres ?? 'unavailable'} at ` +
      `${PG.host}:${PG.port}/${PG.database}; fs store in a temp directory`,
  );
  log(
    `  ${options.rounds} round(s); each configuration: its own server process, ${options.sessions} sessions made ` +
      `first,\n  then ${options.sessions} connections (one per session) from another process for ` +
      `${options.warmupSec} s warm-up + ${options.durationSec} s measured;\n  every request GET / reads and ` +
      'increments a counter in the session (a store read and a store write per request)',
  );
  if (options.quick) log('  --quick: a smoke run; do not quote these numbers');
  env.busyBeforePct = await backgroundLoad(log, env.cores);

  const tmp = await mkdtemp(join(tmpdir(), 'latchkey-bench-store-'));
  cleanupOnSignal = () => cleanup(backends.admin, backends.pool, tmp);
  const available = (store: StoreKind) =>
    store === 'fs' ||
    store === 'memory' ||
    (store === 'redis' ? backends.admin !== undefined : backends.pool !== undefined);
  let exitCode = 0;
  const output: Record<string, unknown> = { env, method };
  try {
    // Round trips first, before any load: the whole-server command stats are quiet then (unless another
    // client uses this Redis; MONITOR, filtered to this check's keys, is exact either way).
    log('\nStore calls per request (in this process, a counting Proxy around the store; no HTTP):');
    const indent = ''.padEnd(11);
    const backend = (text: string) => {
      for (const [i, line] of text.split('\n').entries())
        log(`${indent}  ${i ? '' : 'backend: '.padEnd(9)}${line}`);
    };
    const callList = (calls: readonly string[]) =>
      `${calls.length} store call(s) [${calls.join(', ')}], writes: ${calls.filter((c) => WRITES.has(c)).length}`;
    const trips: RoundTrips[] = [];
    for (const kind of ['redis', 'postgres', 'fs'] as const) {
      if (!available(kind)) continue;
      const t = await roundTrips(kind, { admin: backends.admin, pool: backends.pool }, tmp);
      trips.push(t);
      log(
        `  ${kind.padEnd(9)}unmodified request: ${callList(t.unmodified)}, Set-Cookie lines: ` +
          `${t.unmodifiedSetCookie}  ${t.ok ? 'OK' : 'UNEXPECTED'}`,
      );
      backend(t.wireUnmodified);
      log(`${indent}modifying request: ${callList(t.modified)}`);
      backend(t.wireModified);
      log(`${indent}modifying, signed in (login()): ${callList(t.signedInModified)}`);
      backend(t.wireSignedInModified);
    }
    let esTrips: { unmodified: string; modified: string } | undefined;
    if (backends.admin) {
      esTrips = await expressSessionRoundTrips(backends.admin, tmp);
      log('  for contrast, express-session + connect-redis (resave: false), over HTTP:');
      log(`${indent}unmodified request (reads n):`);
      backend(esTrips.unmodified);
      log(`${indent}modifying request:`);
      backend(esTrips.modified);
    }
    output.roundTrips = { latchkey: trips, expressSession: esTrips };
    if (trips.some((t) => !t.ok)) exitCode = 1;

    // The load runs: every configuration once per round; even rounds in reverse order (RUN_ORDER), so a
    // slow drift of the machine lands on both ends of the list alike.
    const configs = CONFIGS.filter(
      (c) =>
        available(c.store) &&
        (options.only === undefined ||
          c.id === BASELINE_ID ||
          CEILING_IDS.includes(c.id) ||
          c.id === MUSTS_ID ||
          options.only.some((text) => c.id.includes(text))),
    );
    const order = inRunOrder(RUN_ORDER, configs);
    const runs = new Map<string, RunResult[]>(configs.map((c) => [c.id, []]));
    const failures = new Map<string, string[]>(configs.map((c) => [c.id, []]));
    for (let round = 1; round <= options.rounds; round++) {
      log(`\nround ${round}/${options.rounds}`);
      for (const config of roundOrder(order, round)) {
        if (children.stopping) break;
        try {
          const run = await runOne(config, round, tmp, backends.redisPid);
          runs.get(config.id)!.push(run);
          const l = run.load;
          const errors = errorCount(l);
          log(
            `  ${config.label.padEnd(42)}${int(l.reqPerSec).padStart(7)} req/s  p99 ${String(l.p99Ms).padStart(3)} ms` +
              `  errors ${errors}  writes ${run.writes} = ${l.responses} + ${run.inFlight} ` +
              `${run.countersOk ? 'ok' : 'MISMATCH'}  speed ${run.speed.toFixed(2)}`,
          );
          if (errors > 0 || run.serverStderr) {
            log(`    ! non-2xx ${l.non2xx}, errors ${l.errors}, timeouts ${l.timeouts}`);
            for (const line of run.serverStderr.trim().split('\n').slice(0, 3)) log(`    ! server: ${line}`);
          }
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          failures.get(config.id)!.push(message);
          log(`  ${config.label.padEnd(42)}FAILED: ${message}`);
          exitCode = 1;
        }
      }
    }

    if (children.stopping) return; // the signal handler cleans up and exits
    const baseline = runs.get(BASELINE_ID) ?? [];
    const summaries: ConfigSummary[] = configs.map((c) =>
      summarize(c, runs.get(c.id)!, failures.get(c.id)!, baseline),
    );
    log(
      `\nResults: ${options.rounds > 1 ? `median of ${options.rounds} rounds${options.rounds === 2 ? ' (their mean)' : ''}, each round in brackets` : '1 round'};` +
        ' vs es+cr = req/s ÷ express-session + connect-redis',
    );
    printTable(summaries);
    printCpu(summaries);
    log(
      "\n  server µs/req: the server process's CPU time (all its threads) per response. server, loadgen, redis," +
        '\n  other: CPU time as a share of one core; other = busy time on the machine that none of those three' +
        "\n  used (PostgreSQL's backends, the kernel's network work, anything else running). machine: all cores" +
        '\n  busy (/proc/stat). writes ok: Σ counters grew by exactly the responses seen, plus at most one' +
        '\n  request per connection cut in flight when autocannon stopped (after the warm-up and at the end).' +
        '\n  speed: a fixed CPU probe run just before each run, relative to the first one; far from 1.00 means the' +
        '\n  machine itself got slower or faster (a shared VM), which moves every absolute number with it.',
    );

    const target = summaries.find((s) => s.id === TARGET_ID);
    const ratio = target?.vsBaseline;
    const perRound = target?.vsBaselinePerRound ?? [];
    const verdict = ratio === undefined ? 'n/a ' : ratio >= TARGET_RATIO ? 'PASS' : 'MISS';
    output.results = summaries.map(({ runs: r, ...rest }) => ({ ...rest, rounds: r }));
    output.target = {
      label: `Latchkey on Express with Redis ≥ ${TARGET_RATIO}× express-session + connect-redis`,
      threshold: TARGET_RATIO,
      value: ratio ?? null,
      perRound,
      pass: ratio !== undefined && ratio >= TARGET_RATIO,
    };
    log('\nTarget (issue); informational, never a failure:');
    log(
      `  ${verdict}  Latchkey on Express with Redis ≥ ${TARGET_RATIO}× express-session + connect-redis ` +
        `(measured ${ratio === undefined ? '–' : times(ratio)}` +
        `${perRound.length > 1 ? `; per round ${perRound.map(times).join(', ')}` : ''})`,
    );
    const bounds = summaries.filter(
      (s) => (CEILING_IDS.includes(s.id) || s.id === MUSTS_ID) && s.vsBaseline !== undefined,
    );
    output.ceilings = bounds.map((s) => ({ id: s.id, value: s.vsBaseline, perRound: s.vsBaselinePerRound }));
    if (bounds.length > 0) {
      log('\nBounds, ÷ express-session + connect-redis (the same runs):');
      log('  ceilings: Express with no session library at all (a bare cookie id): no library can be faster;');
      log(
        '  minimal: only the musts of the design, written by hand: what a conforming library scores at best.',
      );
      for (const s of bounds) {
        const rounds = s.vsBaselinePerRound ?? [];
        log(
          `  ${s.vsBaseline! >= TARGET_RATIO ? 'above' : 'BELOW'} the ${TARGET_RATIO}× target: ${s.label}: ${times(s.vsBaseline!)}` +
            `${rounds.length > 1 ? ` (per round ${rounds.map(times).join(', ')})` : ''}`,
        );
      }
    }
  } finally {
    if (!children.stopping) {
      children.killAll();
      const done = await cleanup(backends.admin, backends.pool, tmp).catch(
        (error: unknown) => `cleanup failed: ${error}`,
      );
      log(`\ncleanup: ${done}`);
    }
  }
  if (options.json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  process.exitCode = exitCode;
}

await main();
