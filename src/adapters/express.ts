/**
 * Sessions for Express 4 and 5 with express-session's API: `req.session.userId = 1`, and
 * `regenerate`, `destroy`, `save`, `reload` and `touch`, each taking a callback or returning a promise.
 * An app moving from express-session changes its import and its options object; see
 * docs/migrate-from-express-session.md for every option and method.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import session from 'latchkey/express';
 * const app = express();
 * app.use(session({ keys: process.env.LATCHKEY_KEYS }));
 * app.get('/', (req, res) => {
 *   req.session.views = (req.session.views ?? 0) + 1;
 *   res.send(`views: ${req.session.views}`);
 * });
 * ```
 *
 * Type your data by augmenting `SessionData`, as with express-session:
 * ```ts
 * declare module 'latchkey/express' { interface SessionData { views: number } }
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseSafeJson } from '../core/json.ts';
import { asImpl, type Session } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Csrf, CsrfOptions } from '../csrf/index.ts';
import { SessionStateError } from '../errors.ts';
import { type ExpressSessionOptions, type Resolved, resolve } from './express-options.ts';
import { sendCsrfForbidden } from './node.ts';
import { failer, holdUntilCommitted } from './node-hold.ts';

export type { ExpressSessionOptions } from './express-options.ts';

import { csrfRequestOf, syncSessions, toCsrf } from './shared.ts';

/** Your session data's shape: augment it (`declare module 'latchkey/express'`); untyped by default. */
// biome-ignore lint/suspicious/noEmptyInterface: an interface, so that applications can augment it
export interface SessionData {}
/** @internal The data type behind `req.session`: SessionData, or untyped when it is not augmented. */
export type Data = keyof SessionData extends never ? Record<string, unknown> : SessionData;

/** A read-only view of the session cookie, as express-session's `req.session.cookie` shows it. */
export interface SessionCookieView {
  /** Milliseconds until the session ends if idle (express-session: until the cookie expires). */
  readonly maxAge: number;
  readonly originalMaxAge: number;
  /** When the session ends if idle: the earlier of the idle and absolute deadlines. */
  readonly expires: Date;
  readonly httpOnly: boolean;
  readonly secure: boolean;
  readonly sameSite: 'lax' | 'strict' | 'none';
  readonly path: string;
  readonly domain: string | undefined;
}

type Callback = (error?: unknown) => void;

/** `req.session`: your data as properties, plus express-session's methods. */
export interface ExpressSession {
  /** Store mode: the session's non-secret id (a hash of its token); undefined in cookie mode. */
  readonly id: string | undefined;
  readonly cookie: SessionCookieView;
  /** The Latchkey session underneath: `login(userId)`, flash messages, its clocks. */
  readonly latchkey: Session<Data>;
  /** A new session: a new token (the old one dies at once in store mode) and no data. */
  regenerate(callback: Callback): this;
  regenerate(): Promise<void>;
  /** End the session: its data is gone, the cookie is cleared, `req.session` is undefined after. */
  destroy(callback: Callback): this;
  destroy(): Promise<void>;
  /** Mark the session to be written even if unchanged. The write itself happens before the headers. */
  save(callback: Callback): this;
  save(): Promise<void>;
  /** Read the session again from the request's cookie, dropping this request's changes. */
  reload(callback: Callback): this;
  reload(): Promise<void>;
  /** Renew the session (its idle clock and cookie) on this response. */
  touch(): this;
  resetMaxAge(): this;
}

declare global {
  namespace Express {
    interface Request {
      session: ExpressSession & Partial<Data>;
      /** `req.session.id` as the request began (express-session's name for it). */
      sessionID: string | undefined;
      /** A fresh CSRF token for a form or page, once `csrf()` (latchkey/express) has run. */
      csrfToken(): string;
    }
  }
}

/** What one request's `req.session` works on. */
interface RequestState {
  readonly req: ExpressRequest;
  readonly resolved: Resolved;
  core: Session<Data>;
  /** destroy() was called: `req.session` is gone on purpose. */
  destroyed: boolean;
  /** What was copied onto `req.session`, by reference: only what the app changed there is synced. */
  copied: ReadonlyMap<string, unknown>;
}

const NOTHING_COPIED: ReadonlyMap<string, unknown> = new Map();

type ExpressRequest = IncomingMessage & {
  session?: (ExpressSession & Partial<Data>) | null | undefined;
  sessionID?: string | undefined;
  secure?: boolean;
};

/** The request state behind a `req.session` object, or undefined for anything else. */
let stateBehind: (value: unknown) => RequestState | undefined;

function stateOf(session: object): RequestState {
  const state = stateBehind(session);
  if (!state) throw new SessionStateError('this req.session belongs to no request');
  return state;
}

/** Run an async method the express-session way: with a callback (returning the session) or a promise. */
function settle<S>(self: S, work: Promise<void>, callback: Callback | undefined): S | Promise<void> {
  if (typeof callback !== 'function') return work;
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

  get cookie(): SessionCookieView {
    const { core, resolved } = stateOf(this);
    const expires = Math.min(core.idleDeadline, core.absoluteDeadline);
    return Object.freeze({
      ...resolved.cookie,
      maxAge: Math.max(0, expires - Date.now()),
      originalMaxAge: resolved.sessions.policy.idleTimeout,
      expires: new Date(expires),
    });
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
      state.core = await load(state.resolved, state.req);
      state.req.session = newSessionObject(state);
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

/** Names on `req.session` that are express-session's API, never data properties. */
const RESERVED = new Set(
  Object.getOwnPropertyNames(LatchkeySessionObject.prototype).filter((name) => name !== 'constructor'),
);

function newSessionObject(state: RequestState): ExpressSession & Partial<Data> {
  const session = new LatchkeySessionObject(state) as unknown as ExpressSession & Partial<Data>;
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
function loadOptions(resolved: Resolved, req: ExpressRequest): { secure: boolean } | undefined {
  if (!resolved.useReqSecure || typeof req.secure !== 'boolean') return undefined;
  return req.secure ? SECURE : NOT_SECURE;
}
const SECURE = Object.freeze({ secure: true });
const NOT_SECURE = Object.freeze({ secure: false });

function load(resolved: Resolved, req: ExpressRequest): Promise<Session<Data>> {
  return resolved.sessions.load(req, loadOptions(resolved, req));
}

/**
 * The last word before the commit: what the app did to `req.session` becomes the session. A promise
 * only when there is something to wait for (so a cookie-mode commit can happen at once).
 */
function finish(state: RequestState): undefined | Promise<void> {
  const current = state.req.session;
  if ((current === undefined || current === null) && !state.destroyed) {
    // The app removed req.session itself (express-session's `unset`).
    return state.resolved.unsetDestroy ? state.core.destroy() : undefined;
  }
  syncInto(state, true);
  if (state.resolved.resave) state.core.touch();
  return undefined;
}

/** Middleware giving `req.session` with express-session's API; `.sessions` is the manager behind it. */
export function session(options: ExpressSessionOptions = {}): ((
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void) & {
  readonly sessions: Sessions<Data>;
} {
  const resolved = resolve(options);
  const fail = failer(options);
  const sync = syncSessions(resolved.sessions);
  /** The session is loaded: give the request its req.session, hold the response, go on. */
  const begin = (
    req: ExpressRequest,
    res: ServerResponse,
    next: (error?: unknown) => void,
    core: Session<Data>,
  ) => {
    const state: RequestState = { req, resolved, core, destroyed: false, copied: NOTHING_COPIED };
    try {
      req.session = newSessionObject(state);
    } catch (error) {
      next(error);
      return;
    }
    // Every property written to an Express request costs (its prototype was swapped, so it is a slow
    // object): cookie mode has no id, and an absent sessionID reads as undefined anyway.
    const id = asImpl(core)._backing?.storeKey;
    if (id !== undefined || req.sessionID !== undefined) req.sessionID = id;
    holdUntilCommitted(
      res,
      resolved.sessions,
      () => state.core,
      (error) => fail(error, req, res),
      () => finish(state),
    );
    next();
  };
  const middleware = (incoming: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
    const req = incoming as ExpressRequest;
    if (stateBehind(req.session) !== undefined) {
      next(); // mounted twice: the first one already loaded it
      return;
    }
    if (sync !== undefined) {
      // Cookie mode: loaded at once, no promise.
      let core: Session<Data>;
      try {
        core = sync.loadNow(req, loadOptions(resolved, req));
      } catch (error) {
        next(error);
        return;
      }
      begin(req, res, next, core);
      return;
    }
    load(resolved, req).then(
      (core) => begin(req, res, next, core),
      // A store outage: Express's error handling answers (the error's status is 503).
      (error: unknown) => next(error),
    );
  };
  return Object.assign(middleware, { sessions: resolved.sessions });
}

/**
 * CSRF protection (checklist #59), after `session()`: unsafe requests need an Origin of this site and a
 * token in the `x-csrf-token` header or the `_csrf` form field (parse forms first, e.g.
 * `express.urlencoded()`); refused ones get 403 with the coded reason. `req.csrfToken()` gives
 * templates a fresh token, as csurf did.
 *
 * @example
 * ```ts
 * app.use(express.urlencoded({ extended: false }));
 * app.use(session({ keys }));
 * app.use(csrf());
 * app.get('/form', (req, res) => res.send(`<input type="hidden" name="_csrf" value="${req.csrfToken()}">`));
 * ```
 */
export function csrf(
  protection: Csrf | CsrfOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  const checker = toCsrf(protection);
  return (incoming, res, next) => {
    const req = incoming as ExpressRequest & { body?: unknown; csrfToken?: () => string };
    const current = req.session;
    const state = stateBehind(current);
    if (state === undefined) {
      next(new SessionStateError('csrf() needs req.session: app.use(session(...)) before it'));
      return;
    }
    req.csrfToken = () => checker.token(state.core);
    if (!checker.needsCheck(req.method ?? 'GET')) {
      next();
      return;
    }
    const body = req.body as Record<string, unknown> | undefined;
    const field = body && typeof body === 'object' ? body[checker.fieldName] : undefined;
    const refused = checker.check(
      csrfRequestOf(req, typeof req.secure === 'boolean' ? req.secure : undefined),
      state.core,
      typeof field === 'string' ? field : undefined,
    );
    if (refused) sendCsrfForbidden(res, refused);
    else next();
  };
}

export default session;
