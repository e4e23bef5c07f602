/**
 * Sessions (and CSRF protection) for Hono 4: `c.get('session')` in handlers, typed through Hono's
 * `Variables`.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { type SessionEnv, sessionMiddleware } from 'latchkey/hono';
 * type Data = { visits: number };
 * const app = new Hono<SessionEnv<Data>>();
 * app.use(sessionMiddleware<Data>({ keys: process.env.LATCHKEY_KEYS }));
 * // After sessionMiddleware and before the routes (Hono runs middleware in the order it is added):
 * // c.get('csrfToken')() in forms, checked on unsafe methods.
 * app.use(csrf());
 * app.get('/', (c) => {
 *   const session = c.get('session');
 *   session.set('visits', (session.get('visits') ?? 0) + 1);
 *   return c.json({ visits: session.get('visits') });
 * });
 * ```
 */
import type { Context, MiddlewareHandler } from 'hono';
import { type Session, type SessionData, SessionImpl } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import { type Csrf, type CsrfOptions, csrfForbiddenBody } from '../csrf/index.ts';
import { SessionStateError } from '../errors.ts';
import { errorResponse } from './errors.ts';
import { withSessionHeaders } from './fetch.ts';
import {
  type NativeApi,
  type NativeSlot,
  nativeSession,
  newSlot,
  settle,
  trackAfter,
} from './native-session.ts';
import { peerLoadOptions } from './peer.ts';
import {
  type AdapterOptions,
  checkCsrf,
  fetchCsrfRequest,
  lockSession,
  resolveAdapterOptions,
  syncSessions,
  toCsrf,
} from './shared.ts';

/** hono-sessions' calls, on `c.get('session')` beside Latchkey's Session. */
export interface HonoSessionApi {
  /** Remove a key (hono-sessions' name for `delete`). */
  forget(key: string): void;
  /** Sign out (hono-sessions): the commit waits for it; `await session.destroy()` to wait yourself. */
  deleteSession(): void;
  /** A plain copy of the data. */
  toJSON(): Record<string, unknown>;
}

/**
 * `c.get('session')`: Latchkey's Session with hono-sessions' calls. `get(key)` also reads, and removes,
 * a flash message of that key, as hono-sessions does.
 */
export type HonoSession<T extends SessionData = Record<string, unknown>> = Session<T> & HonoSessionApi;

/** Hono's `Env` for apps that use the session middleware: `new Hono<SessionEnv<MyData>>()`. */
export type SessionEnv<T extends SessionData = Record<string, unknown>> = {
  Variables: {
    /** This request's session. */
    session: HonoSession<T>;
    /** Set to true for a new cookie value (store mode: a new token) at commit, as hono-sessions. */
    session_key_rotation?: boolean;
    /** The session manager, for `listUserSessions` and `revokeUserSessions` ("your devices"). */
    sessions: Sessions<T>;
  };
};

/** Turn a failure (a store outage, a session too large for its cookies) into the response to send. */
export type HonoErrorHandler = (error: unknown, c: Context) => Response | Promise<Response>;

/** Options of {@link sessionMiddleware}: a session manager you made, or the options to make one. */
export type HonoSessionOptions<T extends SessionData = Record<string, unknown>> = AdapterOptions<
  T,
  HonoErrorHandler
>;

/**
 * Replace the response outright. Hono's `c.res` setter copies the old response's headers into the new
 * one (Set-Cookie included), so clear it first: a failure response carries none of the handler's
 * headers, and a copied response keeps the Set-Cookie lines we added to it.
 */
function replaceResponse(c: Context, response: Response): void {
  c.res = undefined;
  c.res = response;
}

const HONO_API: NativeApi<Context> = {
  methods: {
    get: (slot: NativeSlot<Context>, key: string) => {
      const impl = slot.impl as SessionImpl<Record<string, unknown>>;
      return impl.has(key) ? impl.get(key) : impl.takeFlash(key);
    },
    forget: (slot: NativeSlot<Context>, key: string) => {
      (slot.impl as SessionImpl<Record<string, unknown>>).delete(key);
    },
    deleteSession: (slot: NativeSlot<Context>) => {
      trackAfter(slot, () => slot.impl.destroy());
    },
  },
  accessors: {},
};

/**
 * Hono middleware: loads the session into `c.get('session')`, and after the handler commits it and adds
 * each Set-Cookie as its own header (checklist #60) with `Cache-Control: no-store` and `Vary: Cookie`.
 * A handler that threw commits nothing. A failure to load or commit goes to `onError` (default: a bare
 * 500, or 503 for a store outage). `.sessions` (and `c.get('sessions')`) is the session manager behind
 * it. Throws ERR_LATCHKEY_CONFIG for bad options.
 *
 * @example
 * ```ts
 * const sessions = createSessions<Data>();
 * const app = new Hono<SessionEnv<Data>>();
 * app.use(sessionMiddleware({ sessions }));
 * ```
 */
export function sessionMiddleware<T extends SessionData = Record<string, unknown>>(
  options: HonoSessionOptions<T>,
): MiddlewareHandler<SessionEnv<T>> & { readonly sessions: Sessions<T> } {
  const resolved = resolveAdapterOptions(options, 'sessionMiddleware');
  const sessions = resolved.sessions;
  // Log, then a bare 500 (503 for a store outage): no message, no stack (checklist #48).
  const onError: HonoErrorHandler = resolved.onError ?? errorResponse;
  const sync = syncSessions(sessions); // cookie mode: load and commit without waiting
  const middleware: MiddlewareHandler<SessionEnv<T>> = async (c, next) => {
    // Mounted twice (app-wide and on a route): the first one loaded it and commits it.
    if (c.get('session') !== undefined) return next();
    let session: Session<T>;
    try {
      // Bun, Deno and @hono/node-server pass the connection's peer as c.env (for http://localhost).
      const loadOptions = peerLoadOptions(c.req.raw, c.env);
      session =
        sync !== undefined
          ? sync.loadNow(c.req.raw, loadOptions)
          : await sessions.load(c.req.raw, loadOptions);
    } catch (error) {
      return onError(error, c);
    }
    const slot = newSlot(session as unknown as SessionImpl<object>, c as Context);
    c.set('session', nativeSession(slot, HONO_API));
    c.set('sessions', sessions);
    await next();
    // Hono caught the handler's error and made c.res from app.onError: its half-made changes must not
    // be sealed into that response.
    if (c.error !== undefined) return;
    let setCookie: string[];
    try {
      if (slot.inFlight > 0 || slot.pending !== undefined || slot.failed) await settle(slot);
      if (c.get('session_key_rotation') === true) await session.regenerate();
      setCookie = sync !== undefined ? sync.commitNow(session) : await sessions.commit(session);
    } catch (error) {
      // onError starts from a blank response: none of the handler's headers or cookies reach the client.
      replaceResponse(c, new Response(null));
      replaceResponse(c, await onError(error, c));
      return;
    } finally {
      // A change made after this point (by an outer middleware) could not reach the client.
      lockSession(session);
    }
    const response = withSessionHeaders(c.res, setCookie);
    if (response !== c.res) replaceResponse(c, response);
  };
  return Object.assign(middleware, { sessions });
}

/** Hono's `Env` for apps that use {@link csrf}: `new Hono<SessionEnv<MyData> & CsrfEnv>()`. */
export type CsrfEnv = {
  Variables: {
    /** A fresh masked CSRF token for this session: put it in a form's hidden field or a request header. */
    csrfToken: () => string;
  };
};

const FORM_TYPES = /^\s*(application\/x-www-form-urlencoded|multipart\/form-data)\s*(;|$)/i;

/** The token of a form post (`fieldName` of the parsed body); Hono caches the body for the handler. */
async function formToken(c: Context, fieldName: string): Promise<string | undefined> {
  if (!FORM_TYPES.test(c.req.header('content-type') ?? '')) return undefined;
  try {
    const field = (await c.req.parseBody())[fieldName];
    return typeof field === 'string' ? field : undefined;
  } catch {
    return undefined; // a malformed body carries no token
  }
}

/**
 * CSRF protection (checklist #59), after {@link sessionMiddleware}: `c.get('csrfToken')()` gives a fresh
 * token for a form's `_csrf` field or the `x-csrf-token` header, and every unsafe request (not GET, HEAD,
 * OPTIONS, TRACE) from another origin or without this session's token is answered 403 (text/plain,
 * `ERR_LATCHKEY_CSRF` and the reason). Pass the result of `createCsrf()` or its options.
 *
 * @example
 * ```ts
 * const app = new Hono<SessionEnv<Data> & CsrfEnv>();
 * app.use(sessionMiddleware<Data>({ keys }), csrf());
 * app.get('/', (c) => c.html(`<form method="post"><input type="hidden" name="_csrf" value="${c.get('csrfToken')()}">…`));
 * ```
 */
export function csrf(protection: Csrf | CsrfOptions = {}): MiddlewareHandler<CsrfEnv> {
  const checker = toCsrf(protection);
  return async (c, next) => {
    const session = (c as Context).get('session') as Session<SessionData> | undefined;
    // The native object passes for the core session: its calls reach the core session behind it.
    if (!(session instanceof SessionImpl)) {
      throw new SessionStateError('csrf() needs sessionMiddleware() before it: no session on this request');
    }
    c.set('csrfToken', () => checker.token(session));
    if (checker.needsCheck(c.req.method)) {
      const request = fetchCsrfRequest(c.req.raw, new URL(c.req.url));
      const refused = await checkCsrf(checker, request, session, () => formToken(c, checker.fieldName));
      if (refused) return c.text(csrfForbiddenBody(refused), 403, { 'cache-control': 'no-store' });
    }
    await next();
  };
}
