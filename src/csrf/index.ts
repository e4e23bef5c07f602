/**
 * Cross-site request forgery protection (checklist #59), in two layers for every unsafe request
 * (anything but GET, HEAD, OPTIONS and TRACE):
 *
 * 1. **Where it came from.** A browser says so in `Origin` (and `Sec-Fetch-Site`): a request from
 *    another origin is refused unless that origin is in `allowedOrigins`.
 * 2. **A token only your pages have.** Each session has a random secret, sealed with the session.
 *    `csrf.token(session)` masks it with fresh random bytes, so the token differs on every render
 *    (BREACH-safe); a submitted token is unmasked and compared in constant time.
 *
 * SameSite cookies are a third layer, not a replacement: they do nothing for same-site attackers
 * (a sibling subdomain) or for browsers and requests that do not honour them.
 *
 * @example
 * ```ts
 * import { createCsrf } from 'latchkey/csrf';
 * const csrf = createCsrf();
 * // render:  <input type="hidden" name="_csrf" value="${csrf.token(session)}">
 * // or send: fetch('/api', { method: 'POST', headers: { 'x-csrf-token': token } })
 * // verify (the adapters' middleware does this for you):
 * const refused = csrf.check({ method, header: (name) => headers.get(name) ?? undefined }, session, form.get('_csrf'));
 * if (refused) return new Response(csrfForbiddenBody(refused), { status: 403 });
 * ```
 */
import { asImpl, type Session, type SessionData } from '../core/session.ts';
import { decodeBase64url, encodeBase64url } from '../crypto/base64url.ts';
import { constantTimeEqual } from '../crypto/hmac.ts';
import { randomBytes } from '../crypto/random.ts';
import { ConfigError, CsrfError, type CsrfReason } from '../errors.ts';

export { CsrfError, type CsrfReason };

export interface CsrfOptions {
  /**
   * Other origins allowed to send unsafe requests, exactly as browsers write them in `Origin`
   * (`https://admin.example.com`, no path). Your own origin is always allowed.
   */
  allowedOrigins?: readonly string[] | undefined;
  /** The form field that carries the token; default `_csrf`. */
  fieldName?: string | undefined;
  /** The request header that carries the token (for fetch/XHR); default `x-csrf-token`. */
  headerName?: string | undefined;
  /**
   * Default true. false: only the Origin / Sec-Fetch-Site check (for JSON APIs whose clients cannot
   * carry a token). Requests from non-browser clients, which send neither header, then pass.
   */
  requireToken?: boolean | undefined;
  /** Accept `Sec-Fetch-Site: same-site` (a sibling subdomain) when no `Origin` says more. Default false. */
  allowSameSite?: boolean | undefined;
  /** Behind a proxy: take your own origin from `X-Forwarded-Proto` and `X-Forwarded-Host`. Default false. */
  trustProxy?: boolean | undefined;
}

/** What the check needs from a request, whatever the framework. */
export interface CsrfRequest {
  readonly method: string;
  /** One request header by lower-case name; undefined when absent. */
  header(name: string): string | undefined;
  /** true for HTTPS, false for plain HTTP, undefined when not known (then only the host is compared). */
  readonly secure?: boolean | undefined;
}

export interface Csrf {
  readonly fieldName: string;
  readonly headerName: string;
  /**
   * A token for a form or page: different on every call, each valid for as long as the session keeps
   * its secret (until sign-in or sign-out). Makes the secret on first use, so call it before the
   * response headers go out.
   */
  token<T extends SessionData>(session: Session<T>): string;
  /** False for GET, HEAD, OPTIONS and TRACE, which must not change anything and are not checked. */
  needsCheck(method: string): boolean;
  /**
   * Check a request: undefined when it may go ahead, else the CsrfError to answer 403 with. The token
   * is read from the header, else `formToken` (the adapter reads the parsed body's `fieldName`).
   */
  check<T extends SessionData>(
    request: CsrfRequest,
    session: Session<T>,
    formToken?: string | undefined,
  ): CsrfError | undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

function needsCheck(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}
const SECRET_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{86}$/;
const HEADER_NAME = /^[a-z0-9-]{1,64}$/;
const FIELD_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function checkOrigin(value: unknown): string {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== value) {
    throw new ConfigError(
      `allowedOrigins: '${String(value)}' is not an origin; write it as a browser does, e.g. 'https://app.example.com'`,
    );
  }
  return url.origin;
}

function checkName(value: unknown, fallback: string, pattern: RegExp, what: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new ConfigError(`${what} must match ${pattern}`);
  }
  return value;
}

/** `host[:port]` without the scheme's default port, lower-cased, as `new URL().host` writes it. */
function normalHost(host: string, secure: boolean | undefined): string | undefined {
  try {
    return new URL(`${secure === false ? 'http' : 'https'}://${host}`).host;
  } catch {
    return undefined;
  }
}

/**
 * The right-most value of a possibly comma-joined forwarded header: the one your nearest proxy added
 * (entries further left may come from the client when a proxy appends).
 */
function nearestValue(value: string | undefined): string | undefined {
  const last = value?.split(',').at(-1)?.trim();
  return last === '' ? undefined : last;
}

/** Make the CSRF protection for an app; throws a coded ConfigError for bad options. */
export function createCsrf(options: CsrfOptions = {}): Csrf {
  if (options === null || typeof options !== 'object')
    throw new ConfigError('csrf options must be an object');
  if (options.allowedOrigins !== undefined && !Array.isArray(options.allowedOrigins)) {
    throw new ConfigError("allowedOrigins must be an array of origins, e.g. ['https://app.example.com']");
  }
  const allowed = new Set((options.allowedOrigins ?? []).map(checkOrigin));
  const fieldName = checkName(options.fieldName, '_csrf', FIELD_NAME, 'fieldName');
  const headerName = checkName(options.headerName, 'x-csrf-token', HEADER_NAME, 'headerName');
  const requireToken = options.requireToken ?? true;
  const allowSameSite = options.allowSameSite ?? false;
  const trustProxy = options.trustProxy ?? false;

  function sameOrigin(origin: string, request: CsrfRequest): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // includes `Origin: null` (sandboxed frames, some redirects)
    }
    let secure = request.secure;
    let host = request.header('host');
    if (trustProxy) {
      const proto = nearestValue(request.header('x-forwarded-proto'));
      if (proto !== undefined) secure = proto.toLowerCase() === 'https';
      host = nearestValue(request.header('x-forwarded-host')) ?? host;
    }
    if (host === undefined) return false;
    if (secure !== undefined && url.protocol !== (secure ? 'https:' : 'http:')) return false;
    return normalHost(host, secure ?? url.protocol === 'https:') === url.host;
  }

  function fromElsewhere(request: CsrfRequest): boolean {
    const origin = request.header('origin');
    const site = request.header('sec-fetch-site');
    if (origin !== undefined) {
      if (allowed.has(origin) || sameOrigin(origin, request)) return false;
      // A same-origin form under `Referrer-Policy: no-referrer` sends `Origin: null`; the browser's own
      // Sec-Fetch-Site (which a page cannot set) then says where it came from.
      return !(origin === 'null' && site === 'same-origin');
    }
    return site === 'cross-site' || (site === 'same-site' && !allowSameSite);
  }

  return {
    fieldName,
    headerName,
    token(session) {
      const secret = decodeBase64url(asImpl(session)._csrfSecret(true) ?? '');
      const token = new Uint8Array(SECRET_BYTES * 2);
      token.set(randomBytes(SECRET_BYTES));
      for (let i = 0; i < SECRET_BYTES; i++) token[SECRET_BYTES + i] = token[i]! ^ secret![i]!;
      return encodeBase64url(token);
    },
    needsCheck,
    check(request, session, formToken) {
      if (!needsCheck(request.method)) return undefined;
      if (fromElsewhere(request)) {
        return new CsrfError('cross-origin', 'the request came from another origin');
      }
      if (!requireToken) return undefined;
      // An empty header is no token: it must not hide the form's.
      const submitted = request.header(headerName) || formToken;
      if (submitted === undefined || submitted === '') {
        return new CsrfError(
          'token-missing',
          `no CSRF token in the ${headerName} header or ${fieldName} field`,
        );
      }
      const secretText = asImpl(session)._csrfSecret(false);
      const token = TOKEN_PATTERN.test(submitted) ? decodeBase64url(submitted) : null;
      const secret = secretText === undefined ? null : decodeBase64url(secretText);
      if (!token || !secret)
        return new CsrfError('token-invalid', 'the CSRF token is not valid for this session');
      const unmasked = new Uint8Array(SECRET_BYTES);
      for (let i = 0; i < SECRET_BYTES; i++) unmasked[i] = token[i]! ^ token[SECRET_BYTES + i]!;
      if (!constantTimeEqual(unmasked, secret)) {
        return new CsrfError('token-invalid', 'the CSRF token is not valid for this session');
      }
      return undefined;
    },
  };
}

/** The body of the 403 answer: the code and reason, nothing about the session. */
export function csrfForbiddenBody(error: CsrfError): string {
  return `Forbidden: ${error.code} (${error.reason})\n`;
}
