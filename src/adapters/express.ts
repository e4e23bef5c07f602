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
import { Cookie } from '../compat/express-session/cookie.ts';
import { MemoryStore, Store } from '../compat/express-session/store.ts';
import { asImpl, type Session } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Csrf, CsrfOptions } from '../csrf/index.ts';
import { SessionStateError } from '../errors.ts';
import { type ExpressSessionOptions, type RequestCookie, type Resolved, resolve } from './express-options.ts';
import {
  type ExpressRequest,
  finish,
  load,
  loadOptions,
  NOTHING_COPIED,
  newSessionObject,
  type RequestState,
  requestToLoad,
  SessionObject,
  startCookie,
  stateBehind,
} from './express-session-object.ts';
import { failer, holdUntilCommitted, verifyNodeCsrf } from './node-hold.ts';

export type {
  CookieFunction,
  CookieRequest,
  ExpressCookieOptions,
  ExpressSessionOptions,
} from './express-options.ts';
export { Cookie, MemoryStore, SessionObject as Session, Store };

import { bodyField, syncSessions, toCsrf } from './shared.ts';

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
  /**
   * express-session's mutable Cookie: `req.session.cookie.maxAge = 30 * 864e5` ("remember me") and
   * its other fields are kept with this session (up to the absolute timeout).
   */
  readonly cookie: Cookie;
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
    here: Resolved,
    req: ExpressRequest,
    res: ServerResponse,
    next: (error?: unknown) => void,
    core: Session<Data>,
  ) => {
    const state: RequestState = { req, resolved: here, core, destroyed: false, copied: NOTHING_COPIED };
    if (resolved.userIdByDefault && core.userId !== undefined) {
      state.identityAtLoad = resolved.userIdOf?.(core.data as Record<string, unknown>);
    }
    try {
      startCookie(state);
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
      sync,
      () => state.core,
      (error) => fail(error, req, res),
      () => finish(state),
    );
    next();
  };
  const middleware = (incoming: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => {
    const req = incoming as ExpressRequest;
    if (req.session) {
      next(); // an earlier middleware (or this one, mounted twice) gave the request its session
      return;
    }
    let here = resolved;
    if (resolved.cookieFor !== undefined) {
      try {
        here = forRequest(resolved, resolved.cookieFor(req));
      } catch (error) {
        next(error); // the app's cookie(req) threw, or answered what `cookie` may not say
        return;
      }
    }
    if (!withinPath(req, here.path)) {
      next(); // as express-session: no session outside cookie.path
      return;
    }
    if (sync !== undefined) {
      // Cookie mode: loaded at once, no promise.
      let core: Session<Data>;
      try {
        core = sync.loadNow(requestToLoad(here, req), loadOptions(here, req));
      } catch (error) {
        next(error);
        return;
      }
      begin(here, req, res, next, core);
      return;
    }
    load(here, req).then(
      (core) => begin(here, req, res, next, core),
      // A store outage: Express's error handling answers (the error's status is 503).
      (error: unknown) => next(error),
    );
  };
  return Object.assign(middleware, { sessions: resolved.sessions });
}

/** The options for one request, with what the app's cookie(req) answered for it. */
function forRequest(resolved: Resolved, cookie: RequestCookie): Resolved {
  return {
    ...resolved,
    path: cookie.path,
    strictSecure: cookie.strictSecure,
    newSessionCookie: { ...resolved.newSessionCookie, ...cookie.options },
  };
}

/** Whether the request's path (before any mount point took its part) is under the cookie's path. */
function withinPath(req: ExpressRequest, path: string): boolean {
  if (path === '/') return true;
  const url = (req as ExpressRequest & { originalUrl?: unknown }).originalUrl ?? req.url ?? '/';
  const pathname = typeof url === 'string' ? url.split('?', 1)[0] : '/';
  return pathname?.startsWith(path) === true;
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
    const secure = typeof req.secure === 'boolean' ? req.secure : undefined;
    if (verifyNodeCsrf(checker, req, res, state.core, bodyField(req.body, checker.fieldName), secure)) next();
  };
}

/** The default export's shape: `session()` carrying the other exports, as express-session's does. */
export type ExpressSessionExport = typeof session & {
  readonly default: ExpressSessionExport;
  readonly session: typeof session;
  readonly csrf: typeof csrf;
  readonly Store: typeof Store;
  readonly MemoryStore: typeof MemoryStore;
  readonly Session: typeof SessionObject;
  readonly Cookie: typeof Cookie;
};

/**
 * `session()` with express-session's properties (`session.Store`, `session.MemoryStore`,
 * `session.Session`, `session.Cookie`) and the other exports, so that code written for express-session
 * keeps working, and so that CommonJS's `require('latchkey/express')` (whose `module.exports` is this
 * function, dist/adapters/express.cjs) reaches every export.
 */
const expressSession: ExpressSessionExport = Object.assign(session, {
  session,
  csrf,
  Store,
  MemoryStore,
  Session: SessionObject,
  Cookie,
}) as ExpressSessionExport;
Object.defineProperty(expressSession, 'default', { value: expressSession, enumerable: true });

export default expressSession;
