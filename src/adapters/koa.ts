/**
 * Sessions (and CSRF protection) for Koa 3: `ctx.session` in middleware, typed by declaration merging.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { session } from 'latchkey/koa';
 * declare module 'latchkey/koa' {
 *   interface SessionData { visits: number }
 * }
 * const app = new Koa();
 * app.use(session({ keys: process.env.LATCHKEY_KEYS }));
 * app.use((ctx) => {
 *   ctx.session.set('visits', (ctx.session.get('visits') ?? 0) + 1);
 *   ctx.body = { visits: ctx.session.get('visits') };
 * });
 * ```
 */
import type { Context, Middleware } from 'koa';
import { clearSiteDataFor, sessionCacheControl, sessionVary } from '../core/headers.ts';
import type { SessionData as CoreSessionData, Session, SessionImpl } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import { type Csrf, type CsrfOptions, csrfForbiddenBody } from '../csrf/index.ts';
import { CreationLimited, SessionStateError } from '../errors.ts';
import { bodyForError, reportError, statusForError } from './errors.ts';
import {
  assignSession,
  type DataProperties,
  type NativeApi,
  type NativeSlot,
  nativeSession,
  newSlot,
  settle,
  trackAfter,
  withCallback,
} from './native-session.ts';
import {
  type AdapterOptions,
  bodyField,
  csrfRequestOf,
  lockSession,
  resolveAdapterOptions,
  SECURE,
  syncSessions,
  toCsrf,
} from './shared.ts';

/**
 * Your app's session data, for the types of `ctx.session`: declare its keys by declaration merging
 * (`declare module 'latchkey/koa' { interface SessionData { visits: number } }`). Left empty, the data
 * is `Record<string, unknown>`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: apps fill it in by declaration merging
export interface SessionData {}

/** `D`, or `Record<string, unknown>` when `D` declares no keys. */
export type SessionDataOf<D> = keyof D extends never ? Record<string, unknown> : D;

/** The data type of `ctx.session`: your {@link SessionData}, or `Record<string, unknown>`. */
export type KoaSessionData = SessionDataOf<SessionData>;

/** `ctx.state` with the CSRF token maker; extend it when you give Koa your own state type. */
export interface CsrfState {
  /** A fresh masked CSRF token for this session (set by {@link csrf}). */
  csrfToken(): string;
}

/** koa-session's additions to the session, on `ctx.session`. */
export interface KoaSessionApi {
  /** How many data keys the session holds. */
  readonly length: number;
  /** True when the session holds any data. */
  readonly populated: boolean;
  /**
   * This session's cookie lifetime in milliseconds (remember me), or 'session' for a cookie that ends
   * with the browser; undefined until set (the configured lifetime applies). Kept with the session and
   * capped by absoluteTimeout; a value the startup rules refuse throws ERR_LATCHKEY_COOKIE.
   */
  maxAge: number | 'session' | undefined;
  /** Write the session with this response even if nothing changed (renewing its cookie and clocks). */
  save(callback?: (error?: unknown) => void): Promise<void>;
  /**
   * Commit now: the Set-Cookie goes on `ctx` at once, for an app that writes `ctx.res` itself. The
   * session is then closed: a later change throws ERR_LATCHKEY_STATE.
   */
  manuallyCommit(): Promise<void>;
  /** A new cookie value (store mode: a new token), the data kept; with koa-session's callback too. */
  regenerate(callback?: (error?: unknown) => void): Promise<void>;
  /** A plain copy of the data (what `JSON.stringify(ctx.session)` writes). */
  toJSON(): Record<string, unknown>;
}

/**
 * `ctx.session`: Latchkey's {@link Session} with koa-session's API beside it, and the data's keys as
 * properties (`ctx.session.views = 1` sets, `delete ctx.session.views` deletes).
 */
export type KoaSession<T extends CoreSessionData = KoaSessionData> = Session<T> &
  KoaSessionApi &
  DataProperties<T, KoaSessionApi>;

declare module 'koa' {
  interface ExtendableContext {
    /**
     * This request's session (from `session()` of latchkey/koa). Assign `null` to destroy it (sign
     * out), or a plain object to replace its data.
     */
    get session(): KoaSession<KoaSessionData>;
    set session(value: KoaSession<KoaSessionData> | Partial<KoaSessionData> | null);
    /** The session manager, for `listUserSessions` and `revokeUserSessions` ("your devices"). */
    sessions: Sessions<KoaSessionData>;
  }
  interface DefaultState extends CsrfState {}
}

/**
 * Answer a failure (a store outage, a session too large for its cookies). It starts from the default
 * bare 500/503 text response with none of the handler's headers; set `ctx.status`/`ctx.body` to change it.
 */
export type KoaErrorHandler = (error: unknown, ctx: Context) => void | Promise<void>;

/** Options of {@link session}: a session manager you made, or the options to make one. */
export type KoaSessionOptions<T extends CoreSessionData = KoaSessionData> = AdapterOptions<
  T,
  KoaErrorHandler
>;

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/**
 * Replace the response with a bare 500 (503 for a store outage): none of the handler's headers, body or
 * cookies, no message or stack (checklist #48); then let onError change it.
 */
async function fail(error: unknown, ctx: Context, onError: KoaErrorHandler | undefined): Promise<void> {
  for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name);
  const status = statusForError(error);
  ctx.body = bodyForError(error); // drops (and destroys) a streamed body
  ctx.status = status;
  ctx.remove('content-type'); // so that a body onError sets gets its own type
  ctx.set('cache-control', 'no-store');
  if (error instanceof CreationLimited) ctx.set(error.headers);
  if (onError) await onError(error, ctx);
  else reportError(error);
  if (!ctx.res.hasHeader('content-type')) ctx.type = 'text/plain; charset=utf-8';
}

/** The session's cookies on the response, with Cache-Control: no-store and Vary: Cookie. */
function applySessionHeaders(ctx: Context, setCookie: readonly string[]): void {
  if (setCookie.length === 0) return;
  for (const line of setCookie) ctx.append('set-cookie', line);
  ctx.set('cache-control', sessionCacheControl(headerText(ctx.response.get('cache-control'))));
  ctx.set('vary', sessionVary(headerText(ctx.response.get('vary'))));
  const clear = clearSiteDataFor(setCookie);
  if (clear !== undefined) ctx.set('clear-site-data', clear);
}

const kSlot = Symbol('latchkey.koa.session');
type SlotHolder = { [kSlot]?: NativeSlot<Context> };

function slotOf(ctx: unknown): NativeSlot<Context> | undefined {
  return (ctx as SlotHolder)[kSlot];
}

const KOA_API: NativeApi<Context> = {
  methods: {
    save: (slot: NativeSlot<Context>, callback?: unknown) => {
      slot.impl.touch();
      return withCallback(Promise.resolve(), callback);
    },
    regenerate: (slot: NativeSlot<Context>, callback?: unknown) =>
      withCallback(
        trackAfter(slot, () => slot.impl.regenerate()),
        callback,
      ),
    manuallyCommit: (slot: NativeSlot<Context>) => trackAfter(slot, () => commitEarly(slot)),
  },
  accessors: {
    length: { get: (slot) => Object.keys(slot.impl.data).length },
    populated: { get: (slot) => Object.keys(slot.impl.data).length > 0 },
    // koa-session's per-session lifetime: milliseconds, or 'session' for a browser-session cookie; kept
    // with the session (the core's cookieOptions), capped by absoluteTimeout.
    maxAge: {
      get: (slot) => {
        const { maxAge } = slot.impl.cookieOptions();
        return maxAge === null ? 'session' : maxAge;
      },
      set: (slot, value) => {
        slot.impl.cookieOptions({ maxAge: value === 'session' ? null : (value as number) });
      },
    },
  },
};

/** manuallyCommit(): commit now, Set-Cookie on ctx, and close the session. */
async function commitEarly(slot: NativeSlot<Context>): Promise<void> {
  const ctx = slot.host;
  if (slot.committed) return;
  const impl = slot.impl;
  const setCookie = await ctx.sessions.commit(impl as unknown as Session<KoaSessionData>);
  slot.committed = true;
  lockSession(impl);
  applySessionHeaders(ctx, setCookie);
}

const installedOn = new WeakSet<object>();

/**
 * `ctx.session` as an accessor on the app's context prototype (once per app): the native session is
 * made on first read, and assigning null or an object destroys or replaces the session.
 */
function installSessionProperty(ctx: Context): void {
  const proto = Object.getPrototypeOf(ctx) as object | null;
  const owner = proto ?? ctx;
  if (installedOn.has(owner)) return;
  Object.defineProperty(owner, 'session', {
    configurable: true,
    enumerable: false,
    get(this: Context) {
      const slot = slotOf(this);
      return slot === undefined ? undefined : nativeSession(slot, KOA_API);
    },
    set(this: Context, value: unknown) {
      const slot = slotOf(this);
      if (slot === undefined) {
        throw new SessionStateError('ctx.session is set by session() from latchkey/koa: mount it first');
      }
      assignSession(slot, value);
    },
  });
  installedOn.add(owner);
}

/**
 * Koa middleware: `ctx.session` for later middleware, committed when they are done and before Koa
 * writes the response, each Set-Cookie its own header line (checklist #60) with `Cache-Control:
 * no-store` and `Vary: Cookie`. An error thrown downstream commits nothing and goes on to Koa's error
 * handling; a failure to load or commit answers a bare 500/503, or what `onError` makes of it.
 * `.sessions` (and `ctx.sessions`) is the session manager behind it. Behind a TLS proxy,
 * `app.proxy = true` (Koa's setting) or `trustProxy: true` lets the Secure cookie be set. Throws
 * ERR_LATCHKEY_CONFIG for bad options.
 *
 * @example
 * ```ts
 * app.use(session({ sessions: createSessions({ keys: process.env.LATCHKEY_KEYS }) }));
 * ```
 */
export function session<T extends CoreSessionData = KoaSessionData>(
  options: KoaSessionOptions<T>,
): Middleware & { readonly sessions: Sessions<T> } {
  const { sessions, onError } = resolveAdapterOptions(options, 'session');
  const sync = syncSessions(sessions); // cookie mode: load and commit without waiting
  const middleware: Middleware = async (ctx, next) => {
    // Mounted twice: the first one loaded it and commits it.
    if (slotOf(ctx) !== undefined) return next();
    let loaded: Session<T>;
    try {
      // ctx.secure is true for TLS, or for X-Forwarded-Proto: https when the app sets app.proxy.
      const secure = ctx.secure ? SECURE : undefined;
      loaded = sync !== undefined ? sync.loadNow(ctx.req, secure) : await sessions.load(ctx.req, secure);
    } catch (error) {
      await fail(error, ctx, onError);
      return;
    }
    installSessionProperty(ctx);
    const slot = newSlot(loaded as unknown as SessionImpl<object>, ctx);
    (ctx as SlotHolder)[kSlot] = slot;
    ctx.sessions = sessions as unknown as Sessions<KoaSessionData>;
    await next(); // a thrown error passes through: its half-made changes are never committed
    if (slot.committed) return; // manuallyCommit() did it
    // Locked from here on: a change made later (by an outer middleware) could not reach the client.
    if (ctx.headerSent) {
      // The app wrote to ctx.res itself: a Set-Cookie can no longer be sent, so commit nothing.
      lockSession(loaded);
      return;
    }
    let setCookie: string[];
    try {
      if (slot.pending !== undefined || slot.failed) await settle(slot); // a `ctx.session = null`
      setCookie = sync !== undefined ? sync.commitNow(loaded) : await sessions.commit(loaded);
    } catch (error) {
      lockSession(loaded);
      await fail(error, ctx, onError);
      return;
    }
    lockSession(loaded);
    applySessionHeaders(ctx, setCookie);
  };
  return Object.assign(middleware, { sessions });
}

/**
 * CSRF protection (checklist #59), after {@link session} and a body parser (`@koa/bodyparser`):
 * `ctx.state.csrfToken()` gives a fresh token for a form's `_csrf` field or the `x-csrf-token` header
 * (and views that render `ctx.state` can call `csrfToken()`), and every unsafe request (not GET, HEAD,
 * OPTIONS, TRACE) from another origin or without this session's token is answered 403 (text/plain,
 * `ERR_LATCHKEY_CSRF` and the reason). Pass the result of `createCsrf()` or its options.
 *
 * @example
 * ```ts
 * app.use(session({ sessions })).use(bodyParser()).use(csrf());
 * ```
 */
export function csrf(protection: Csrf | CsrfOptions = {}): Middleware {
  const checker = toCsrf(protection);
  return async (ctx, next) => {
    const current = slotOf(ctx)?.impl;
    if (current === undefined) {
      throw new SessionStateError('csrf() needs session() before it: no ctx.session on this request');
    }
    ctx.state.csrfToken = () => checker.token(current);
    if (checker.needsCheck(ctx.method)) {
      const refused = checker.check(
        csrfRequestOf(ctx.req, ctx.secure),
        current,
        bodyField((ctx.request as { body?: unknown }).body, checker.fieldName),
      );
      if (refused) {
        ctx.status = 403;
        ctx.type = 'text/plain; charset=utf-8';
        ctx.set('cache-control', 'no-store');
        ctx.body = csrfForbiddenBody(refused);
        return;
      }
    }
    await next();
  };
}
