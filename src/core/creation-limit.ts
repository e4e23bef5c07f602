/**
 * Store mode's limit on session creation (issue 14 §2, checklist #35): each new store record takes a
 * token from its client's bucket and from one shared bucket; with either empty the commit is refused
 * with ERR_LATCHKEY_RATE_LIMITED (adapters answer 429 with Retry-After) and nothing is written.
 *
 * Token buckets: `count` creations at once, refilled at `count` per `within`, so a flood is held to
 * that rate however long it lasts. Memory is bounded: at most `clients` per-client buckets are kept
 * (least recently used go first; a bucket that has refilled is the same as none), plus one overall.
 */
import { ConfigError, CreationLimited } from '../errors.ts';
import { type Duration, parseDuration } from './policy.ts';

export interface CreationRate {
  /** How many sessions may be created at once, and per `within`. */
  count: number;
  /** The refill period: `'1m'`, `'1h'`, or milliseconds. */
  within: Duration;
}

/**
 * `createSessions({ creationLimit })`: how many new sessions (store records) one client, and all
 * clients together, may create. A sign-in that replaces the visitor's record is no new record and is
 * not counted. The client is the address the adapter gives (with `trustProxy`, the right-most
 * `X-Forwarded-For` entry); an IPv6 client counts by its /64. A request whose address is not known
 * (a Fetch runtime that does not pass one) only counts against `overall`.
 *
 * @example
 * ```ts
 * createSessions({ store, creationLimit: { perClient: { count: 20, within: '1m' }, overall: { count: 2000, within: '1m' } } });
 * ```
 */
export interface CreationLimitOptions {
  perClient?: (CreationRate & { /** Buckets kept at most; default 10,000. */ clients?: number }) | undefined;
  overall?: CreationRate | undefined;
}

interface Rate {
  capacity: number;
  /** Tokens per millisecond. */
  refill: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const DEFAULT_CLIENTS = 10_000;
const MAX_CLIENTS = 1_000_000;

function resolveRate(value: unknown, name: string): Rate | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') throw new ConfigError(`${name} must be { count, within }`);
  const { count, within } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > 1e9) {
    throw new ConfigError(`${name}.count must be a whole number from 1 to 1e9`);
  }
  const period = parseDuration(within, `${name}.within`);
  if (period < 1000) throw new ConfigError(`${name}.within must be at least 1 s`);
  return { capacity: count as number, refill: (count as number) / period };
}

/** Check `creationLimit` at start-up; undefined when there is none. */
export function resolveCreationLimit(
  value: unknown,
): { perClient: Rate | undefined; clients: number; overall: Rate | undefined } | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') {
    throw new ConfigError(
      'creationLimit must be { perClient?: { count, within }, overall?: { count, within } }',
    );
  }
  for (const key of Object.keys(value)) {
    if (key !== 'perClient' && key !== 'overall')
      throw new ConfigError(`creationLimit: unknown option '${key}'`);
  }
  const options = value as CreationLimitOptions;
  const perClient = resolveRate(options.perClient, 'creationLimit.perClient');
  const overall = resolveRate(options.overall, 'creationLimit.overall');
  if (!perClient && !overall) throw new ConfigError('creationLimit needs perClient, overall or both');
  const clients = options.perClient?.clients ?? DEFAULT_CLIENTS;
  if (!Number.isSafeInteger(clients) || clients < 1 || clients > MAX_CLIENTS) {
    throw new ConfigError(`creationLimit.perClient.clients must be a whole number from 1 to ${MAX_CLIENTS}`);
  }
  return { perClient, clients, overall };
}

export type ResolvedCreationLimit = NonNullable<ReturnType<typeof resolveCreationLimit>>;

/** Refill `bucket` to `now`; the milliseconds until it holds a whole token (0 when it does). */
function waitFor(bucket: Bucket, rate: Rate, now: number): number {
  if (now > bucket.at) {
    bucket.tokens = Math.min(rate.capacity, bucket.tokens + (now - bucket.at) * rate.refill);
    bucket.at = now;
  }
  // (less a hair, so that float error does not add a whole millisecond, and a second to Retry-After)
  return bucket.tokens >= 1 ? 0 : Math.ceil((1 - bucket.tokens) / rate.refill - 1e-6);
}

/** @internal */
export class CreationLimiter {
  readonly #perClient: Rate | undefined;
  readonly #overall: Rate | undefined;
  readonly #maxClients: number;
  /** Insertion order is recency order: a bucket used is moved to the end. */
  readonly #clients = new Map<string, Bucket>();
  readonly #all: Bucket | undefined;

  constructor(resolved: ResolvedCreationLimit, now: number) {
    this.#perClient = resolved.perClient;
    this.#overall = resolved.overall;
    this.#maxClients = resolved.clients;
    this.#all = resolved.overall ? { tokens: resolved.overall.capacity, at: now } : undefined;
  }

  /** How many per-client buckets are kept (for tests: memory stays bounded). */
  get clientCount(): number {
    return this.#clients.size;
  }

  /**
   * Take one creation for `client`: undefined when allowed, else why not and how long until it would
   * be (ms). Nothing is taken from either bucket when one of them refuses.
   */
  take(
    client: string | undefined,
    now: number,
  ): { scope: 'client' | 'overall'; retryAfter: number } | undefined {
    let bucket: Bucket | undefined;
    if (this.#perClient && client !== undefined) {
      bucket = this.#clients.get(client);
      if (bucket) {
        this.#clients.delete(client);
      } else {
        bucket = { tokens: this.#perClient.capacity, at: now };
        if (this.#clients.size >= this.#maxClients) {
          this.#clients.delete(this.#clients.keys().next().value!);
        }
      }
      this.#clients.set(client, bucket);
      const wait = waitFor(bucket, this.#perClient, now);
      if (wait > 0) return { scope: 'client', retryAfter: wait };
    }
    if (this.#all && this.#overall) {
      const wait = waitFor(this.#all, this.#overall, now);
      if (wait > 0) return { scope: 'overall', retryAfter: wait };
      this.#all.tokens -= 1;
    }
    if (bucket) bucket.tokens -= 1;
    return undefined;
  }
}

/** The coded error for a refused creation; `retryAfter` in ms becomes whole seconds. */
export function creationLimited(refusal: {
  scope: 'client' | 'overall';
  retryAfter: number;
}): CreationLimited {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfter / 1000));
  return new CreationLimited(
    refusal.scope === 'client'
      ? `this client created too many sessions; retry after ${seconds} s`
      : `too many sessions are being created; retry after ${seconds} s`,
    seconds,
  );
}
