/**
 * What bench/http.ts (the runner), bench/http-server.ts (one server per configuration) and
 * bench/http-load.ts (the load generator) share: the configurations, the targets and the messages
 * between the processes.
 */
import type { LoadInputBase, LoadResultBase } from './common.ts';

export type Framework = 'node:http' | 'express' | 'fastify' | 'hono';

export interface HttpConfig {
  readonly id: string;
  readonly label: string;
  readonly framework: Framework;
  /** False for the four frameworks alone (the baselines of the `vs framework` column). */
  readonly session: boolean;
  /** The no-session configuration on the same framework (itself for a baseline). */
  readonly baseline: string;
}

/** Every configuration, in the order of the result table. */
export const CONFIGS: readonly HttpConfig[] = [
  { id: 'http', label: 'node:http, no session', framework: 'node:http', session: false, baseline: 'http' },
  {
    id: 'handwritten',
    label: 'hand-written AES-256-GCM, node:http',
    framework: 'node:http',
    session: true,
    baseline: 'http',
  },
  {
    id: 'handwritten-musts',
    label: 'hand-written XAES-256-GCM + musts, node:http',
    framework: 'node:http',
    session: true,
    baseline: 'http',
  },
  {
    id: 'lk-http',
    label: 'latchkey withSession, node:http',
    framework: 'node:http',
    session: true,
    baseline: 'http',
  },
  {
    id: 'iron-session',
    label: 'iron-session, node:http',
    framework: 'node:http',
    session: true,
    baseline: 'http',
  },
  { id: 'express', label: 'express, no session', framework: 'express', session: false, baseline: 'express' },
  {
    id: 'handwritten-express',
    label: 'hand-written AES-256-GCM, express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  {
    id: 'handwritten-musts-express',
    label: 'hand-written XAES-256-GCM + musts, express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  {
    id: 'handwritten-express-mw',
    label: 'hand-written AES-256-GCM middleware, express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  {
    id: 'lk-express',
    label: 'latchkey/express, express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  {
    // Issue 12's acceptance: with legacy readers configured, a request that carries no old cookie (only
    // Latchkey's, as here after the first answer) pays nothing measurable over lk-express.
    id: 'lk-express-legacy',
    label: 'latchkey/express + legacy readers (express-session, iron-session), express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  {
    id: 'lk-express-mw',
    label: 'latchkey/node sessionMiddleware, express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  {
    id: 'express-session',
    label: 'express-session (MemoryStore), express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  {
    id: 'cookie-session',
    label: 'cookie-session, express',
    framework: 'express',
    session: true,
    baseline: 'express',
  },
  { id: 'fastify', label: 'fastify, no session', framework: 'fastify', session: false, baseline: 'fastify' },
  {
    id: 'lk-fastify',
    label: 'latchkey/fastify, fastify',
    framework: 'fastify',
    session: true,
    baseline: 'fastify',
  },
  {
    id: 'handwritten-fastify',
    label: 'hand-written AES-256-GCM, fastify',
    framework: 'fastify',
    session: true,
    baseline: 'fastify',
  },
  {
    id: 'handwritten-musts-fastify',
    label: 'hand-written XAES-256-GCM + musts, fastify',
    framework: 'fastify',
    session: true,
    baseline: 'fastify',
  },
  {
    id: 'secure-session',
    label: '@fastify/secure-session, fastify',
    framework: 'fastify',
    session: true,
    baseline: 'fastify',
  },
  {
    id: 'hono',
    label: 'hono (node:http bridge), no session',
    framework: 'hono',
    session: false,
    baseline: 'hono',
  },
  {
    id: 'lk-hono',
    label: 'latchkey/hono, hono',
    framework: 'hono',
    session: true,
    baseline: 'hono',
  },
  {
    id: 'lk-hono-fetch',
    label: 'latchkey/fetch sessionMiddleware, hono',
    framework: 'hono',
    session: true,
    baseline: 'hono',
  },
];

/**
 * The order of the runs in odd rounds; even rounds run it in reverse. Each framework's configurations
 * run together, and the two sides of every target run next to each other, so slow drift of a shared
 * machine lands on both alike.
 */
export const RUN_ORDER: readonly string[] = [
  'http',
  'handwritten',
  'handwritten-musts',
  'lk-http',
  'iron-session',
  'hono',
  'lk-hono',
  'lk-hono-fetch',
  'fastify',
  'handwritten-fastify',
  'handwritten-musts-fastify',
  'lk-fastify',
  'secure-session',
  'express',
  'cookie-session',
  'handwritten-express',
  'handwritten-musts-express',
  'handwritten-express-mw',
  'lk-express-mw',
  'lk-express',
  'lk-express-legacy',
  'express-session',
];

export interface Target {
  readonly label: string;
  /** The Latchkey configuration(s): the first one that ran is judged (a fallback after it). */
  readonly subject: readonly string[];
  readonly against: string;
  readonly ratio: number;
}

/** The targets from the issue; informational: a miss exits 0 like a pass. */
export const TARGETS: readonly Target[] = [
  {
    label: 'Latchkey node:http ≥ 0.9× hand-written AES-256-GCM',
    subject: ['lk-http'],
    against: 'handwritten',
    ratio: 0.9,
  },
  { label: 'Latchkey node:http ≥ 8× iron-session', subject: ['lk-http'], against: 'iron-session', ratio: 8 },
  {
    label: 'Latchkey on Express ≥ 1.3× express-session',
    subject: ['lk-express', 'lk-express-mw'],
    against: 'express-session',
    ratio: 1.3,
  },
  {
    label: 'Latchkey on Fastify ≥ 1.0× @fastify/secure-session',
    subject: ['lk-fastify'],
    against: 'secure-session',
    ratio: 1.0,
  },
];

/**
 * For context beside the targets: the same ratios with the hand-written AES-256-GCM cookie (the
 * practical limit of an encrypted cookie, bench/http-handwritten.ts) in Latchkey's place. A target
 * that even this floor misses asks more than an encrypted cookie session can give on that framework.
 */
export const REFERENCES: readonly Target[] = [
  {
    label:
      'hand-written with only the musts (XAES-256-GCM, key id, AAD, timeouts, no-store and Vary), node:http, vs the hand-written limit (the 0.9× target)',
    subject: ['handwritten-musts'],
    against: 'handwritten',
    ratio: 0.9,
  },
  {
    label: 'hand-written AES-256-GCM in the route, Express, vs express-session (the 1.3× target)',
    subject: ['handwritten-express'],
    against: 'express-session',
    ratio: 1.3,
  },
  {
    label: 'hand-written with only the musts in the route, Express, vs express-session (the 1.3× target)',
    subject: ['handwritten-musts-express'],
    against: 'express-session',
    ratio: 1.3,
  },
  {
    label: 'hand-written AES-256-GCM middleware (req.session), Express, vs express-session (the 1.3× target)',
    subject: ['handwritten-express-mw'],
    against: 'express-session',
    ratio: 1.3,
  },
  {
    label:
      'hand-written with only the musts in the route, Fastify, vs @fastify/secure-session (the 1.0× target)',
    subject: ['handwritten-musts-fastify'],
    against: 'secure-session',
    ratio: 1.0,
  },
  {
    label: 'hand-written AES-256-GCM in the route, Fastify, vs @fastify/secure-session (the 1.0× target)',
    subject: ['handwritten-fastify'],
    against: 'secure-session',
    ratio: 1.0,
  },
];

/** The input of bench/http-load.ts, as JSON on stdin. */
export type LoadInput = LoadInputBase;

/** What bench/http-load.ts prints, as one JSON line on stdout. */
export interface LoadResult extends LoadResultBase {
  /** Responses in the measured phase ÷ its duration. */
  readonly reqPerSec: number;
  /** Bytes read per response (status line, headers and body): shows a Set-Cookie rides on each one. */
  readonly bytesPerResponse: number;
}

/** The JSON body every configuration answers: `{"n":<counter>}`. */
export interface CounterBody {
  readonly n: number;
}
