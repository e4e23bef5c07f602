/**
 * What the core needs from a request, whatever framework it came from: the Cookie header(s) and
 * whether the connection is known to be HTTPS.
 */
import { isLoopbackAddress, isLoopbackHost, PROXY_HEADERS } from './loopback.ts';

/** Anything `sessions.load()` accepts. */
export type RequestLike =
  | string
  | null
  | undefined
  | { readonly headers: Headers; readonly url?: string }
  | {
      readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
      readonly socket?: unknown;
    };

export interface RequestFacts {
  /** Every Cookie header value, in order. */
  readonly cookieHeader: string | readonly string[] | undefined;
  /** true: HTTPS; false: plain HTTP; undefined: not known (a bare Cookie string). */
  readonly secure: boolean | undefined;
  /** The User-Agent, for a display label in device lists only. */
  readonly userAgent?: string | undefined;
  /**
   * Plain HTTP from this machine to a loopback name, with no proxy between (src/core/loopback.ts): the
   * browser's origin is a secure context there, so a Secure cookie may go out. Only ever true when the
   * sessions allow it (NODE_ENV is not 'production').
   */
  readonly loopback?: boolean;
  /**
   * The client's address, for signals only (src/core/signals.ts): the socket's peer (or `peerAddress`);
   * with `trustProxy`, the right-most `X-Forwarded-For` entry, which the nearest proxy added.
   */
  readonly clientAddress?: string | undefined;
}

/** `sessions.load()`'s options. */
export interface LoadOptions {
  /** The framework's word on HTTPS (such as Express's `req.secure`), over what the request shows. */
  secure?: boolean;
  /**
   * false: plain HTTP is plain HTTP even from loopback in development (the app asked for a Secure-only
   * cookie, as express-session's `cookie.secure: true`). Default true.
   */
  loopback?: boolean;
  /**
   * The connection's remote address, for a Fetch `Request` (which does not carry it): what Bun's
   * `server.requestIP(request)` or Deno's `info.remoteAddr` reports. Used to recognise local
   * development over `http://localhost`, and as the client `creationLimit` counts; a node request's own
   * socket is used instead.
   */
  peerAddress?: string;
}

/** Whether the session's cookie may be Secure on this request: HTTPS, or local development on loopback. */
export function secureTransportOf(
  facts: RequestFacts,
  options: LoadOptions | undefined,
): boolean | undefined {
  const secure = options?.secure ?? facts.secure;
  return secure === false && facts.loopback === true && options?.loopback !== false ? true : secure;
}

function hasProxyHeader(has: (name: string) => boolean): boolean {
  for (const name of PROXY_HEADERS) if (has(name)) return true;
  return false;
}

function fetchRequestIsLocal(url: string, headers: Headers, peerAddress: string | undefined): boolean {
  if (!isLoopbackAddress(peerAddress) || !url.startsWith('http://')) return false;
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    return false;
  }
  return isLoopbackHost(host) && !hasProxyHeader((name) => headers.has(name));
}

/**
 * The protocol your proxy saw: the right-most `X-Forwarded-Proto` entry, which is the one the nearest
 * proxy added. Entries further left may come from the client when a proxy appends instead of replacing.
 */
function forwardedProto(value: string | readonly string[] | null | undefined): string | undefined {
  const joined = Array.isArray(value) ? value.join(',') : value;
  if (typeof joined !== 'string' || joined.trim() === '') return undefined;
  return joined.split(',').at(-1)?.trim().toLowerCase();
}

function isFetchHeaders(headers: unknown): headers is Headers {
  // Duck-typed: a Headers object from another realm or polyfill fails `instanceof`.
  return typeof (headers as Headers | undefined)?.get === 'function';
}

/**
 * Read the cookie header and transport security from a Fetch Request, a node IncomingMessage, a
 * headers-bearing object or a bare Cookie header string. `X-Forwarded-Proto` counts only with
 * `trustProxy` (checklist #15). Where the transport cannot be known (a bare string, headers without a
 * socket or URL) it is undefined and not gated: pass `load(request, { secure })` to decide.
 */
export function requestFacts(
  request: RequestLike,
  trustProxy: boolean,
  allowLoopback = false,
  peerAddress?: string,
): RequestFacts {
  if (request === null || request === undefined) return { cookieHeader: undefined, secure: undefined };
  if (typeof request === 'string') return { cookieHeader: request, secure: undefined };
  const headers = request.headers;
  if (isFetchHeaders(headers)) {
    const url = 'url' in request && typeof request.url === 'string' ? request.url : undefined;
    let secure: boolean | undefined = url === undefined ? undefined : url.startsWith('https:');
    if (trustProxy) {
      const proto = forwardedProto(headers.get('x-forwarded-proto'));
      if (proto !== undefined) secure = proto === 'https';
    }
    return {
      cookieHeader: headers.get('cookie') ?? undefined,
      secure,
      userAgent: headers.get('user-agent') ?? undefined,
      clientAddress: (trustProxy && lastForwardedFor(headers.get('x-forwarded-for'))) || peerAddress,
      loopback: allowLoopback && secure === false && fetchRequestIsLocal(url ?? '', headers, peerAddress),
    };
  }
  const record = (headers ?? {}) as Readonly<Record<string, string | readonly string[] | undefined>>;
  const socket =
    'socket' in request
      ? (request.socket as { encrypted?: unknown; remoteAddress?: unknown } | undefined)
      : undefined;
  let secure: boolean | undefined = socket === undefined ? undefined : socket?.encrypted === true;
  if (trustProxy) {
    const proto = forwardedProto(record['x-forwarded-proto']);
    if (proto !== undefined) secure = proto === 'https';
  }
  const userAgent = record['user-agent'];
  const remote = socket?.remoteAddress;
  return {
    cookieHeader: record.cookie,
    secure,
    userAgent: typeof userAgent === 'string' ? userAgent : undefined,
    clientAddress:
      (trustProxy && lastForwardedFor(record['x-forwarded-for'])) ||
      (typeof remote === 'string' ? remote : peerAddress),
    loopback:
      allowLoopback &&
      secure === false &&
      isLoopbackAddress(socket?.remoteAddress) &&
      isLoopbackHost(hostOf(record)) &&
      !hasProxyHeader((name) => record[name] !== undefined),
  };
}

/** The right-most X-Forwarded-For entry (the nearest proxy's), or undefined. */
function lastForwardedFor(value: string | readonly string[] | null | undefined): string | undefined {
  const joined = Array.isArray(value) ? value.join(',') : value;
  if (typeof joined !== 'string' || joined.length > 4096) return undefined;
  const last = joined.split(',').at(-1)?.trim();
  return last === '' ? undefined : last;
}

/** The Host header, or HTTP/2's `:authority` where there is none; a repeated Host counts as none. */
function hostOf(
  record: Readonly<Record<string, string | readonly string[] | undefined>>,
): string | undefined {
  const host = record.host ?? record[':authority'];
  return typeof host === 'string' ? host : undefined;
}
