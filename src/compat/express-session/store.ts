/**
 * express-session's `Store` base class and its in-memory `MemoryStore`, with express-session's
 * callback API (`get`, `set`, `destroy`, `touch`, `all`, `length`, `clear`): for code that subclasses
 * `session.Store` or creates `new session.MemoryStore()`. Such a connect-style store plugs into
 * latchkey/express through the connect-store wrapper (see docs/migrate-from-express-session.md);
 * Latchkey hands it sealed records under hashed keys.
 */
import { EventEmitter } from 'node:events';
import { parseSafeJson } from '../../core/json.ts';

type Callback<T = void> = (error: unknown, value?: T) => void;
/** A session as a connect-style store keeps it: JSON, with express-session's `cookie` in it. */
export type StoredSession = Record<string, unknown> & { cookie?: { expires?: string | Date | null } };

/** express-session's abstract store: an EventEmitter that connect stores extend. */
export interface Store extends EventEmitter {
  /** Fetch `sid` and pass what it holds (or nothing) to `callback`. */
  load(sid: string, callback: Callback<StoredSession | undefined>): void;
}

/** `new Store()`, `class X extends Store`, and the older `Store.call(this)` with `util.inherits`. */
export interface StoreConstructor {
  new (): Store;
  (this: Store): void;
  readonly prototype: Store;
}

/**
 * A function, not a class: connect stores written before classes (`session.Store.call(this)` with
 * `util.inherits(MyStore, session.Store)`) call it without `new`, which a class refuses.
 */
export const Store = function Store(this: Store) {
  EventEmitter.call(this);
} as unknown as StoreConstructor;
Object.setPrototypeOf(Store.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Store, EventEmitter);
Store.prototype.load = function load(sid, callback) {
  const self = this as unknown as { get?: (sid: string, cb: Callback<StoredSession | null>) => void };
  if (typeof self.get !== 'function') {
    callback(new TypeError('this store has no get()'));
    return;
  }
  self.get(sid, (error, session) => {
    if (error) callback(error);
    else callback(null, session ?? undefined);
  });
};

function expiresOf(session: StoredSession): number | undefined {
  const expires = session.cookie?.expires;
  if (expires === undefined || expires === null) return undefined;
  const time = typeof expires === 'string' ? Date.parse(expires) : expires.valueOf();
  return Number.isNaN(time) ? undefined : time;
}

/** Call back on a later tick, as express-session's MemoryStore does. */
function defer<T>(callback: Callback<T> | undefined, error: unknown, value?: T): void {
  if (typeof callback === 'function') setImmediate(() => callback(error, value));
}

/**
 * express-session's in-memory store, for development and tests: sessions as JSON text in a Map,
 * expired ones dropped when read.
 *
 * @example
 * ```ts
 * import { MemoryStore } from 'latchkey/express';
 * const store = new MemoryStore();
 * store.set('sid', { cookie: { expires: null }, n: 1 }, () => store.length((_e, n) => console.log(n)));
 * ```
 */
export class MemoryStore extends Store {
  readonly sessions = new Map<string, string>();

  #read(sid: string): StoredSession | undefined {
    const text = this.sessions.get(sid);
    if (text === undefined) return undefined;
    const session = parseSafeJson(text) as StoredSession;
    const expires = expiresOf(session);
    if (expires !== undefined && expires <= Date.now()) {
      this.sessions.delete(sid);
      return undefined;
    }
    return session;
  }

  get(sid: string, callback: Callback<StoredSession | undefined>): void {
    defer(callback, null, this.#read(sid));
  }

  set(sid: string, session: StoredSession, callback?: Callback): void {
    this.sessions.set(sid, JSON.stringify(session));
    defer(callback, null);
  }

  destroy(sid: string, callback?: Callback): void {
    this.sessions.delete(sid);
    defer(callback, null);
  }

  touch(sid: string, session: StoredSession, callback?: Callback): void {
    const current = this.#read(sid);
    if (current !== undefined) {
      if (session.cookie !== undefined) current.cookie = session.cookie;
      this.sessions.set(sid, JSON.stringify(current));
    }
    defer(callback, null);
  }

  all(callback: Callback<Record<string, StoredSession>>): void {
    const all: Record<string, StoredSession> = Object.create(null);
    for (const sid of [...this.sessions.keys()]) {
      const session = this.#read(sid);
      if (session !== undefined) all[sid] = session;
    }
    defer(callback, null, all);
  }

  length(callback: Callback<number>): void {
    this.all((error, all) => callback(error, all ? Object.keys(all).length : 0));
  }

  clear(callback?: Callback): void {
    this.sessions.clear();
    defer(callback, null);
  }
}
