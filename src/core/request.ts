/**
 * What the core needs from a request, whatever framework it came from: the Cookie header(s) and
 * whether the connection is known to be HTTPS.
 */

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
export function requestFacts(request: RequestLike, trustProxy: boolean): RequestFacts {
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
    };
  }
  const record = (headers ?? {}) as Readonly<Record<string, string | readonly string[] | undefined>>;
  const socket = 'socket' in request ? (request.socket as { encrypted?: unknown } | undefined) : undefined;
  let secure: boolean | undefined = socket === undefined ? undefined : socket?.encrypted === true;
  if (trustProxy) {
    const proto = forwardedProto(record['x-forwarded-proto']);
    if (proto !== undefined) secure = proto === 'https';
  }
  const userAgent = record['user-agent'];
  return {
    cookieHeader: record.cookie,
    secure,
    userAgent: typeof userAgent === 'string' ? userAgent : undefined,
  };
}
