/**
 * Framework-native session objects: `ctx.session.views = 1` (koa-session), `request.session.x = 1`
 * (@fastify/session) or `session.forget(key)` (hono-sessions) on Latchkey's one Session. A Proxy whose
 * target is the core session: the core's API reads and calls through it, so the proxy can go wherever
 * a Session goes (csrf tokens, `revokeUserSessions({ except })`); any other property name is a
 * top-level data key, written with the core's `set()` and removed with its `delete()`. Nothing is
 * dropped: a value the session cannot keep throws ERR_LATCHKEY_VALUE at the write, and a name of the
 * API written as data throws too (use `set(name, value)` for such a key). Internal: the adapters are
 * the entry points.
 */
import { assertJsonValue, isAllowedKey, isPlainObject } from '../core/json.ts';
import type { Session, SessionData, SessionImpl } from '../core/session.ts';
import { SessionStateError, SessionValueError } from '../errors.ts';

/**
 * `util.inspect.custom`, by its registered name: the same symbol, without importing node:util, so
 * that latchkey/fetch (which uses these sessions) still runs where there is no node:util (workerd
 * without nodejs_compat, browsers' bundlers).
 */
const INSPECT_CUSTOM = Symbol.for('nodejs.util.inspect.custom');

/**
 * One request's native session: the core session behind it (replaced by a reload), its proxy (made on
 * first use), and the work the app started without awaiting it (a `ctx.session = null`, a Fastify
 * `delete()`), which the adapter settles before it commits.
 */
export interface NativeSlot<H = unknown> {
  impl: SessionImpl<object>;
  /** The framework object the session hangs on (Koa's ctx, Fastify's request). */
  readonly host: H;
  proxy: object | undefined;
  pending: Promise<void> | undefined;
  /** How many of the tracked operations are still under way. */
  inFlight: number;
  /** Committed ahead of the adapter (Koa's `manuallyCommit()`): the adapter commits nothing more. */
  committed: boolean;
  failed: boolean;
  failure: unknown;
}

export function newSlot<H>(impl: SessionImpl<object>, host: H): NativeSlot<H> {
  return {
    impl,
    host,
    proxy: undefined,
    pending: undefined,
    inFlight: 0,
    committed: false,
    failed: false,
    failure: undefined,
  };
}

/**
 * Run `work` as part of this request's session: the commit waits for it, and a failure (a store
 * outage) fails the request the way a failed commit does. The promise returned rejects too, for a
 * caller that awaits it, but one nobody awaits is no unhandled rejection.
 */
export function track<H>(slot: NativeSlot<H>, work: Promise<unknown>): Promise<void> {
  slot.inFlight++;
  // The count drops before `done` resolves, so code that awaits it may write to the session again.
  const done = work.then(
    () => {
      slot.inFlight--;
    },
    (error: unknown) => {
      slot.inFlight--;
      if (!slot.failed) {
        slot.failed = true;
        slot.failure = error;
      }
      throw error;
    },
  );
  done.catch(() => undefined);
  const before = slot.pending;
  const all = (before === undefined ? done : Promise.all([before, done])).then(() => undefined);
  all.catch(() => undefined);
  slot.pending = all;
  return done;
}

/** Run `step` after the work already tracked (as the app wrote it: in order), and track it too. */
export function trackAfter<H>(slot: NativeSlot<H>, step: () => unknown): Promise<void> {
  const before = slot.pending;
  if (before === undefined) {
    let started: unknown;
    try {
      started = step();
    } catch (error) {
      return track(slot, Promise.reject(error));
    }
    return track(slot, Promise.resolve(started));
  }
  return track(slot, before.then(step));
}

/** Wait for the work `track` took on (the commit goes after it); throw what failed. */
export async function settle<H>(slot: NativeSlot<H>): Promise<void> {
  while (slot.pending !== undefined) {
    const pending = slot.pending;
    await pending.catch(() => undefined);
    if (slot.pending === pending) slot.pending = undefined;
  }
  if (slot.failed) throw slot.failure;
}

/** A write made while a `ctx.session = null` (or the like) is still under way would be wiped by it. */
function assertSettled<H>(slot: NativeSlot<H>): void {
  if (slot.inFlight > 0) {
    throw new SessionStateError(
      'the session is being destroyed or regenerated: await that (for example `await ctx.session.destroy()`) before writing to it',
    );
  }
}

/** The core's TypeError for a bad key or value, as the coded error the native API promises. */
function coded(error: unknown): unknown {
  return error instanceof TypeError ? new SessionValueError(error.message, { cause: error }) : error;
}

/** `set(key, value)` with ERR_LATCHKEY_VALUE for what the session cannot keep. */
export function setValue<H>(slot: NativeSlot<H>, key: unknown, value: unknown): void {
  assertSettled(slot);
  try {
    (slot.impl as SessionImpl<Record<string, unknown>>).set(key as string, value);
  } catch (error) {
    throw coded(error);
  }
}

export function deleteValue<H>(slot: NativeSlot<H>, key: unknown): void {
  assertSettled(slot);
  if (typeof key !== 'string') throw new SessionValueError('session keys are non-empty strings');
  (slot.impl as SessionImpl<Record<string, unknown>>).delete(key);
}

/**
 * `ctx.session = { … }`: the data becomes exactly this object's keys (koa-session's replace). The
 * entries to write, checked whole before anything changes, so a bad value leaves the session as it was.
 */
export function replacementOf(value: unknown): Array<[string, unknown]> {
  if (!isPlainObject(value)) {
    throw new SessionValueError(
      'a session can be replaced by a plain object of its data, or null to destroy it',
    );
  }
  const entries = Object.entries(value).filter(([, item]) => item !== undefined);
  for (const [key, item] of entries) {
    if (!isAllowedKey(key)) throw new SessionValueError(`'${key}' cannot be a session key`);
    try {
      assertJsonValue(item, `session value '${key}'`);
    } catch (error) {
      throw coded(error);
    }
  }
  return entries;
}

/** Make the data exactly `entries` (from {@link replacementOf}). */
export function replaceData<H>(slot: NativeSlot<H>, entries: ReadonlyArray<[string, unknown]>): void {
  const impl = slot.impl as SessionImpl<Record<string, unknown>>;
  const keep = new Set(entries.map(([key]) => key));
  for (const key of Object.keys(impl.data)) if (!keep.has(key)) impl.delete(key);
  for (const [key, item] of entries) impl.set(key, item);
}

/**
 * Assign to the framework's session property: null destroys the session, a plain object replaces its
 * data, and the session object itself changes nothing. After a destroy still under way, the
 * replacement waits for it (it is the new session's data).
 */
export function assignSession<H>(slot: NativeSlot<H>, value: unknown): void {
  if (value === slot.proxy || value === slot.impl) return;
  if (value === null) {
    trackAfter(slot, () => slot.impl.destroy());
    return;
  }
  const entries = replacementOf(value);
  if (slot.inFlight === 0) replaceData(slot, entries);
  else trackAfter(slot, () => replaceData(slot, entries));
}

/** A plain copy of the data: `toJSON()` and what `util.inspect` shows. */
export function dataCopy<H>(slot: NativeSlot<H>): Record<string, unknown> {
  return { ...(slot.impl.data as Record<string, unknown>) };
}

/**
 * An async method the peers' way: a promise, or with a Node-style callback, a promise that settles
 * after the callback was called and never rejects (the callback got the error).
 */
export function withCallback(work: Promise<void>, callback: unknown): Promise<void> {
  if (typeof callback !== 'function') return work;
  const report = callback as (error?: unknown) => void;
  return work.then(
    () => report(),
    (error: unknown) => report(error),
  );
}

/** A framework's additions: methods (called with the slot first) and accessors. */
export interface NativeApi<H> {
  readonly methods: Readonly<Record<string, (slot: NativeSlot<H>, ...args: never[]) => unknown>>;
  readonly accessors: Readonly<
    Record<string, { get(slot: NativeSlot<H>): unknown; set?(slot: NativeSlot<H>, value: unknown): void }>
  >;
}

/** What every native session adds to the core: `set` with coded errors, `toJSON`, `inspect`. */
const COMMON_METHODS = {
  set: (slot: NativeSlot, key: unknown, value: unknown) => setValue(slot, key, value),
  delete: (slot: NativeSlot, key: unknown) => deleteValue(slot, key),
  toJSON: (slot: NativeSlot) => dataCopy(slot),
  // After a sign-out or rotation still under way (`ctx.session = null`), in the order the app wrote them.
  destroy: (slot: NativeSlot) => trackAfter(slot, () => slot.impl.destroy()),
  regenerate: (slot: NativeSlot) => trackAfter(slot, () => slot.impl.regenerate()),
  login: (slot: NativeSlot, userId: string) => trackAfter(slot, () => slot.impl.login(userId)),
};

function handlerFor<H>(slot: NativeSlot<H>, api: NativeApi<H>): ProxyHandler<SessionImpl<object>> {
  // Bound methods, made on first use: `ctx.session.get` is the same function each time.
  const bound = new Map<PropertyKey, unknown>();
  const methodOf = (name: string): unknown => {
    let method = bound.get(name);
    if (method === undefined) {
      const own = api.methods[name] ?? COMMON_METHODS[name as keyof typeof COMMON_METHODS];
      method = (...args: never[]) => (own as (s: NativeSlot<H>, ...a: never[]) => unknown)(slot, ...args);
      bound.set(name, method);
    }
    return method;
  };
  const isApi = (name: string): boolean =>
    Object.hasOwn(api.methods, name) ||
    Object.hasOwn(api.accessors, name) ||
    Object.hasOwn(COMMON_METHODS, name);
  return {
    get(_target, prop) {
      const impl = slot.impl;
      if (typeof prop === 'symbol') {
        if (prop === INSPECT_CUSTOM) return () => dataCopy(slot);
        return Reflect.get(impl, prop, impl);
      }
      const accessor = api.accessors[prop];
      if (accessor !== undefined && Object.hasOwn(api.accessors, prop)) return accessor.get(slot);
      if (Object.hasOwn(api.methods, prop) || Object.hasOwn(COMMON_METHODS, prop)) return methodOf(prop);
      if (prop in impl) {
        // The core's API and internals, with the core session itself as `this` (its private fields).
        const value = Reflect.get(impl, prop, impl);
        if (typeof value !== 'function') return value;
        let method = bound.get(prop);
        if (method === undefined || (method as { target?: unknown }).target !== impl) {
          method = Object.assign((value as (...a: unknown[]) => unknown).bind(impl), { target: impl });
          bound.set(prop, method);
        }
        return method;
      }
      const data = impl.data as Record<string, unknown>;
      return Object.hasOwn(data, prop) ? data[prop] : undefined;
    },
    set(_target, prop, value) {
      const impl = slot.impl;
      if (typeof prop === 'symbol') throw new SessionValueError('session keys are strings, not symbols');
      const accessor = api.accessors[prop];
      if (accessor?.set !== undefined && Object.hasOwn(api.accessors, prop)) {
        accessor.set(slot, value);
        return true;
      }
      // The core's own fields (`_locked` and the like), for code inside Latchkey that holds the proxy.
      if (Object.hasOwn(impl, prop)) return Reflect.set(impl, prop, value, impl);
      if (isApi(prop) || prop in impl) {
        throw new SessionValueError(
          `'${prop}' is part of the session's API, not a data key: use session.set('${prop}', value)`,
        );
      }
      setValue(slot, prop, value);
      return true;
    },
    deleteProperty(_target, prop) {
      if (typeof prop === 'symbol' || isApi(prop) || prop in slot.impl) {
        throw new SessionValueError(`'${String(prop)}' is not a data key: it cannot be deleted`);
      }
      deleteValue(slot, prop);
      return true;
    },
    has(_target, prop) {
      if (typeof prop === 'symbol') return prop in slot.impl;
      return isApi(prop) || prop in slot.impl || Object.hasOwn(slot.impl.data, prop);
    },
    ownKeys() {
      return Object.keys(slot.impl.data);
    },
    getOwnPropertyDescriptor(_target, prop) {
      const data = slot.impl.data as Record<string, unknown>;
      if (typeof prop !== 'string' || !Object.hasOwn(data, prop)) return undefined;
      return { value: data[prop], writable: true, enumerable: true, configurable: true };
    },
    defineProperty(_target, prop, descriptor) {
      if (typeof prop === 'symbol' || !('value' in descriptor) || isApi(prop) || prop in slot.impl) {
        throw new SessionValueError(
          `'${String(prop)}' cannot be defined on a session: set data keys to values`,
        );
      }
      setValue(slot, prop, descriptor.value);
      return true;
    },
    getPrototypeOf() {
      return Object.getPrototypeOf(slot.impl);
    },
    setPrototypeOf() {
      throw new SessionValueError("a session's prototype cannot be changed");
    },
    preventExtensions() {
      throw new SessionValueError('a session cannot be frozen or sealed');
    },
  };
}

/**
 * The slot's native session object, made on first use and kept for the request (until a reload puts
 * another core session in the slot).
 */
export function nativeSession<H, S>(slot: NativeSlot<H>, api: NativeApi<H>): S {
  if (slot.proxy === undefined) slot.proxy = new Proxy(slot.impl, handlerFor(slot, api));
  return slot.proxy as S;
}

/**
 * The data's keys as optional properties, except names of the session's API (`isNew`, `get`, …):
 * those keys are reached with `get(name)` and `set(name, value)`.
 */
export type DataProperties<T, Api> = Partial<Omit<T, keyof Session<SessionData> | keyof Api>>;
