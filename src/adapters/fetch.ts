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
import type { Session, SessionData } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import { type Csrf, csrfForbiddenBody } from '../csrf/index.ts';
import { errorResponse, PLAIN_NO_STORE } from './errors.ts';
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
