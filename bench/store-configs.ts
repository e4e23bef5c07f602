/**
 * What bench/store.ts (the runner), bench/store-server.ts (one server per configuration) and
 * bench/store-load.ts (the load generator) share: the configurations and the messages between them.
 */
import type { LoadInputBase, LoadResultBase } from './common.ts';

/** `memory`: a Map in the server process (the no-library ceiling only). */
export type StoreKind = 'redis' | 'postgres' | 'fs' | 'memory';
export type Framework = 'node:http' | 'express';
/**
 * `none`: no session library, a bare cookie id and a counter (the ceilings). `musts`: a minimal store
 * session with only what the design requires (hashed ids, sealed records, expiry, compare-and-set).
 */
export type Library = 'latchkey' | 'express-session' | 'none' | 'musts';

export interface BenchConfig {
  readonly id: string;
  readonly label: string;
  readonly library: Library;
  readonly store: StoreKind;
  readonly framework: Framework;
}

/** Every configuration, in the order of the result table. */
export const CONFIGS: readonly BenchConfig[] = [
  {
    id: 'lk-redis-http',
    label: 'latchkey + redis, node:http',
    library: 'latchkey',
    store: 'redis',
    framework: 'node:http',
  },
  {
    id: 'lk-pg-http',
    label: 'latchkey + postgres, node:http',
    library: 'latchkey',
    store: 'postgres',
    framework: 'node:http',
  },
  {
    id: 'lk-fs-http',
    label: 'latchkey + fs, node:http',
    library: 'latchkey',
    store: 'fs',
    framework: 'node:http',
  },
  {
    id: 'lk-redis-express',
    label: 'latchkey + redis, express',
    library: 'latchkey',
    store: 'redis',
    framework: 'express',
  },
  {
    id: 'lk-pg-express',
    label: 'latchkey + postgres, express',
    library: 'latchkey',
    store: 'postgres',
    framework: 'express',
  },
  {
    id: 'lk-fs-express',
    label: 'latchkey + fs, express',
    library: 'latchkey',
    store: 'fs',
    framework: 'express',
  },
  {
    id: 'es-redis-express',
    label: 'express-session + connect-redis, express',
    library: 'express-session',
    store: 'redis',
    framework: 'express',
  },
  {
    id: 'ceiling-redis-express',
    label: 'ceiling: no library, redis GET+SET, express',
    library: 'none',
    store: 'redis',
    framework: 'express',
  },
  {
    id: 'musts-redis-express',
    label: 'minimal: only the musts, redis, express',
    library: 'musts',
    store: 'redis',
    framework: 'express',
  },
  {
    id: 'ceiling-map-express',
    label: 'ceiling: no library, in-memory Map, express',
    library: 'none',
    store: 'memory',
    framework: 'express',
  },
];

/**
 * The order of the runs in odd rounds; even rounds run it in reverse. The pair the target compares runs
 * back to back, A-B then B-A, so slow drift of a shared machine lands on both alike.
 */
export const RUN_ORDER: readonly string[] = [
  'lk-redis-http',
  'lk-pg-http',
  'lk-fs-http',
  'lk-pg-express',
  'lk-fs-express',
  'lk-redis-express',
  'es-redis-express',
  'ceiling-redis-express',
  'musts-redis-express',
  'ceiling-map-express',
];

/** The baseline of the ratios and the pair the target compares. */
export const BASELINE_ID = 'es-redis-express';
export const TARGET_ID = 'lk-redis-express';
export const TARGET_RATIO = 1.5;
/**
 * The ceilings: Express with no session library at all, the counter under a bare random cookie id in
 * Redis (GET then SET, the two round trips any Redis-backed session makes) or in a Map. No session
 * library on Express can be faster than these, so their ratio to the baseline bounds what the target
 * can reach on the machine at hand.
 */
export const CEILING_IDS: readonly string[] = ['ceiling-redis-express', 'ceiling-map-express'];

/**
 * A minimal store-mode session on Express and Redis with only the musts of the design and the issue,
 * written by hand (bench/store-server.ts): the cookie holds a random 256-bit token and Redis the record
 * under its SHA-256; the record is sealed with XAES-256-GCM (latchkey/crypto), bound to its key, and
 * carries its clocks, checked on every read; every write is a compare-and-set on a version, by a
 * script. No user index, no strict cookie parsing, no cookie cache, no events. What a conforming
 * library could score at best, beside the target.
 */
export const MUSTS_ID = 'musts-redis-express';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const PG = { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' } as const;

/** The second argument of bench/store-server.ts, as JSON. */
export interface ServerOptions {
  /** A Redis key prefix for this server alone (the runner deletes `<run prefix>*` afterwards). */
  readonly redisPrefix: string;
  /** The PostgreSQL table (the runner drops it afterwards). */
  readonly pgTable: string;
  /** A directory for the fs store, inside the runner's temp directory. */
  readonly fsDir: string;
  /**
   * The Redis store's call timeout (ms), when not its default (1000): bench:instr's servers run under
   * valgrind, where one call with instrumentation on can take longer than a second.
   */
  readonly storeTimeout?: number;
}

/** The one argument of bench/store-load.ts, as JSON. */
export interface LoadInput extends LoadInputBase {
  /** Redis's PID if it runs on this host, for its CPU time likewise. */
  readonly redisPid: number | null;
}

/** What bench/store-load.ts prints, as one JSON line on stdout. */
export interface LoadResult extends LoadResultBase {
  /** Mean of autocannon's 1-second samples over the measured phase. */
  readonly reqPerSec: number;
  /** Every response seen, warm-up included (each one a session write, for the runner's counter check). */
  readonly responses: number;
  readonly redisCpuMs: number | null;
  /** The same as CPU time (all cores, /proc/stat), in ms; null when not measurable here. */
  readonly machineBusyMs: number | null;
}

/** The header every request carries: Latchkey's Secure `__Host-lk` cookie is read only over "HTTPS". */
export const FORWARDED = { 'x-forwarded-proto': 'https' } as const;
