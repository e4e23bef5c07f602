/**
 * Sessions for Web `Request`/`Response` handlers: Hono, Next.js route handlers, Bun, Deno, and
 * anything else built on the Fetch API.
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { withSession } from 'latchkey/fetch';
 * const sessions = createSessions<{ visits: number }>();
 * export default {
 *   fetch: withSession(sessions, async (request, session) => {
 *     session.set('visits', (session.get('visits') ?? 0) + 1);
 *     return Response.json({ visits: session.get('visits') });
 *   }),
 * };
 * ```
 */
import { applyToHeaders } from '../core/headers.ts';
import type { Session, SessionData, SessionImpl } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import { type Csrf, csrfForbiddenBody } from '../csrf/index.ts';
import { UnsupportedError } from '../errors.ts';
import { errorResponse, PLAIN_NO_STORE } from './errors.ts';
import {
  type DataProperties,
  type NativeApi,
  type NativeSlot,
  nativeSession,
  newSlot,
  trackAfter,
} from './native-session.ts';
import { peerLoadOptions } from './peer.ts';
import { checkCsrf, fetchCsrfRequest, syncSessions } from './shared.ts';

export interface FetchSessionOptions {
  /** Turn a failure (a session too large for its cookies, a store outage) into a response. */
  onError?: ((error: unknown, request: Request) => Response | Promise<Response>) | undefined;
}

/**
 * Add the session's Set-Cookie lines, each its own header (checklist #60), and the cache headers to a
 * response, copying it first when its headers are immutable (as `Response.redirect()`'s are).
 */
export function withSessionHeaders(response: Response, setCookie: readonly string[]): Response {
  if (setCookie.length === 0) return response;
  try {
    applyToHeaders(response.headers, setCookie);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    applyToHeaders(copy.headers, setCookie);
    return copy;
  }
}

/** Wrap a Fetch handler: it receives the session, and its response carries the session cookie. */
export function withSession<T extends SessionData, Rest extends unknown[] = []>(
  sessions: Sessions<T>,
  handler: (request: Request, session: Session<T>, ...rest: Rest) => Response | Promise<Response>,
  options: FetchSessionOptions = {},
): (request: Request, ...rest: Rest) => Promise<Response> {
  const onError = options.onError ?? errorResponse;
  const sync = syncSessions(sessions); // cookie mode: load and commit without waiting
  return async (request, ...rest) => {
    let session: Session<T>;
    try {
      // Bun.serve and Deno.serve pass the connection's peer beside the request (for http://localhost).
      const loadOptions = peerLoadOptions(request, rest[0]);
      session =
        sync !== undefined ? sync.loadNow(request, loadOptions) : await sessions.load(request, loadOptions);
    } catch (error) {
      return onError(error, request);
    }
    const response = await handler(request, session, ...rest);
    try {
      const setCookie = sync !== undefined ? sync.commitNow(session) : await sessions.commit(session);
      return withSessionHeaders(response, setCookie);
    } catch (error) {
      return onError(error, request);
    }
  };
}

/** iron-session's API on the session from {@link getSession}. */
export interface FetchSessionApi {
  /**
   * Write the session now (store mode: the record) and put its Set-Cookie lines on the headers given
   * to getSession, replacing any this session put there before. Changes made after it need another
   * save, as with iron-session.
   */
  save(): Promise<void>;
  /**
   * Sign out: the data goes (store mode: the record at once), and the cookie's deletion is put on the
   * headers. Await it before building the response from the headers (iron-session's destroy() is
   * synchronous; awaiting it there is harmless, so the same code runs on both).
   */
  destroy(): Promise<void>;
  /**
   * Throws ERR_LATCHKEY_UNSUPPORTED: the password and ttl are the session manager's (keys,
   * timeouts); this session's cookie lifetime is `session.cookieOptions({ maxAge })`, in milliseconds.
   */
  updateConfig(options: unknown): never;
  /** A plain copy of the data. */
  toJSON(): Record<string, unknown>;
}

/**
 * The session from {@link getSession}: Latchkey's {@link Session}, iron-session's `save()` and
 * `destroy()`, and the data's keys as properties (`session.user = …` sets, `delete session.user`
 * deletes; a value the session cannot keep throws ERR_LATCHKEY_VALUE).
 */
export type FetchSession<T extends SessionData = Record<string, unknown>> = Session<T> &
  FetchSessionApi &
  DataProperties<T, FetchSessionApi>;

/** One getSession() call's commit target: the headers, and the session's lines already on them. */
interface FetchHost {
  readonly sessions: Sessions<SessionData>;
  readonly headers: Headers;
  readonly lines: Set<string>;
}

/** Commit now and put the lines on the headers, in place of this session's earlier ones. */
async function commitTo(slot: NativeSlot<FetchHost>): Promise<void> {
  const { sessions, headers, lines } = slot.host;
  const setCookie = await sessions.commit(slot.impl as unknown as Session<SessionData>);
  if (setCookie.length === 0) return;
  const names = new Set(setCookie.map((line) => line.slice(0, line.indexOf('='))));
  const superseded = headers
    .getSetCookie()
    .filter((line) => lines.has(line) && names.has(line.slice(0, line.indexOf('='))));
  if (superseded.length > 0) {
    const kept = headers.getSetCookie().filter((line) => !superseded.includes(line));
    headers.delete('set-cookie');
    for (const line of kept) headers.append('set-cookie', line);
  }
  applyToHeaders(headers, setCookie);
  for (const line of setCookie) lines.add(line);
}

const FETCH_API: NativeApi<FetchHost> = {
  methods: {
    save: (slot: NativeSlot<FetchHost>) => trackAfter(slot, () => commitTo(slot)),
    destroy: (slot: NativeSlot<FetchHost>) =>
      trackAfter(slot, async () => {
        await slot.impl.destroy();
        await commitTo(slot);
      }),
    updateConfig: () => {
      throw new UnsupportedError(
        "updateConfig(): keys and timeouts are createSessions()'s; for this session's cookie lifetime use session.cookieOptions({ maxAge }) (milliseconds), then save()",
      );
    },
  },
  accessors: {},
};

/**
 * The session of a Fetch request in iron-session's shape (`getIronSession(webCookies(request,
 * headers), options)`): data as properties, `await session.save()` to write it, `await
 * session.destroy()` to sign out, each putting its Set-Cookie lines on `response` (a `Headers` you
 * build the response with, or a `Response` whose headers can change). A session moved from a
 * `legacy` reader's old cookie is written at once: Latchkey's cookie and the old cookie's deletion
 * are on the headers before this returns, so a handler that only reads still moves the user. A store
 * outage rejects (ERR_LATCHKEY_STORE_UNAVAILABLE); a bad cookie is an empty new session.
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { getSession } from 'latchkey/fetch';
 * const sessions = createSessions();
 * export async function POST(request: Request): Promise<Response> {
 *   const headers = new Headers();
 *   const session = await getSession(sessions, request, headers);
 *   session.user = 'ada';
 *   await session.save();
 *   return Response.json({ ok: true }, { headers });
 * }
 * ```
 */
export async function getSession<T extends SessionData = Record<string, unknown>>(
  sessions: Sessions<T>,
  request: Request,
  response: Headers | Response,
): Promise<FetchSession<T>> {
  const headers = response instanceof Response ? response.headers : response;
  if (!(headers instanceof Headers)) {
    throw new TypeError('getSession(sessions, request, response): pass the Headers or Response to write to');
  }
  const core = await sessions.load(request, peerLoadOptions(request, undefined));
  const impl = core as unknown as SessionImpl<object>;
  const host: FetchHost = {
    sessions: sessions as unknown as Sessions<SessionData>,
    headers,
    lines: new Set(),
  };
  const slot = newSlot(impl, host);
  // Moved from an old library's cookie: written on this response even if the handler never saves.
  if (impl._legacy !== undefined) await commitTo(slot);
  return nativeSession<FetchHost, FetchSession<T>>(slot, FETCH_API);
}

/** The part of a Hono-style context that the middleware uses. */
export interface FetchMiddlewareContext<T extends SessionData> {
  req: { raw: Request };
  res: Response;
  /** The runtime's second argument to `fetch` (Bun's server, Deno's serve info), if any. */
  env?: unknown;
  /** Set by Hono when a handler threw. */
  error?: unknown;
  set(key: 'session', value: Session<T>): void;
}

/**
 * @deprecated Use `sessionMiddleware` from `latchkey/hono`: typed variables, CSRF, and a clean error
 * response. Kept for apps written against it.
 *
 * Middleware in Hono's `(c, next)` shape: `c.get('session')` in handlers. Declare the variable for
 * types: `new Hono<{ Variables: { session: Session<MyData> } }>()`. A fuller Hono adapter with typed
 * variables is `latchkey/hono`.
 */
export function sessionMiddleware<T extends SessionData>(
  sessions: Sessions<T>,
  options: FetchSessionOptions = {},
): (c: FetchMiddlewareContext<T>, next: () => Promise<void>) => Promise<void> {
  const onError = options.onError ?? errorResponse;
  const sync = syncSessions(sessions);
  return async (c, next) => {
    let session: Session<T>;
    try {
      const loadOptions = peerLoadOptions(c.req.raw, c.env);
      session =
        sync !== undefined
          ? sync.loadNow(c.req.raw, loadOptions)
          : await sessions.load(c.req.raw, loadOptions);
    } catch (error) {
      c.res = await onError(error, c.req.raw);
      return;
    }
    c.set('session', session);
    await next();
    // A handler that threw commits nothing: its half-made changes must not be sealed into the 500.
    if (c.error !== undefined) return;
    let setCookie: string[];
    try {
      setCookie = sync !== undefined ? sync.commitNow(session) : await sessions.commit(session);
    } catch (error) {
      c.res = await onError(error, c.req.raw);
      return;
    }
    if (setCookie.length === 0) return;
    try {
      applyToHeaders(c.res.headers, setCookie);
    } catch {
      // Immutable headers: replace the response first, then add ours (assigning c.res in Hono
      // re-copies the old Set-Cookie lines, so append only after the assignment).
      c.res = new Response(c.res.body, c.res);
      applyToHeaders(c.res.headers, setCookie);
    }
  };
}

const FORM_TYPES = /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i;

/**
 * Check an unsafe request against CSRF (checklist #59): a 403 Response to return when refused, else
 * undefined. The token comes from the header, or for a form post from its field (read from a clone,
 * so the handler can still read the body).
 *
 * @example
 * ```ts
 * const refused = await verifyCsrf(csrf, request, session);
 * if (refused) return refused;
 * ```
 */
export async function verifyCsrf<T extends SessionData>(
  csrf: Csrf,
  request: Request,
  session: Session<T>,
): Promise<Response | undefined> {
  if (!csrf.needsCheck(request.method)) return undefined;
  const checked = fetchCsrfRequest(request, new URL(request.url));
  const refused = await checkCsrf(csrf, checked, session, async () => {
    if (!FORM_TYPES.test(checked.header('content-type') ?? '')) return undefined;
    try {
      const field = (await request.clone().formData()).get(csrf.fieldName);
      return typeof field === 'string' ? field : undefined;
    } catch {
      return undefined; // a malformed body carries no token
    }
  });
  if (!refused) return undefined;
  return new Response(csrfForbiddenBody(refused), { status: 403, headers: PLAIN_NO_STORE });
}
