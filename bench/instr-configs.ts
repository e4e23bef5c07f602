/**
 * What bench/instr.ts measures: every configuration of bench:http (bench/http-configs.ts) and bench:store
 * (bench/store-configs.ts), run by their own server scripts, grouped into the comparisons of issue 15:
 * for each path, the framework alone, the minimal implementation of the musts, the peer library and
 * Latchkey. Nothing here starts anything.
 */
import { CONFIGS as HTTP_CONFIGS } from './http-configs.ts';
import { CONFIGS as STORE_CONFIGS, type StoreKind } from './store-configs.ts';

export interface InstrConfig {
  readonly id: string;
  readonly label: string;
  /** Which server script runs it: bench/http-server.ts or bench/store-server.ts. */
  readonly bench: 'http' | 'store';
  /** The store behind a bench:store configuration (the runner prepares and cleans it). */
  readonly store: StoreKind | undefined;
  /** True when the configuration keeps a session (its counter is per session, in a cookie). */
  readonly session: boolean;
}

/** Every configuration of both benches, in their table order (bench:http's, then bench:store's). */
export const INSTR_CONFIGS: readonly InstrConfig[] = [
  ...HTTP_CONFIGS.map((c) => ({
    id: c.id,
    label: c.label,
    bench: 'http' as const,
    store: undefined,
    session: c.session,
  })),
  ...STORE_CONFIGS.map((c) => ({
    id: c.id,
    label: c.label,
    bench: 'store' as const,
    store: c.store,
    session: true,
  })),
];

/**
 * One comparison: Latchkey's rows against the framework alone (the baseline of every overhead), the
 * minimal implementation of the same musts, and the peer it replaces.
 */
export interface Group {
  readonly id: string;
  readonly label: string;
  /** The framework alone: overhead = a configuration's instructions − these. */
  readonly framework: string;
  /** The hand-written implementation of only the musts (bench/http-handwritten.ts, bench/store-server.ts). */
  readonly minimal: string | undefined;
  readonly peer: string | undefined;
  /** Issue 15's target: Latchkey's instructions ≤ ratio × the peer's. */
  readonly peerTarget: number | undefined;
  readonly latchkey: readonly string[];
  /** Other rows shown for context (hand-written limits, other peers). */
  readonly others: readonly string[];
}

/** Issue 15's target: Latchkey's overhead over the framework ≤ 1.15 × the minimal implementation's. */
export const MINIMAL_TARGET = 1.15;

export const GROUPS: readonly Group[] = [
  {
    id: 'express',
    label: 'Express, cookie mode',
    framework: 'express',
    minimal: 'handwritten-musts-express',
    peer: 'express-session',
    peerTarget: 0.75,
    latchkey: ['lk-express', 'lk-express-mw', 'lk-express-legacy'],
    others: ['handwritten-express', 'handwritten-express-mw', 'cookie-session'],
  },
  {
    id: 'express-redis',
    label: 'Express + Redis, store mode',
    // No session library: a random cookie id and the counter under it in Redis (GET, then SET).
    framework: 'ceiling-redis-express',
    minimal: 'musts-redis-express',
    peer: 'es-redis-express',
    peerTarget: 0.85,
    latchkey: ['lk-redis-express'],
    others: [],
  },
  {
    id: 'fastify',
    label: 'Fastify, cookie mode',
    framework: 'fastify',
    minimal: 'handwritten-musts-fastify',
    peer: 'secure-session',
    peerTarget: 1.0,
    latchkey: ['lk-fastify'],
    others: ['handwritten-fastify'],
  },
  {
    id: 'node',
    label: 'node:http, cookie mode',
    framework: 'http',
    minimal: 'handwritten-musts',
    peer: 'iron-session',
    peerTarget: undefined,
    latchkey: ['lk-http'],
    others: ['handwritten'],
  },
  {
    id: 'hono',
    label: 'Hono (node:http bridge), cookie mode',
    framework: 'hono',
    minimal: undefined,
    peer: undefined,
    peerTarget: undefined,
    latchkey: ['lk-hono', 'lk-hono-fetch'],
    others: [],
  },
  {
    id: 'node-store',
    label: 'node:http, store mode (Redis, PostgreSQL, fs)',
    // The no-session node:http server of bench:http (it answers JSON; the store servers answer text).
    framework: 'http',
    minimal: undefined,
    peer: undefined,
    peerTarget: undefined,
    latchkey: ['lk-redis-http', 'lk-pg-http', 'lk-fs-http'],
    others: [],
  },
  {
    id: 'express-store',
    label: 'Express, store mode (PostgreSQL, fs)',
    // No session library, the counter in a Map: Express without any store client.
    framework: 'ceiling-map-express',
    minimal: undefined,
    peer: undefined,
    peerTarget: undefined,
    latchkey: ['lk-pg-express', 'lk-fs-express'],
    others: [],
  },
];

/**
 * The default run: the three paths with targets (Express cookie, Express + Redis, Fastify cookie), each
 * with its framework, minimal implementation, peer and Latchkey, and lk-express with legacy readers
 * (issue 12: a request without an old cookie pays nothing measurable for them). `--all` runs every
 * configuration.
 */
export const ESSENTIAL: readonly string[] = [
  ...GROUPS.slice(0, 3).flatMap((g) => [
    g.framework,
    ...(g.minimal ? [g.minimal] : []),
    ...(g.peer ? [g.peer] : []),
    g.latchkey[0]!,
  ]),
  'lk-express-legacy',
];

/** The configuration run several times, in separate processes, for the run-to-run spread. */
export const SPREAD_DEFAULT = 'lk-express';

/** Every group a configuration appears in. */
export const groupsOf = (id: string) =>
  GROUPS.filter(
    (g) =>
      g.framework === id ||
      g.minimal === id ||
      g.peer === id ||
      g.latchkey.includes(id) ||
      g.others.includes(id),
  );
