import { readFileSync } from 'node:fs';

/**
 * What bench/store.ts (the runner), bench/store-server.ts (one server per configuration) and
 * bench/store-load.ts (the load generator) share: the configurations and the messages between them.
 */

export type StoreKind = 'redis' | 'postgres' | 'fs';
export type Framework = 'node:http' | 'express';
export type Library = 'latchkey' | 'express-session';

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
];

/** The baseline of the ratios and the pair the target compares. */
export const BASELINE_ID = 'es-redis-express';
export const TARGET_ID = 'lk-redis-express';
export const TARGET_RATIO = 1.5;

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
}

/** The one argument of bench/store-load.ts, as JSON. */
export interface LoadInput {
  readonly url: string;
  /** One `name=value` Cookie header per connection: connection i sends cookies[i] on every request. */
  readonly cookies: readonly string[];
  readonly warmupSec: number;
  readonly durationSec: number;
  /** The server's PID, for its CPU time over the measured phase (Linux /proc; null elsewhere). */
  readonly serverPid: number;
  /** Redis's PID if it runs on this host, for its CPU time likewise. */
  readonly redisPid: number | null;
}

/** What bench/store-load.ts prints, as one JSON line on stdout. */
export interface LoadResult {
  /** Mean of autocannon's 1-second samples over the measured phase. */
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
  /** Every response seen, warm-up included (each one a session write, for the runner's counter check). */
  readonly responses: number;
  /** CPU time (user + system) over the measured phase, in ms; null when not measurable here. */
  readonly serverCpuMs: number | null;
  readonly loadCpuMs: number;
  readonly redisCpuMs: number | null;
  /** The whole machine's busy share over the measured phase (all cores, /proc/stat), 0–100. */
  readonly machineBusyPct: number | null;
  /** The same as CPU time (all cores, /proc/stat), in ms; null when not measurable here. */
  readonly machineBusyMs: number | null;
}

/** The header every request carries: Latchkey's Secure `__Host-lk` cookie is read only over "HTTPS". */
export const FORWARDED = { 'x-forwarded-proto': 'https' } as const;

/** Busy and total jiffies of the whole machine, from /proc/stat; null if unreadable. */
export function machineTicks(): { busy: number; total: number } | null {
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
