/**
 * Any express-session ("connect") store as a Latchkey store: connect-redis, connect-pg-simple,
 * express-mysql-session, session-file-store, express-session's MemoryStore and any other store with
 * the callback API (`get`, `set`, `destroy`, optional `all`, `on('connect' | 'disconnect')`).
 * What such a store cannot give (compare-and-set, a user index) and what Latchkey does instead:
 * docs/stores/connect.md.
 *
 * The connect store never sees a token or anything in clear: its key is the store key
 * (base64url(SHA-256(token))), and its value is `{ cookie: { originalMaxAge, expires }, latchkey }`, where
 * `latchkey` is the whole Latchkey record (user id, clocks, version and the already-sealed data) sealed
 * again, purpose `connect`, with the store key in the AAD. The `cookie` part is there only so that each
 * store computes its own TTL the way it does for express-session (from `cookie.expires`, or
 * `cookie.originalMaxAge` for session-file-store); Latchkey decides expiry from the sealed clocks.
 *
 * @example
 * ```ts
 * import { RedisStore } from 'connect-redis';
 * import { createClient } from 'redis';
 * import { createSessions } from 'latchkey';
 * import { connectStore } from 'latchkey/stores/connect';
 *
 * const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
 * client.on('error', (err) => console.warn(err));
 * await client.connect();
 * const sessions = createSessions({ store: connectStore(new RedisStore({ client })) });
 * ```
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { createKeyring, type Keyring, parseKeyring } from '../crypto/keyring.ts';
import { randomBytes } from '../crypto/random.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { ConfigError, KeyError, StoreUnavailable } from '../errors.ts';
import {
  assertStoredRecord,
  assertStoreKey,
  assertUserId,
  isStoreKey,
  metaOf,
  oldestFirst,
  parseStoredRecord,
  type SessionStore,
  type StoredMeta,
  type StoredRecord,
  type UpdateResult,
} from './types.ts';

/** A Node-style callback as express-session's stores call it. */
export type ConnectCallback = (err?: unknown, value?: unknown) => void;

/**
 * What Latchkey calls on an express-session store. `set`'s value is typed `never` so that any store's
 * own session type fits; Latchkey passes a {@link ConnectSessionValue}.
 */
export interface ConnectStoreLike {
  get(sid: string, callback: ConnectCallback): unknown;
  set(sid: string, session: never, callback: ConnectCallback): unknown;
  destroy(sid: string, callback: ConnectCallback): unknown;
  /** Needed for listByUser/deleteByUser ("log out everywhere"): a scan of every session. */
  all?(callback: ConnectCallback): unknown;
  /** Without all(): the session ids (connect-redis), each then read with get(). */
  ids?(callback: ConnectCallback): unknown;
  /** Without all() or ids(): the file names `<id>.json` (session-file-store), each then read with get(). */
  list?(callback: ConnectCallback): unknown;
  /** Readiness: `'disconnect'` makes every call fail with StoreUnavailable until `'connect'`. */
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** The value Latchkey writes under a store key. */
export interface ConnectSessionValue {
  /** For the store's own TTL only: a little after the record's `expiresAt`, by this machine's clock. */
  cookie: { originalMaxAge: number; expires: string };
  /** The Latchkey record, sealed (purpose `connect`, the store key in the AAD). */
  latchkey: string;
}

export interface ConnectStoreOptions {
  /**
   * The keyring that seals records for the connect store (normally the one you give createSessions).
   * Defaults to `process.env.LATCHKEY_KEYS`.
   */
  keys?: string | Keyring | undefined;
  /** No keys configured: use a random key for this process (refused when NODE_ENV is 'production'). */
  development?: boolean | undefined;
  /**
   * Milliseconds to wait for each callback (get, set, destroy) before failing with StoreUnavailable.
   * Default 1000: a store that errors, hangs or is disconnected is an outage (503), never "no session".
   */
  timeout?: number | undefined;
  /** Milliseconds to wait for `all()` (listByUser, deleteByUser), which reads every session. Default 30000. */
  scanTimeout?: number | undefined;
  /** The time source for expiry decisions; tests pass a fake clock. */
  clock?: Clock | undefined;
}

const PURPOSE = 'connect';
/** The sealed record's size cap when opening (the core's records are up to a few hundred KB). */
const MAX_SEALED_LENGTH = 4 * 1024 * 1024;
/** The backing store keeps a record this much past expiresAt (stores round TTLs to seconds). */
const TTL_MARGIN_MS = 1000;

const isObject = (value: unknown): value is Record<string, unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null;

/**
 * True for an express-session style store (callback `get`, `set` and `destroy`) that is not already a
 * Latchkey SessionStore: what `connectStore` wraps.
 *
 * @example
 * ```ts
 * import { MemoryStore } from 'express-session';
 * import { isConnectStore } from 'latchkey/stores/connect';
 * isConnectStore(new MemoryStore()); // true
 * ```
 */
export function isConnectStore(value: unknown): value is ConnectStoreLike {
  if (!isObject(value)) return false;
  const has = (name: string) => typeof value[name] === 'function';
  const latchkeyStore = has('create') && has('update') && has('listByUser') && has('deleteByUser');
  return has('get') && has('set') && has('destroy') && !latchkeyStore;
}

function resolveKeyring(options: ConnectStoreOptions): Keyring {
  const keys = options.keys ?? process.env.LATCHKEY_KEYS;
  if (keys !== undefined && keys !== '') return parseKeyring(keys);
  if (options.development === true) {
    if (process.env.NODE_ENV === 'production') {
      throw new ConfigError("development: true is refused when NODE_ENV is 'production'");
    }
    process.emitWarning(
      'latchkey: connectStore has no keys; records are sealed with a random key that lasts until this ' +
        'process exits. Pass { keys } (the keys you give createSessions) or set LATCHKEY_KEYS.',
      { code: 'LATCHKEY_EPHEMERAL_KEY' },
    );
    return createKeyring([{ kid: 'dev', key: randomBytes(32) }]);
  }
  throw new KeyError(
    'connectStore has no keys: set LATCHKEY_KEYS or pass { keys } (the keys you give createSessions); ' +
      'for local development pass { development: true }',
  );
}

function checkTimeout(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > 600_000) {
    throw new ConfigError(`${name} must be a whole number of milliseconds from 1 to 600000`);
  }
  return value;
}

/**
 * Wrap an express-session store so that Latchkey can use it: `createSessions({ store: connectStore(x) })`.
 * Compare-and-set is emulated with a per-process lock per key and a read-compare-write; across
 * processes the last writer wins (docs/stores/connect.md). Throws ConfigError for something that is
 * not a connect store, and KeyError without keys.
 */
export function connectStore(store: ConnectStoreLike, options: ConnectStoreOptions = {}): SessionStore {
  if (!isObject(options)) throw new ConfigError('connectStore options must be an object');
  if (!isConnectStore(store)) {
    const value: unknown = store;
    throw new ConfigError(
      isObject(value) && typeof value.create === 'function'
        ? 'connectStore wraps express-session stores; this is a Latchkey store already: pass it as is'
        : 'connectStore needs an express-session store (with get, set and destroy callbacks)',
    );
  }
  return new ConnectSessionStore(store, options);
}

class ConnectSessionStore implements SessionStore {
  readonly #store: ConnectStoreLike;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #timeout: number;
  readonly #scanTimeout: number;
  /** Per store key, the tail of the queue of writes to it in this process. */
  readonly #locks = new Map<string, Promise<void>>();
  #connected = true;

  constructor(store: ConnectStoreLike, options: ConnectStoreOptions) {
    this.#store = store;
    this.#keyring = resolveKeyring(options);
    this.#clock = options.clock ?? systemClock;
    if (typeof this.#clock?.now !== 'function') throw new ConfigError('clock must have a now() method');
    this.#timeout = checkTimeout(options.timeout, 1000, 'timeout');
    this.#scanTimeout = checkTimeout(options.scanTimeout, 30_000, 'scanTimeout');
    // express-session's readiness events: a store starts ready, as express-session assumes.
    if (typeof store.on === 'function') {
      store.on('disconnect', () => {
        this.#connected = false;
      });
      store.on('connect', () => {
        this.#connected = true;
      });
    }
  }

  async create(storeKey: string, record: StoredRecord): Promise<boolean> {
    assertStoreKey(storeKey);
    assertStoredRecord(record);
    return this.#locked(storeKey, async () => {
      // Anything at the key, even a value Latchkey cannot open, means the key is taken: never overwrite.
      if ((await this.#fetch(storeKey)) !== null) return false;
      await this.#write(storeKey, record);
      return true;
    });
  }

  async get(storeKey: string): Promise<StoredRecord | null> {
    if (!isStoreKey(storeKey)) return null;
    return this.#live(this.#open(storeKey, await this.#fetch(storeKey)));
  }

  async update(storeKey: string, record: StoredRecord, expectedVersion: number): Promise<UpdateResult> {
    assertStoreKey(storeKey);
    assertStoredRecord(record);
    return this.#locked(storeKey, async () => {
      const current = this.#live(this.#open(storeKey, await this.#fetch(storeKey)));
      if (current === null) return 'missing';
      if (current.version !== expectedVersion) return 'conflict';
      await this.#write(storeKey, record);
      return 'ok';
    });
  }

  async touch(storeKey: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    if (!isStoreKey(storeKey)) return false;
    // A connect store's own touch() only moves its TTL; the clocks live in the sealed record, so the
    // record is rewritten (the core calls touch at most once per touchAfter).
    return this.#locked(storeKey, async () => {
      const current = this.#live(this.#open(storeKey, await this.#fetch(storeKey)));
      if (current === null) return false;
      const touched = { ...current, expiresAt, lastSeenAt };
      assertStoredRecord(touched);
      await this.#write(storeKey, touched);
      return true;
    });
  }

  async delete(storeKey: string): Promise<boolean> {
    if (!isStoreKey(storeKey)) return false;
    return this.#locked(storeKey, async () => {
      const raw = await this.#fetch(storeKey);
      if (raw === null) return false;
      const live = this.#live(this.#open(storeKey, raw)) !== null;
      await this.#call('destroy', this.#timeout, (done) => this.#store.destroy(storeKey, done));
      return live;
    });
  }

  async listByUser(userId: string): Promise<StoredMeta[]> {
    assertUserId(userId);
    const metas: StoredMeta[] = [];
    for (const [storeKey, value] of await this.#all()) {
      const record = this.#live(this.#open(storeKey, value));
      if (record?.userId === userId) metas.push(metaOf(storeKey, userId, record));
    }
    return metas.sort(oldestFirst);
  }

  async deleteByUser(userId: string, exceptStoreKey?: string): Promise<number> {
    let deleted = 0;
    for (const meta of await this.listByUser(userId)) {
      if (meta.storeKey !== exceptStoreKey && (await this.delete(meta.storeKey))) deleted++;
    }
    return deleted;
  }

  /** Run `body` after every earlier write to `storeKey` in this process has finished. */
  async #locked<R>(storeKey: string, body: () => Promise<R>): Promise<R> {
    const previous = this.#locks.get(storeKey);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous ? previous.then(() => mine) : mine;
    this.#locks.set(storeKey, tail);
    try {
      if (previous) await previous;
      return await body();
    } finally {
      release();
      if (this.#locks.get(storeKey) === tail) this.#locks.delete(storeKey);
    }
  }

  /** The raw value under the key, or null when there is none. */
  async #fetch(storeKey: string): Promise<unknown> {
    const value = await this.#call('get', this.#timeout, (done) => this.#store.get(storeKey, done), true);
    return value ?? null;
  }

  async #write(storeKey: string, record: StoredRecord): Promise<void> {
    const value = this.#seal(storeKey, record);
    await this.#call('set', this.#timeout, (done) => this.#store.set(storeKey, value as never, done));
  }

  /** A record or null; null too for a value Latchkey did not write or that was altered (no session). */
  #open(storeKey: string, value: unknown): StoredRecord | null {
    if (!isObject(value) || typeof value.latchkey !== 'string') return null;
    const opened = openValue(this.#keyring, PURPOSE, storeKey, value.latchkey, MAX_SEALED_LENGTH);
    if (!opened.ok) return null;
    try {
      return parseStoredRecord(JSON.parse(new TextDecoder().decode(opened.plaintext)));
    } catch {
      return null;
    }
  }

  #live(record: StoredRecord | null): StoredRecord | null {
    return record !== null && record.expiresAt > this.#clock.now() ? record : null;
  }

  #seal(storeKey: string, record: StoredRecord): ConnectSessionValue {
    // The backing store's TTL, by this machine's clock (the Latchkey clock may be a test's fake one),
    // rounded up to a whole second and a second past expiresAt.
    const remaining = Math.max(0, record.expiresAt - this.#clock.now());
    const now = Date.now();
    const until = Math.ceil((now + remaining + TTL_MARGIN_MS) / 1000) * 1000;
    return {
      cookie: { originalMaxAge: until - now, expires: new Date(until).toISOString() },
      latchkey: sealValue(this.#keyring, PURPOSE, storeKey, JSON.stringify(record)),
    };
  }

  /**
   * Every session the store holds, by key: from `all()` (an array with ids, or an object by id), or
   * else from a list of ids (`ids()`, as connect-redis has; `list()` of file names, as
   * session-file-store has) and one get per id.
   */
  async #all(): Promise<Array<[string, unknown]>> {
    const store = this.#store;
    if (typeof store.all === 'function') {
      const all = store.all;
      const sessions = await this.#call('all', this.#scanTimeout, (done) => all.call(store, done));
      if (Array.isArray(sessions)) {
        return sessions.flatMap((value): Array<[string, unknown]> => {
          const id = isObject(value) ? (value.id ?? value.sid ?? value._id) : undefined;
          return typeof id === 'string' ? [[id, value]] : [];
        });
      }
      if (isObject(sessions)) return Object.entries(sessions);
      if (sessions === null || sessions === undefined) return [];
      throw new StoreUnavailable('connect store all() answered neither an array nor an object');
    }
    const lister =
      typeof store.ids === 'function' ? 'ids' : typeof store.list === 'function' ? 'list' : undefined;
    if (lister === undefined) {
      throw new ConfigError(
        'this connect store has no all() (nor ids() or list()): listUserSessions, revokeUserSessions ' +
          'and maxSessionsPerUser need one (docs/stores/connect.md); use a store that has it, or a Latchkey store',
      );
    }
    const list = store[lister]!;
    const names = await this.#call(lister, this.#scanTimeout, (done) => list.call(store, done));
    if (!Array.isArray(names)) throw new StoreUnavailable(`connect store ${lister}() answered no array`);
    // Only names that are (or start with) a store key and a '.': `<key>.json` files, say.
    const keys = new Set<string>();
    for (const name of names) {
      if (typeof name !== 'string') continue;
      const key = name.slice(0, 43);
      if (isStoreKey(key) && (name.length === 43 || name[43] === '.')) keys.add(key);
    }
    const found: Array<[string, unknown]> = [];
    for (const key of keys) found.push([key, await this.#fetch(key)]);
    return found;
  }

  /**
   * One callback call: resolves with its value, or fails with StoreUnavailable when the store is
   * disconnected, throws, answers an error, or does not answer within `timeout` ms. For `get`, a
   * missing file (session-file-store's ENOENT) is no session, as express-session takes it.
   */
  #call(
    operation: string,
    timeout: number,
    invoke: (done: ConnectCallback) => unknown,
    missingIsNull = false,
  ): Promise<unknown> {
    if (!this.#connected) {
      return Promise.reject(new StoreUnavailable(`connect store disconnected (${operation} refused)`));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (cause: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (missingIsNull && isObject(cause) && cause.code === 'ENOENT') resolve(null);
        else reject(connectUnavailable(operation, cause));
      };
      const timer = setTimeout(() => fail(new StoreUnavailable(`no answer within ${timeout} ms`)), timeout);
      const done: ConnectCallback = (err, value) => {
        if (err !== undefined && err !== null) return fail(err);
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      try {
        const returned = invoke(done);
        // A promise-returning store that rejects instead of calling back (and no unhandled rejection).
        if (isObject(returned) && typeof returned.then === 'function') {
          (returned as unknown as PromiseLike<unknown>).then(undefined, fail);
        }
      } catch (error) {
        fail(error);
      }
    });
  }
}

/** The coded outage; the message names the operation and the driver's reason, never a key or record. */
function connectUnavailable(operation: string, cause: unknown): StoreUnavailable {
  const first = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  // Drop anything that looks like a store key (a file path in session-file-store's errors, say).
  const reason = (first ?? '').replace(/[A-Za-z0-9_-]{43}/g, '…').slice(0, 200);
  return new StoreUnavailable(`connect store ${operation} failed: ${reason}`, { cause });
}
