/**
 * Sessions for Fastify 5: a plugin that gives every request `request.session`, commits it before the
 * response headers go out, and (with `csrf`) checks every unsafe request for a CSRF token.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import latchkey from 'latchkey/fastify';
 * declare module 'latchkey/fastify' {
 *   interface SessionData { visits: number }
 * }
 * const app = Fastify();
 * await app.register(latchkey, { keys: process.env.LATCHKEY_KEYS });
 * app.get('/', async (request) => {
 *   request.session.set('visits', (request.session.get('visits') ?? 0) + 1);
 *   return { visits: request.session.get('visits') };
 * });
 * ```
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionCookieOptions } from '../core/cookie-overrides.ts';
import type { SessionsOptions } from '../core/options.ts';
import type { Session, SessionImpl } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import { type Csrf, type CsrfOptions, type CsrfRequest, csrfForbiddenBody } from '../csrf/index.ts';
import { ConfigError, UnsupportedError } from '../errors.ts';
import { bodyForError, headersForError, PLAIN_NO_STORE, statusForError } from './errors.ts';
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
  lockSession,
  nodeHeader,
  resolveAdapterOptions,
  SECURE,
  sessionHeaderValues,
  syncSessions,
  toCsrf,
} from './shared.ts';

/**
 * Your app's session data. Augment it to type `request.session`; until you do, it is
 * `Record<string, unknown>`.
 *
 * @example
 * ```ts
 * declare module 'latchkey/fastify' {
 *   interface SessionData { userName: string; visits: number }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: empty on purpose, apps augment it (declaration merging)
export interface SessionData {}

/** The data type of `request.session`: your augmented {@link SessionData}, else any JSON record. */
export type FastifySessionData = keyof SessionData extends never ? Record<string, unknown> : SessionData;

type Callback = (error?: unknown) => void;

/** @fastify/session's and @fastify/secure-session's additions, on `request.session`. */
export interface FastifySessionApi {
  /** `delete(key)` removes a key; `delete()` with no key destroys the session (@fastify/secure-session). */
  delete(key?: string): void;
  /**
   * A new cookie value (store mode: a new token). Without `keys` the data is kept (Latchkey's
   * regenerate); with `keys`, only those keys are kept, as @fastify/session and secure-session do.
   */
  regenerate(keys?: readonly string[] | Callback, callback?: Callback): Promise<void>;
  /** Sign out (the record and cookie go), with @fastify/session's optional callback. */
  destroy(callback?: Callback): Promise<void>;
  /** Load the session again from the request's cookie (and the store): this request's changes go. */
  reload(callback?: Callback): Promise<void>;
  /** Write the session with this response even if nothing changed. */
  save(callback?: Callback): Promise<void>;
  /**
   * This session's own cookie options (`maxAge` in milliseconds, `expires`, `httpOnly`, `secure`,
   * `sameSite`, `path`, `domain`, `partitioned`, `priority`), kept with it; returns them. A value the
   * startup rules refuse throws ERR_LATCHKEY_COOKIE.
   */
  options(options?: SessionCookieOptions): Readonly<SessionCookieOptions>;
  /** Store mode: the record's id (SHA-256 of the token, never the token); undefined in cookie mode. */
  readonly sessionId: string | undefined;
  /** Throws ERR_LATCHKEY_UNSUPPORTED: the cookie's token is never handed to the app. */
  readonly encryptedSessionId: string;
  /** True when this request changed the data. */
  isModified(): boolean;
  /** @fastify/secure-session's name for `isModified()`. */
  readonly changed: boolean;
  /** @fastify/secure-session's: whether this request signed the session out (`delete()` with no key). */
  readonly deleted: boolean;
  /** A plain copy of the data. */
  toJSON(): Record<string, unknown>;
}

/** `request.session`: Latchkey's Session, the peers' API beside it, the data's keys as properties. */
export type FastifySession<T extends object = FastifySessionData> = Session<T> &
  FastifySessionApi &
  DataProperties<T, FastifySessionApi>;

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * This request's session, loaded before your hooks and handlers run. Assign `null` to sign out,
     * or a plain object to replace its data.
     */
    get session(): FastifySession<FastifySessionData>;
    set session(value: FastifySession<FastifySessionData> | Partial<FastifySessionData> | null);
    /** A fresh masked CSRF token for a form or page (register with the `csrf` option). */
    csrfToken(): string;
  }
  interface FastifyInstance {
    /** The session manager: `listUserSessions`, `revokeUserSessions`, `inspect`. */
    sessions: Sessions<FastifySessionData>;
  }
  interface FastifyContextConfig {
    /** `false` exempts the route from the plugin's CSRF check (a webhook, say). */
    csrf?: boolean;
  }
}

/**
 * Turn a failure (a store outage while loading, a session too large or a store outage at commit) into
 * the response: set the status and headers on `reply` and return the body (a string, a Buffer or an
 * object sent as JSON). Do not call `reply.send()`: at commit the response is already being sent.
 * The status is preset to 500 (503 for a store outage) and the handler's headers are gone.
 */
export type FastifySessionErrorHandler = (
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
) => unknown;

interface CommonOptions {
  /** Default: log with `request.log`, then a bare `500 Internal Server Error` (503 for a store outage). */
  onError?: FastifySessionErrorHandler | undefined;
  /**
   * CSRF protection for every unsafe request (`config: { csrf: false }` exempts a route), and
   * `request.csrfToken()`. `true` for the defaults, or options or a Csrf from `createCsrf()`.
   */
  csrf?: boolean | CsrfOptions | Csrf | undefined;
}

/**
 * Either a session manager from `createSessions()`, or the options to make one. `request.session` is
 * typed by {@link SessionData}, so make the manager with the same type: `createSessions<SessionData>()`.
 */
export type LatchkeyFastifyOptions =
  | (CommonOptions & { sessions: Sessions<object> })
  | (CommonOptions & SessionsOptions & { sessions?: undefined });

// Not session options: the plugin's csrf, and what Fastify itself may pass to any plugin.
const IGNORED_OPTIONS = ['csrf', 'prefix', 'logLevel', 'logSerializers'];
const kFailed = Symbol('latchkey.failed');
const kSlot = Symbol('latchkey.session');

type SlotRequest = FastifyRequest & { [kSlot]: NativeSlot<FastifyRequest> | null };

function keepOnly(slot: NativeSlot<FastifyRequest>, keys: readonly string[]): void {
  const data = slot.impl.data as Record<string, unknown>;
  for (const key of Object.keys(data)) if (!keys.includes(key)) slot.impl.delete(key as never);
}

const FASTIFY_API: NativeApi<FastifyRequest> = {
  methods: {
    delete: (slot: NativeSlot<FastifyRequest>, key?: unknown) => {
      if (key === undefined) {
        trackAfter(slot, () => slot.impl.destroy());
        return;
      }
      if (typeof key !== 'string') throw new TypeError('delete(key): key must be a string');
      slot.impl.delete(key as never);
    },
    regenerate: (slot: NativeSlot<FastifyRequest>, keys?: unknown, callback?: unknown) => {
      const done = typeof keys === 'function' ? keys : callback;
      if (Array.isArray(keys)) keepOnly(slot, keys as string[]);
      return withCallback(
        trackAfter(slot, () => slot.impl.regenerate()),
        done,
      );
    },
    destroy: (slot: NativeSlot<FastifyRequest>, callback?: unknown) =>
      withCallback(
        trackAfter(slot, () => slot.impl.destroy()),
        callback,
      ),
    reload: (slot: NativeSlot<FastifyRequest>, callback?: unknown) =>
      withCallback(
        trackAfter(slot, async () => {
          const request = slot.host;
          const sessions = request.server.sessions;
          const fresh = await sessions.load(request.raw, request.protocol === 'https' ? SECURE : undefined);
          lockSession(slot.impl);
          slot.impl = fresh as unknown as SessionImpl<object>;
        }),
        callback,
      ),
    save: (slot: NativeSlot<FastifyRequest>, callback?: unknown) => {
      slot.impl.touch();
      return withCallback(Promise.resolve(), callback);
    },
    // Per-session cookie options, kept with the session (session.cookieOptions): maxAge in milliseconds
    // as @fastify/session has it (@fastify/secure-session's is in seconds: multiply by 1000).
    options: (slot: NativeSlot<FastifyRequest>, changes?: unknown) =>
      slot.impl.cookieOptions(changes as SessionCookieOptions | undefined),
    isModified: (slot: NativeSlot<FastifyRequest>) => slot.impl._changed(),
  },
  accessors: {
    sessionId: { get: (slot) => slot.impl._backing?.storeKey },
    changed: { get: (slot) => slot.impl._changed() },
    deleted: { get: (slot) => slot.impl._destroyed },
    encryptedSessionId: {
      get: () => {
        throw new UnsupportedError(
          'request.session.encryptedSessionId: Latchkey never hands the session token to the app; use sessionId (store mode)',
        );
      },
    },
  },
};

/** The core session behind `request.session` (the proxy is for the app). */
function coreSessionOf(request: FastifyRequest): Session<FastifySessionData> {
  const slot = (request as SlotRequest)[kSlot];
  return (slot?.impl ?? request.session) as unknown as Session<FastifySessionData>;
}

type HookDone = (error?: Error) => void;
type SendDone = (error: Error | null, payload?: unknown) => void;

type FailedRequest = FastifyRequest & { [kFailed]: boolean };

function resolveCsrf(option: CommonOptions['csrf']): Csrf | undefined {
  if (option === undefined || option === false) return undefined;
  return toCsrf(option === true ? {} : option);
}

/** Add the session's Set-Cookie lines, each its own header line (checklist #60), and the cache headers. */
function applySessionHeaders(reply: FastifyReply, setCookie: string[]): void {
  const values = sessionHeaderValues(reply, setCookie);
  // getHeader also sees lines set on reply.raw, which Fastify's own headers would override; and
  // reply.header appends to a Set-Cookie it has: replace it whole. Only when there is one: Fastify's
  // removeHeader deletes a key of the reply's header object, which V8 then keeps in slow dictionary mode.
  if (values.setCookie.length > setCookie.length) reply.removeHeader('set-cookie');
  reply.header('set-cookie', values.setCookie);
  reply.header('cache-control', values.cacheControl);
  reply.header('vary', values.vary);
  if (values.clearSiteData !== undefined) reply.header('clear-site-data', values.clearSiteData);
}

/** An onSend payload from what onError returned: strings, Buffers and streams as they are, else JSON. */
function toPayload(body: unknown, reply: FastifyReply): unknown {
  if (body === undefined || body === null) return null;
  if (
    typeof body === 'string' ||
    Buffer.isBuffer(body) ||
    typeof (body as { pipe?: unknown }).pipe === 'function'
  )
    return body;
  if (!reply.hasHeader('content-type')) reply.header('content-type', 'application/json; charset=utf-8');
  return JSON.stringify(body);
}

/**
 * The failure response's body: the app's onError if given, else a bare 500/503 with no message, no
 * stack and none of the handler's headers (checklist #48).
 */
async function failureBody(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  onError: FastifySessionErrorHandler | undefined,
): Promise<unknown> {
  const status = statusForError(error);
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  reply.code(status);
  if (onError) {
    try {
      return await onError(error, request, reply);
    } catch (secondary) {
      request.log.error({ err: secondary }, 'latchkey: the onError handler failed');
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      reply.code(status);
    }
  } else {
    request.log.error({ err: error }, 'latchkey: session failure');
  }
  reply.headers(headersForError(error));
  return bodyForError(error);
}

/** What `csrf.check` needs, read from a Fastify request (one object, no closure per request). */
class FastifyCsrfRequest implements CsrfRequest {
  readonly method: string;
  readonly secure: boolean;
  readonly #request: FastifyRequest;
  constructor(request: FastifyRequest) {
    this.#request = request;
    this.method = request.method;
    this.secure = request.protocol === 'https';
  }
  header(name: string): string | undefined {
    return nodeHeader(this.#request.headers, name);
  }
}

/**
 * A hook (for `preValidation` or `preHandler`) that answers 403 to an unsafe request without a valid
 * CSRF token or from another origin. The token comes from the `x-csrf-token` header or the form field
 * `_csrf` (parse forms with `@fastify/formbody`). The plugin's `csrf` option installs it for you.
 *
 * @example
 * ```ts
 * const csrf = createCsrf();
 * app.post('/transfer', { preHandler: csrfProtection(csrf) }, handler);
 * // in the form: <input type="hidden" name="_csrf" value="${csrf.token(request.session)}">
 * ```
 */
export function csrfProtection(
  csrf: Csrf,
): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  if (typeof csrf?.check !== 'function') throw new ConfigError('csrfProtection(csrf): pass createCsrf()');
  return (request, reply, done) => {
    if (!csrf.needsCheck(request.method) || request.routeOptions.config.csrf === false) return done();
    const refused = csrf.check(
      new FastifyCsrfRequest(request),
      coreSessionOf(request),
      bodyField(request.body, csrf.fieldName),
    );
    if (refused === undefined) return done();
    reply.code(403).headers(PLAIN_NO_STORE);
    reply.send(csrfForbiddenBody(refused));
  };
}

function plugin(app: FastifyInstance, options: LatchkeyFastifyOptions, done: (err?: Error) => void): void {
  // avvio does not catch a callback plugin's throw: hand the ConfigError to register() instead.
  try {
    install(app, options);
  } catch (error) {
    done(error as Error);
    return;
  }
  done();
}

function setSlot(request: FastifyRequest, session: Session<FastifySessionData>): void {
  (request as SlotRequest)[kSlot] = newSlot(session as unknown as SessionImpl<object>, request);
}

function install(app: FastifyInstance, options: LatchkeyFastifyOptions): void {
  const { sessions, onError } = resolveAdapterOptions(
    options as AdapterOptions<FastifySessionData, FastifySessionErrorHandler>,
    'latchkey/fastify',
    IGNORED_OPTIONS,
  );
  const csrf = resolveCsrf(options.csrf);

  app.decorate('sessions', sessions);
  app.decorateRequest(kSlot, null);
  app.decorateRequest('session', {
    getter(this: FastifyRequest) {
      const slot = (this as SlotRequest)[kSlot];
      return slot === null ? null : nativeSession(slot, FASTIFY_API);
    },
    setter(this: FastifyRequest, value: unknown) {
      const slot = (this as SlotRequest)[kSlot];
      if (slot === null)
        throw new ConfigError('request.session is set by latchkey/fastify: register it first');
      assignSession(slot, value);
    },
  } as never);
  app.decorateRequest(kFailed, false);
  app.decorateRequest('csrfToken', function csrfToken(this: FastifyRequest): string {
    if (csrf === undefined)
      throw new ConfigError('request.csrfToken() needs latchkey/fastify registered with the csrf option');
    return csrf.token(coreSessionOf(this));
  });

  // Callback-style hooks, not async ones: in cookie mode (loadNow/commitNow) a request then costs no
  // promise at all for its session.
  const sync = syncSessions(sessions);
  /** Loading failed (a store outage): answer with the failure response, and end the hook chain there. */
  const failLoad = (error: unknown, request: FastifyRequest, reply: FastifyReply, done: HookDone) => {
    failureBody(error, request, reply, onError).then((body) => {
      if (body !== reply) reply.send(body);
    }, done);
  };
  app.addHook('onRequest', (request, reply, done) => {
    const options = request.protocol === 'https' ? SECURE : undefined;
    if (sync !== undefined) {
      try {
        setSlot(request, sync.loadNow(request.raw, options));
      } catch (error) {
        failLoad(error, request, reply, done);
        return;
      }
      done();
      return;
    }
    sessions.load(request.raw, options).then(
      (session) => {
        setSlot(request, session);
        done();
      },
      (error: unknown) => failLoad(error, request, reply, done),
    );
  });

  // Fastify's onError hooks run for a handler (or hook) that threw: that request commits nothing, so
  // its half-made changes are not sealed into the error response.
  app.addHook('onError', (request, _reply, _error, next) => {
    (request as FailedRequest)[kFailed] = true;
    next();
  });

  /** The commit failed: the failure response replaces the payload. */
  const failCommit = (
    error: unknown,
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: SendDone,
  ) => {
    const stream = payload as { destroy?: () => void } | null;
    if (typeof stream?.destroy === 'function') stream.destroy();
    failureBody(error, request, reply, onError).then((body) => done(null, toPayload(body, reply)), done);
  };
  app.addHook('onSend', (request, reply, payload, done) => {
    const slot = (request as SlotRequest)[kSlot];
    if (slot === null || (request as FailedRequest)[kFailed]) {
      done(null, payload);
      return;
    }
    if (slot.inFlight > 0 || slot.pending !== undefined || slot.failed) {
      // A sign-out or rotation the handler did not await (`request.session.delete()`): commit after it.
      settle(slot).then(
        () => commitSlot(slot, request, reply, payload, done),
        (error: unknown) => {
          lockSession(slot.impl);
          failCommit(error, request, reply, payload, done);
        },
      );
      return;
    }
    commitSlot(slot, request, reply, payload, done);
  });
  const commitSlot = (
    slot: NativeSlot<FastifyRequest>,
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    done: SendDone,
  ) => {
    const session = slot.impl as unknown as Session<FastifySessionData>;
    // From here on a change could not reach this response: make it a loud error.
    lockSession(session);
    if (sync !== undefined) {
      let setCookie: string[];
      try {
        setCookie = sync.commitNow(session);
      } catch (error) {
        failCommit(error, request, reply, payload, done);
        return;
      }
      if (setCookie.length > 0) applySessionHeaders(reply, setCookie);
      done(null, payload);
      return;
    }
    sessions.commit(session).then(
      (setCookie) => {
        if (setCookie.length > 0) applySessionHeaders(reply, setCookie);
        done(null, payload);
      },
      (error: unknown) => failCommit(error, request, reply, payload, done),
    );
  };

  if (csrf !== undefined) app.addHook('preValidation', csrfProtection(csrf));
}

// Not encapsulated (what fastify-plugin does): the hooks and decorators reach every route of the app.
// The plugin also carries the other exports, as @fastify/* plugins do: CommonJS's
// `app.register(require('latchkey/fastify'), { keys })` (dist/adapters/fastify.cjs exports the plugin).
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'latchkey',
  [Symbol.for('plugin-meta')]: { name: 'latchkey', fastify: '5.x' },
  default: plugin,
  latchkeySession: plugin,
  csrfProtection,
});

/** The plugin: `app.register(latchkeySession, { sessions })` or `app.register(latchkeySession, { keys })`. */
export const latchkeySession = plugin;
export default latchkeySession;
