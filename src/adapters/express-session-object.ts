/**
 * latchkey/express's `req.session` object: the app's data as its own properties, express-session's
 * methods on its prototype, and what one request's session works on. Internal: latchkey/express is
 * the entry point.
 */
import type { IncomingMessage } from 'node:http';
import { Cookie } from '../compat/express-session/cookie.ts';
import type { SessionCookieOptions } from '../core/cookie-overrides.ts';
import { parseSafeJson } from '../core/json.ts';
import { asImpl, type Session } from '../core/session.ts';
import { SessionStateError } from '../errors.ts';
import { reportError } from './errors.ts';
import type { Data, ExpressSession } from './express.ts';
import type { Resolved } from './express-options.ts';
import { NOT_SECURE, SECURE } from './shared.ts';

type Callback = (error?: unknown) => void;

/** What one request's `req.session` works on. */
export interface RequestState {
  readonly req: ExpressRequest;
  readonly resolved: Resolved;
  core: Session<Data>;
  /** destroy() was called: `req.session` is gone on purpose. */
  destroyed: boolean;
  /** What was copied onto `req.session`, by reference: only what the app changed there is synced. */
  copied: ReadonlyMap<string, unknown>;
  /** The signed-in user the userId reader saw as the request began (for the default reader). */
  identityAtLoad?: unknown;
  /** `req.session.cookie`, made on first access; its starting fields, to find what the app changed. */
  cookie?: { object: Cookie; initial: readonly unknown[] } | undefined;
}

export const NOTHING_COPIED: ReadonlyMap<string, unknown> = new Map();

export type ExpressRequest = IncomingMessage & {
  session?: (ExpressSession & Partial<Data>) | null | undefined;
  sessionID?: string | undefined;
  secure?: boolean;
};

/**
 * The request state behind a `req.session` object, or undefined for anything else. Set by the class's
 * static block, the one place that can read its private field.
 */
export let stateBehind: (value: unknown) => RequestState | undefined;

function stateOf(session: object): RequestState {
  const state = stateBehind(session);
  if (!state) throw new SessionStateError('this req.session belongs to no request');
  return state;
}

/** Run an async method the express-session way: with a callback (returning the session) or a promise. */
function settle<S>(self: S, work: Promise<void>, callback: Callback | undefined): S | Promise<void> {
  if (typeof callback !== 'function') {
    // express-session's methods never reject: a `req.session.save()` nobody awaits (say, after the
    // response went out) must not become an unhandled rejection that ends the process. It is reported;
    // a caller that awaits still gets the error.
    work.catch(reportError);
    return work;
  }
  work.then(
    () => callback(),
    (error: unknown) => callback(error),
  );
  return self;
}

/** A value as it comes back from JSON, as express-session stores it (Dates become strings). */
function jsonCopy(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : parseSafeJson(text);
}

function cookieOf(session: object): Cookie {
  const state = stateOf(session);
  state.cookie ??= newCookie(state);
  return state.cookie.object;
}

class LatchkeySessionObject {
  // A private field, not a WeakMap: one per request would cost the garbage collector more.
  readonly #state: RequestState;

  constructor(state: RequestState) {
    this.#state = state;
  }

  static {
    stateBehind = (value) =>
      typeof value === 'object' && value !== null && #state in value ? value.#state : undefined;
  }

  get id(): string | undefined {
    return asImpl(stateOf(this).core)._backing?.storeKey;
  }

  /**
   * express-session's mutable Cookie, made on first access (most requests never look). What the app
   * changes on it is kept with this session at commit (session.cookieOptions()).
   */
  // Each req.session has its own `cookie` accessor (COOKIE_PROPERTY), which shadows this one.
  get cookie(): Cookie {
    return cookieOf(this);
  }

  get latchkey(): Session<Data> {
    return stateOf(this).core;
  }

  regenerate(callback?: Callback): this | Promise<void> {
    const state = stateOf(this);
    const work = (async () => {
      await state.core.regenerate();
      // As express-session: a brand-new session. No data, no user, no flash, fresh clocks, and a new
      // CSRF secret (a token from before must not work after it).
      asImpl(state.core)._startOver();
      startCookie(state, true); // a brand-new session: the new-session cookie options again
      state.cookie = undefined;
      state.req.session = newSessionObject(state);
      state.req.sessionID = undefined; // the new record gets its id when it is written
    })();
    return settle(this, work, callback);
  }

  destroy(callback?: Callback): this | Promise<void> {
    const state = stateOf(this);
    const work = (async () => {
      await state.core.destroy();
      state.destroyed = true;
      state.req.session = undefined;
      state.req.sessionID = undefined;
    })();
    return settle(this, work, callback);
  }

  save(callback?: Callback): this | Promise<void> {
    const state = stateOf(this);
    const work = (async () => {
      syncInto(state);
      state.core.touch();
    })();
    return settle(this, work, callback);
  }

  reload(callback?: Callback): this | Promise<void> {
    const state = stateOf(this);
    const work = (async () => {
      const wasLoaded = !state.core.isNew;
      state.core = await load(state.resolved, state.req);
      startCookie(state); // reloaded into a new session: it takes the new-session cookie options too
      state.cookie = undefined;
      state.req.session = newSessionObject(state);
      // As express-session: a session whose record vanished meanwhile is an error, not a new one.
      if (wasLoaded && state.core.isNew) throw new SessionStateError('failed to load session');
      state.req.sessionID = asImpl(state.core)._backing?.storeKey;
    })();
    return settle(this, work, callback);
  }

  touch(): this {
    stateOf(this).core.touch();
    return this;
  }

  resetMaxAge(): this {
    return this.touch();
  }
}

/**
 * A new session's own cookie options from the configuration (a maxAge under a second, what the app's
 * cookie(req) answered): set before the app sees `req.session.cookie`. They make no empty session
 * worth writing (checklist #35): only data does.
 */
export function startCookie(state: RequestState, fresh = state.core.isNew): void {
  const options = state.resolved.newSessionCookie;
  if (options !== undefined && fresh) state.core.cookieOptions(options);
}

/** The fields of a Cookie that Latchkey keeps per session, for change detection (undefined as null). */
function cookieFields(cookie: Cookie): readonly unknown[] {
  const { originalMaxAge, httpOnly, secure, sameSite, path, domain, partitioned, priority } = cookie;
  return [originalMaxAge, httpOnly, secure, sameSite, path, domain, partitioned, priority].map(
    (field) => field ?? null,
  );
}

/** `req.session.cookie` as this session's cookie is now: the configuration, then its own options. */
function newCookie(state: RequestState): { object: Cookie; initial: readonly unknown[] } {
  const { core, resolved } = state;
  const own = core.cookieOptions();
  const persistent =
    own.maxAge !== null && (own.maxAge !== undefined || own.expires !== undefined || resolved.persistent);
  const cookie = new Cookie({
    ...resolved.cookie,
    ...(own.httpOnly !== undefined && { httpOnly: own.httpOnly }),
    ...(own.secure !== undefined && { secure: own.secure }),
    ...(own.sameSite !== undefined && { sameSite: own.sameSite.toLowerCase() as 'lax' | 'strict' | 'none' }),
    ...(own.path !== undefined && { path: own.path }),
    ...(own.domain !== undefined && { domain: own.domain ?? undefined }),
    ...(own.partitioned !== undefined && { partitioned: own.partitioned }),
    ...(own.priority !== undefined && { priority: own.priority ?? undefined }),
  });
  if (persistent) {
    const expires = Math.min(core.idleDeadline, core.absoluteDeadline);
    cookie._expires = new Date(expires);
    cookie.originalMaxAge =
      typeof own.maxAge === 'number' ? own.maxAge : resolved.sessions.policy.idleTimeout;
  }
  return { object: cookie, initial: cookieFields(cookie) };
}

/** What the app changed on `req.session.cookie`, into the session's own cookie options. */
function syncCookie(state: RequestState): void {
  const made = state.cookie;
  if (made === undefined) return;
  const cookie = made.object;
  const initial = made.initial;
  const now = cookieFields(cookie);
  const changed = (index: number) => now[index] !== initial[index];
  if (!now.some((_, index) => changed(index))) return;
  const changes: SessionCookieOptions = {};
  // maxAge or expires set: originalMaxAge is the new lifetime (express-session renews it on touch).
  if (changed(0)) changes.maxAge = cookie.originalMaxAge;
  if (changed(1)) changes.httpOnly = cookie.httpOnly;
  if (changed(2) && typeof cookie.secure === 'boolean') changes.secure = cookie.secure;
  if (changed(3)) {
    const sameSite = cookie.sameSite;
    changes.sameSite =
      sameSite === true ? 'strict' : sameSite === false || sameSite === undefined ? 'lax' : sameSite;
  }
  if (changed(4)) changes.path = cookie.path;
  if (changed(5)) changes.domain = cookie.domain ?? null;
  if (changed(6)) changes.partitioned = cookie.partitioned === true;
  if (changed(7)) changes.priority = cookie.priority ?? null;
  state.core.cookieOptions(changes);
  made.initial = now;
}

/** express-session's `Session` export: the class of `req.session` (made by the middleware only). */
export const SessionObject: abstract new (...args: never[]) => ExpressSession =
  LatchkeySessionObject as never;

/** Names on `req.session` that are express-session's API, never data properties. */
const RESERVED = new Set(
  Object.getOwnPropertyNames(LatchkeySessionObject.prototype).filter((name) => name !== 'constructor'),
);

/**
 * `cookie` as an own enumerable property, as express-session has it (`Object.keys(req.session)` lists
 * it); an accessor, so the Cookie is still made only when something reads it.
 */
const COOKIE_PROPERTY: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: LatchkeySessionObject) {
    return cookieOf(this);
  },
};

export function newSessionObject(state: RequestState): ExpressSession & Partial<Data> {
  const session = new LatchkeySessionObject(state) as unknown as ExpressSession & Partial<Data>;
  Object.defineProperty(session, 'cookie', COOKIE_PROPERTY);
  const copied = new Map<string, unknown>();
  state.copied = copied;
  const target = session as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(state.core.data)) {
    // A key such as `cookie` (set through another adapter) stays in the data, out of the way.
    if (RESERVED.has(key)) continue;
    target[key] = value;
    copied.set(key, value);
  }
  return session;
}

/**
 * Copy what the app changed on `req.session` into the Latchkey session: properties added or replaced,
 * and properties deleted. In-place changes inside a loaded object are the same object as the session
 * holds, so the commit's comparison finds them; keys changed through `req.session.latchkey` are left
 * as they are.
 */
function syncInto(state: RequestState, last = false): void {
  const current = state.req.session as Record<string, unknown> | null | undefined;
  const core = state.core as Session<Record<string, unknown>>;
  if (current === undefined || current === null) return;
  const own = stateBehind(current) === state;
  const copied = own ? state.copied : NOTHING_COPIED;
  // What is on req.session now, which a later sync (save(), then the commit) starts from; the commit's
  // own sync is the last, so it keeps nothing.
  const now = own && !last ? new Map<string, unknown>() : undefined;
  for (const key of Object.keys(current)) {
    if (own && RESERVED.has(key)) continue; // `cookie`, express-session's own enumerable property
    const value = current[key];
    now?.set(key, value);
    if (copied.has(key) && copied.get(key) === value) continue;
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      if (copied.has(key)) core.delete(key);
      continue;
    }
    try {
      core.set(key, value);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      // Not JSON as it stands (a Date, an object with toJSON): keep what JSON makes of it, as
      // express-session does. A key like `__proto__` stays refused.
      const copy = jsonCopy(value);
      if (copy === undefined) core.delete(key);
      else core.set(key, copy);
    }
  }
  for (const key of copied.keys()) {
    if (!Object.hasOwn(current, key)) core.delete(key);
  }
  if (now) state.copied = now;
}

/** Express's word on HTTPS (`req.secure`, which follows `trust proxy`), when the options take it. */
export function loadOptions(
  resolved: Resolved,
  req: ExpressRequest,
): { secure: boolean; loopback?: boolean } | undefined {
  const fromExpress = resolved.useReqSecure && typeof req.secure === 'boolean' ? req.secure : undefined;
  if (resolved.strictSecure) {
    // The app said cookie.secure: true (or 'auto'): as express-session, no cookie unless the request
    // is HTTPS, not even the plain-HTTP loopback allowance of local development.
    const secure = fromExpress ?? transportIsSecure(req, resolved.trustForwardedProto);
    return secure ? SECURE : STRICTLY_NOT_SECURE;
  }
  if (fromExpress === undefined) return undefined;
  return fromExpress ? SECURE : NOT_SECURE;
}

const STRICTLY_NOT_SECURE = Object.freeze({ secure: false, loopback: false });

/** A TLS socket, or (proxy: true) an X-Forwarded-Proto whose first value is https, as express-session. */
function transportIsSecure(req: ExpressRequest, trustForwardedProto: boolean): boolean {
  if ((req.socket as { encrypted?: unknown } | undefined)?.encrypted === true) return true;
  if (!trustForwardedProto) return false;
  const header = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim().toLowerCase();
  return first === 'https';
}

export function load(resolved: Resolved, req: ExpressRequest): Promise<Session<Data>> {
  return resolved.sessions.load(requestToLoad(resolved, req), loadOptions(resolved, req));
}

/** A cookie value cookie-parser may hand over: printable ASCII with no separator of its own. */
const PLAIN_VALUE = /^[\x21-\x2b\x2d-\x3a\x3c-\x7e]{1,4096}$/;

/**
 * The request as the session is loaded from it. When cookie-parser ran and the session cookie is not
 * in the Cookie header (an app or a proxy rewrote it), the cookies it parsed into `req.signedCookies`
 * or `req.cookies` stand in, as express-session reads them; the value is still Latchkey's, verified
 * as strictly as ever.
 */
export function requestToLoad(resolved: Resolved, req: ExpressRequest): ExpressRequest {
  const parsed = req as ExpressRequest & { cookies?: unknown; signedCookies?: unknown };
  if (parsed.cookies === undefined && parsed.signedCookies === undefined) return req;
  const name = resolved.sessions.cookieName;
  const header = req.headers.cookie;
  if (typeof header === 'string' && header.includes(`${name}=`)) return req;
  const pairs: string[] = [];
  for (const jar of [parsed.signedCookies, parsed.cookies]) {
    if (typeof jar !== 'object' || jar === null) continue;
    for (const [key, value] of Object.entries(jar)) {
      if (key !== name && !key.startsWith(`${name}.`)) continue;
      if (typeof value === 'string' && PLAIN_VALUE.test(value)) pairs.push(`${key}=${value}`);
    }
  }
  if (pairs.length === 0) return req;
  return Object.assign(Object.create(req) as ExpressRequest, {
    headers: { ...req.headers, cookie: pairs.join('; ') },
  });
}

/**
 * The last word before the commit: what the app did to `req.session` becomes the session. A promise
 * only when there is something to wait for (so a cookie-mode commit can happen at once).
 */
export function finish(state: RequestState): undefined | Promise<void> {
  const current = state.req.session;
  if ((current === undefined || current === null) && !state.destroyed) {
    // The app removed req.session itself (express-session's `unset`).
    return state.resolved.unsetDestroy ? state.core.destroy() : undefined;
  }
  const sessionID = state.req.sessionID as unknown;
  if (sessionID !== undefined && typeof sessionID !== 'string') {
    // As express-session: an app that put something other than an id in req.sessionID gets nothing
    // saved and no cookie on this response.
    asImpl(state.core)._endedElsewhere();
    return undefined;
  }
  syncInto(state, true);
  syncCookie(state);
  // resave is about the store: in cookie mode an unchanged session has nothing to save, and a new
  // Set-Cookie on every response is what `rolling` asks for, not resave.
  if (state.resolved.resave && state.resolved.sessions.mode === 'store') state.core.touch();
  if (state.resolved.saveUninitialized && !state.destroyed) {
    asImpl(state.core)._keepEmpty = true;
    if (state.core.isNew) state.core.touch(); // a new session is written even with nothing in it
  }
  const userIdOf = state.resolved.userIdOf;
  // After destroy() there is no req.session to read a user from: the session is gone anyway.
  if (userIdOf !== undefined && current !== undefined && current !== null) {
    const found = userIdOf(current as unknown as Partial<Data> & Record<string, unknown>);
    const userId = typeof found === 'number' && Number.isFinite(found) ? String(found) : found;
    const removed =
      (userId === undefined || userId === null) &&
      state.core.userId !== undefined &&
      // The default reader: a user bound through latchkey.login() with no such field stays signed in.
      (!state.resolved.userIdByDefault || state.identityAtLoad !== undefined);
    if (removed) {
      // The app removed its user (a sign-out by deleting the field, as with express-session): the
      // session goes on anonymous under a new token, out of the user's device list and revocation.
      return asImpl(state.core)._signOutUser();
    }
    if (userId !== undefined && userId !== null && userId !== state.core.userId) {
      // The user from before this request's regenerate, put back: keep its sign-in. Anyone else: a
      // sign-in, with all of login() (a new token, fresh clocks, the session limit, revocation ids).
      if (typeof userId !== 'string' || !asImpl(state.core)._restoreUser(userId)) {
        return state.core.login(userId as string);
      }
    }
  }
  return undefined;
}
