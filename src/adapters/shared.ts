/**
 * What the framework adapters share: reading `{ sessions }` or the session options, the CSRF protection
 * from `createCsrf()` or its options, locking a committed session, and the session's response headers.
 * Internal: not a package entry point.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { CookieSessions } from '../core/cookie-mode.ts';
import { clearSiteDataFor, sessionCacheControl, sessionVary } from '../core/headers.ts';
import type { SessionsOptions } from '../core/options.ts';
import type { LoadOptions, RequestLike } from '../core/request.ts';
import { type Session, type SessionData, SessionImpl } from '../core/session.ts';
import { createSessions, type Sessions } from '../core/sessions.ts';
import { type Csrf, type CsrfError, type CsrfOptions, type CsrfRequest, createCsrf } from '../csrf/index.ts';
import { ConfigError } from '../errors.ts';

/** An adapter's options: a session manager you made, or the options to make one; plus onError. */
export type AdapterOptions<T extends SessionData, E> =
  | { sessions: Sessions<T>; onError?: E | undefined }
  | (SessionsOptions & { sessions?: undefined; onError?: E | undefined });

/**
 * The session manager (made from the options, or the one given, then with nothing beside it but
 * onError) and onError, both checked: a coded ConfigError starting with `label` otherwise. `ignore`
 * names options the adapter reads itself.
 */
export function resolveAdapterOptions<T extends SessionData, E>(
  options: AdapterOptions<T, E>,
  label: string,
  ignore: readonly string[] = [],
): { sessions: Sessions<T>; onError: E | undefined } {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`${label}: options must be an object`);
  }
  const { sessions, onError, ...rest } = options;
  if (onError !== undefined && typeof onError !== 'function') {
    throw new ConfigError(`${label}: onError must be a function`);
  }
  for (const key of ignore) delete (rest as Record<string, unknown>)[key];
  if (sessions === undefined) return { sessions: createSessions<T>(rest), onError };
  if (typeof sessions?.load !== 'function' || typeof sessions?.commit !== 'function') {
    throw new ConfigError(`${label}: sessions must come from createSessions()`);
  }
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new ConfigError(
      `${label}: with { sessions }, give the other options to createSessions() (got '${unknown.join("', '")}')`,
    );
  }
  return { sessions, onError };
}

/** A session manager that loads and commits without waiting: cookie mode's `loadNow`/`commitNow`. */
export interface SyncSessions<T extends SessionData> {
  loadNow(request: RequestLike, options?: LoadOptions): Session<T>;
  commitNow(session: Session<T>): string[];
}

/**
 * Cookie mode's synchronous path, or undefined (store mode and a revocation store wait for I/O). The adapters take it
 * when they can: a request then costs no promise and no microtask for its session.
 */
export function syncSessions<T extends SessionData>(sessions: Sessions<T>): SyncSessions<T> | undefined {
  return sessions instanceof CookieSessions && sessions.synchronous
    ? (sessions as CookieSessions<T>)
    : undefined;
}

/** `load()` options for a request the framework knows came over HTTPS, or plain HTTP: made once. */
export const SECURE: { readonly secure: boolean } = Object.freeze({ secure: true });
export const NOT_SECURE: { readonly secure: boolean } = Object.freeze({ secure: false });

/** A parsed body's form field, when it is a string (what a CSRF check reads from a form). */
export function bodyField(body: unknown, name: string): string | undefined {
  const value =
    body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** The CSRF protection from `createCsrf()`, or made from its options. */
export function toCsrf(protection: Csrf | CsrfOptions): Csrf {
  const candidate = protection as Partial<Csrf> | null;
  return typeof candidate?.check === 'function' && typeof candidate.token === 'function'
    ? (protection as Csrf)
    : createCsrf(protection as CsrfOptions);
}

/** From here on a change to the session could not reach the response: make it a loud error. */
export function lockSession<T extends SessionData>(session: Session<T>): void {
  if (session instanceof SessionImpl) session._locked = true;
}

/** A response header as `getHeader` gives it, followed by `lines`: each its own line (checklist #60). */
export function appendLines(existing: unknown, lines: readonly string[]): string[] {
  if (existing === undefined) return [...lines];
  return [...(Array.isArray(existing) ? existing : [String(existing)]), ...lines];
}

function headerText(value: unknown): string | undefined {
  return value === undefined ? undefined : String(value);
}

/**
 * The Set-Cookie lines (the response's own, then the session's), Cache-Control and Vary that a node
 * `ServerResponse` or a Fastify reply must carry with the session's cookies.
 */
export function sessionHeaderValues(
  response: { getHeader(name: string): unknown },
  setCookie: readonly string[],
): { setCookie: string[]; cacheControl: string; vary: string; clearSiteData: string | undefined } {
  return {
    setCookie: appendLines(response.getHeader('set-cookie'), setCookie),
    cacheControl: sessionCacheControl(headerText(response.getHeader('cache-control'))),
    vary: sessionVary(headerText(response.getHeader('vary'))),
    clearSiteData: clearSiteDataFor(setCookie),
  };
}

/** What latchkey/csrf needs from a Fetch `Request`; `url` is its parsed URL. */
export function fetchCsrfRequest(request: Request, url: URL): CsrfRequest {
  return {
    method: request.method,
    // A Fetch Request has no Host header (some runtimes drop it): its URL names the origin it was sent to.
    header: (name) => request.headers.get(name) ?? (name === 'host' ? url.host : undefined),
    secure: url.protocol === 'https:',
  };
}

/**
 * One request header of a node-style request (node:http, node:http2, Fastify) as latchkey/csrf reads
 * it: the first value of a repeated one. HTTP/2 has no Host header: its :authority pseudo-header names
 * the origin the request was sent to.
 */
export function nodeHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name] ?? (name === 'host' ? headers[':authority'] : undefined);
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The CSRF verdict for an unsafe request, the origin first: the form's token (`formToken()`, which may
 * read the body) is read only when the origin passed and no header carried a token, so a request from
 * elsewhere is refused before its body is read at all.
 */
export async function checkCsrf<T extends SessionData>(
  csrf: Csrf,
  request: CsrfRequest,
  session: Session<T>,
  formToken: () => Promise<string | undefined>,
): Promise<CsrfError | undefined> {
  const refused = csrf.check(request, session, undefined);
  if (refused?.reason !== 'token-missing' || request.header(csrf.headerName)) return refused;
  return csrf.check(request, session, await formToken());
}

/**
 * What latchkey/csrf needs from a node request. `secure` is the framework's word on HTTPS (Express's
 * `req.secure`, Koa's `ctx.secure`, which may trust a proxy); default: a TLS socket.
 */
export function csrfRequestOf(req: IncomingMessage, secure?: boolean): CsrfRequest {
  return {
    method: req.method ?? 'GET',
    header: (name) => nodeHeader(req.headers, name),
    secure:
      secure === undefined ? (req.socket as { encrypted?: unknown } | undefined)?.encrypted === true : secure,
  };
}
