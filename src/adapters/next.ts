/**
 * Sessions for Next.js 15 and 16: the App Router's Server Components (read-only), Server Actions and
 * Route Handlers (through `cookies()`), middleware / proxy (`withSession` on `NextRequest` and
 * `NextResponse`), and the Pages Router's `getServerSideProps` (API routes use `latchkey/node`).
 * Nothing here imports `next`: the cookie store and the request and response are taken as arguments,
 * so the same code runs on the Node and the edge runtimes.
 *
 * @example
 * ```ts
 * import { cookies } from 'next/headers';
 * import { createSessions } from 'latchkey';
 * import { getSession } from 'latchkey/next';
 * const sessions = createSessions<{ userName: string }>();
 * export async function signIn(form: FormData): Promise<void> {
 *   'use server';
 *   const session = await getSession(sessions, await cookies());
 *   await session.login(String(form.get('user')));
 *   session.set('userName', String(form.get('user')));
 *   await session.save();
 * }
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sessionCacheControl, sessionVary } from '../core/headers.ts';
import type { Session, SessionData } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import { SessionStateError } from '../errors.ts';
import { errorResponse } from './errors.ts';
import { withSessionHeaders } from './fetch.ts';
import { cookieFromLine, type NextCookie } from './next-cookies.ts';
import { readOnlyError } from './next-errors.ts';
import { type NextSession, NextSessionImpl } from './next-session.ts';
import { applyToNodeResponse } from './node-hold.ts';
import { syncSessions } from './shared.ts';

export { verifyCsrf } from './fetch.ts';
export type { NextCookie } from './next-cookies.ts';
export type { NextSession } from './next-session.ts';

/**
 * What Latchkey needs from `await cookies()` (next/headers): `getAll()` to read, `set()` to write. The
 * store Next gives a Server Component throws from `set()`; the one in a Server Action or a Route
 * Handler writes the response's Set-Cookie.
 */
export interface NextCookieStore {
  getAll(): ReadonlyArray<{ readonly name: string; readonly value: string }>;
  set(cookie: NextCookie): unknown;
}

/** Options for {@link getSession}. */
export interface GetSessionOptions {
  /**
   * `await headers()` (next/headers), to label a store-mode session with the browser it signed in
   * from (`listUserSessions`). Only the User-Agent is read.
   */
  headers?: { get(name: string): string | null } | undefined;
}

/**
 * The session of the current request in a Server Component, Server Action or Route Handler, read
 * through `cookies()`. In a Server Component it is read-only (see {@link NextSession.writable}).
 *
 * @example
 * ```ts
 * import { cookies } from 'next/headers';
 * import { createSessions } from 'latchkey';
 * import { getSession } from 'latchkey/next';
 * const sessions = createSessions<{ userName: string }>();
 * export default async function Page() {
 *   const session = await getSession(sessions, await cookies());
 *   return `Hello, ${session.get('userName') ?? 'stranger'}`;
 * }
 * ```
 */
export async function getSession<T extends SessionData>(
  sessions: Sessions<T>,
  cookieStore: NextCookieStore,
  options: GetSessionOptions = {},
): Promise<NextSession<T>> {
  if (typeof cookieStore?.getAll !== 'function' || typeof cookieStore.set !== 'function') {
    throw new TypeError('getSession(sessions, cookieStore): pass `await cookies()` from next/headers');
  }
  const cookieHeader = ownCookieHeader(cookieStore, sessions.cookieName, legacyNamesOf(sessions));
  const userAgent = options.headers?.get('user-agent') ?? undefined;
  const request =
    userAgent === undefined
      ? cookieHeader
      : { headers: new Headers({ cookie: cookieHeader, 'user-agent': userAgent }) };
  const session = await sessions.load(request);
  const writable = acceptsWrites(cookieStore);
  const commit = async () => {
    const lines = await sessions.commit(session);
    for (const line of lines) {
      try {
        cookieStore.set(cookieFromLine(line));
      } catch (error) {
        throw readOnlyError('cookies().set refused the session cookie', error);
      }
    }
  };
  // Moved from an old library's cookie (a legacy reader): where cookies can be set (a Server Action,
  // a Route Handler), Latchkey's cookie and the old cookie's deletion are set at once, as latchkey/fetch
  // does. A Server Component cannot set cookies: it reads the moved session as it is, and the move
  // happens on the first request that can write (the old cookie is still sent until then).
  if (writable && (session as unknown as { _legacy?: unknown })._legacy !== undefined) await commit();
  return new NextSessionImpl(session, writable, commit);
}

/** The legacy readers' cookie names of a session manager (empty when it has none). */
function legacyNamesOf(sessions: object): readonly string[] {
  return (sessions as unknown as { _legacyCookieNames?: readonly string[] })._legacyCookieNames ?? [];
}

const COOKIE_OCTETS = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/**
 * The Cookie header of the session's own cookies (the name, its chunks `name.N`, the cache
 * `name.cache`) from the cookie store. Other cookies are left out, and so is a value that is not
 * cookie-octets (Next decodes percent-escapes; ours never need one), so that no other cookie's value can
 * be read as ours. The legacy readers' cookies (`legacy`) are passed on too, by their exact names. After
 * a Server Action has saved, the store holds the new values: the page rendered on the same response
 * sees them.
 */
function ownCookieHeader(
  cookieStore: NextCookieStore,
  cookieName: string,
  legacyNames: readonly string[],
): string {
  const parts: string[] = [];
  for (const { name, value } of cookieStore.getAll()) {
    if (name === cookieName || name.startsWith(`${cookieName}.`)) {
      if (COOKIE_OCTETS.test(value)) parts.push(`${name}=${value}`);
    } else if (legacyNames.includes(name) && typeof value === 'string') {
      // An old library's cookie, which Next gave percent-decoded: encoded again when it has to be (the
      // readers whose values hold such characters decode them, as those libraries do).
      parts.push(`${name}=${COOKIE_OCTETS.test(value) ? value : encodeURIComponent(value)}`);
    }
  }
  return parts.join('; ');
}

const PROBE_REACHED = Symbol('latchkey probe');

/**
 * Whether the cookie store takes writes, found without writing: the probe is a cookie whose every
 * property read throws. A store that refuses writes (the one Next gives Server Components) throws
 * before it looks at its argument; one that takes writes reads the cookie's name first, which throws
 * our marker before anything is set.
 */
function acceptsWrites(cookieStore: NextCookieStore): boolean {
  let reached = false;
  const touch = (): never => {
    reached = true;
    throw PROBE_REACHED;
  };
  const probe = new Proxy(Object.create(null) as NextCookie, {
    get: touch,
    has: touch,
    ownKeys: touch,
    getOwnPropertyDescriptor: touch,
    getPrototypeOf: touch,
  });
  try {
    cookieStore.set(probe);
  } catch {
    // Either our marker (the store would have written) or the store's refusal.
  }
  return reached;
}

/** A NextResponse-like response: its `cookies.set` keeps the cookie visible to the rest of the request. */
interface ResponseWithCookies extends Response {
  cookies: { set(cookie: NextCookie): unknown };
}

function hasCookieJar(response: Response): response is ResponseWithCookies {
  return typeof (response as Partial<ResponseWithCookies>).cookies?.set === 'function';
}

/**
 * Put the session's Set-Cookie lines on a middleware / proxy or Route Handler response. On a
 * NextResponse they go through `response.cookies.set`, so Next passes them on to the page rendered for
 * this request too; on a plain Response they are appended as headers.
 */
export function applySessionCookies(response: Response, setCookie: readonly string[]): Response {
  if (setCookie.length === 0) return response;
  if (!hasCookieJar(response)) return withSessionHeaders(response, setCookie);
  try {
    for (const line of setCookie) response.cookies.set(cookieFromLine(line));
    response.headers.set('cache-control', sessionCacheControl(response.headers.get('cache-control')));
    response.headers.set('vary', sessionVary(response.headers.get('vary')));
  } catch {
    // Immutable headers: a plain copy that carries the lines as headers.
    return withSessionHeaders(new Response(response.body, response), setCookie);
  }
  return response;
}

/** Options for {@link withSession}. */
export interface NextSessionOptions {
  /** Turn a failure (a store outage, a session too large) into a response. Default: log, 500 or 503. */
  onError?: ((error: unknown, request: Request) => Response | Promise<Response>) | undefined;
}

/**
 * Wrap a middleware / proxy function or a Route Handler: it receives the session and returns a
 * response, which then carries the session's cookie. A rolling session is refreshed here when due
 * (`touchAfter`), so a site whose pages are Server Components stays signed in while it is used.
 *
 * @example
 * ```ts
 * import { NextResponse, type NextRequest } from 'next/server';
 * import { createSessions } from 'latchkey';
 * import { withSession } from 'latchkey/next';
 * const sessions = createSessions();
 * export const proxy = withSession(sessions, (request: NextRequest, session) => {
 *   if (session.userId === undefined && request.nextUrl.pathname.startsWith('/account')) {
 *     return NextResponse.redirect(new URL('/sign-in', request.url));
 *   }
 *   return NextResponse.next();
 * });
 * ```
 */
export function withSession<T extends SessionData, R extends Request = Request, Rest extends unknown[] = []>(
  sessions: Sessions<T>,
  handler: (request: R, session: Session<T>, ...rest: Rest) => Response | Promise<Response>,
  options: NextSessionOptions = {},
): (request: R, ...rest: Rest) => Promise<Response> {
  const onError = options.onError ?? errorResponse;
  const sync = syncSessions(sessions);
  return async (request, ...rest) => {
    let session: Session<T>;
    // The headers without the URL: Next rebuilds the URL's scheme itself (http behind a TLS-terminating
    // proxy), so the transport counts as unknown, as in getSession(); with trustProxy, the
    // X-Forwarded-Proto header decides.
    const requestLike = { headers: request.headers };
    try {
      session = sync !== undefined ? sync.loadNow(requestLike) : await sessions.load(requestLike);
    } catch (error) {
      return onError(error, request);
    }
    const response = await handler(request, session, ...rest);
    let setCookie: string[];
    try {
      setCookie = sync !== undefined ? sync.commitNow(session) : await sessions.commit(session);
    } catch (error) {
      return onError(error, request);
    }
    return applySessionCookies(response, setCookie);
  };
}

/** The part of `getServerSideProps`' context that the session uses. */
export interface ServerSidePropsContextLike {
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * Pages Router: the session in `getServerSideProps(context)`. `save()` sets the session cookie on
 * `context.res` (call it before returning the props); `login`, `regenerate` and `destroy` save by
 * themselves. API routes take `withSession` from `latchkey/node`.
 *
 * @example
 * ```ts
 * import type { IncomingMessage, ServerResponse } from 'node:http';
 * import { createSessions } from 'latchkey';
 * import { getServerSideSession } from 'latchkey/next';
 * const sessions = createSessions<{ visits: number }>();
 * export async function getServerSideProps(context: { req: IncomingMessage; res: ServerResponse }) {
 *   const session = await getServerSideSession(sessions, context);
 *   session.set('visits', (session.get('visits') ?? 0) + 1);
 *   await session.save();
 *   return { props: { visits: session.get('visits') ?? 0 } };
 * }
 * ```
 */
export async function getServerSideSession<T extends SessionData>(
  sessions: Sessions<T>,
  context: ServerSidePropsContextLike,
): Promise<NextSession<T>> {
  const session = await sessions.load(context.req);
  return new NextSessionImpl(session, true, async () => {
    const lines = await sessions.commit(session);
    if (context.res.headersSent) {
      if (lines.length > 0) throw new SessionStateError('save(): the response headers were already sent');
      return;
    }
    applyToNodeResponse(context.res, lines);
  });
}
