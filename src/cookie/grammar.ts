/**
 * The cookie grammar shared by the option resolver, the serializer, the parser and the chunker, so that
 * every rule is written once (STYLE: "the same prefix check written twice" is what to avoid). Each
 * `…Problem` function returns a sentence saying what is wrong, or undefined; callers choose the error class
 * (ConfigError at start-up, CookieError at serialization).
 *
 * Every pattern here is a single anchored character class: linear, with no backtracking (checklist #21).
 */

/** RFC 9110 §5.6.2 token (tchar+): the only cookie names we write or read. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * RFC 6265bis §4.1.1 cookie-octet*: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E, i.e. visible ASCII
 * except DQUOTE, comma, semicolon and backslash. No quoted form: checklist #20 (quotes are never unescaped).
 */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;

/** RFC 6265bis §4.1.1 path-value is "any CHAR except CTLs or ';'"; we also refuse SP (unambiguous lines). */
const PATH = /^\/[\x21-\x3A\x3C-\x7E]*$/;

/** LDH labels separated by single dots; per-label lengths are checked separately. */
const DOMAIN = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

/** WHATWG URL "ends in a number": a host whose last label is numeric parses as IPv4 (`127.1`, `0x7f.1`). */
const NUMERIC_LABEL = /^(?:[0-9]+|0[xX][0-9A-Fa-f]*)$/;

/** RFC 6265bis §5.6: a user agent ignores an attribute whose value is longer than 1024 octets. */
const MAX_ATTRIBUTE_VALUE_BYTES = 1024;
/** RFC 1035 §2.3.4: 253 characters in text form, 63 per label. */
const MAX_DOMAIN_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

export function isToken(name: string): boolean {
  return TOKEN.test(name);
}

export function isCookieValue(value: string): boolean {
  return COOKIE_VALUE.test(value);
}

/** JSON-quote a configured string for an error message, cut short so a huge input cannot flood logs. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'the cookie name must be a string';
  if (!isToken(name)) {
    // checklist #11 (CVE-2024-47764): `a=b; Max-Age=9; x` must never reach a header.
    return `the cookie name ${quote(name)} is not an RFC 9110 token (letters, digits, !#$%&'*+-.^_\`|~ only)`;
  }
  return undefined;
}

export function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'the cookie path must be a string';
  if (path.length > MAX_ATTRIBUTE_VALUE_BYTES) {
    return `the cookie path is longer than ${MAX_ATTRIBUTE_VALUE_BYTES} bytes (RFC 6265bis §5.6)`;
  }
  if (!PATH.test(path)) {
    // checklist #11: `/;Domain=evil` and CR/LF/NUL/non-ASCII would inject or split attributes.
    return `the cookie path ${quote(path)} must start with '/' and hold only visible ASCII other than ';'`;
  }
  return undefined;
}

export function domainProblem(domain: unknown): string | undefined {
  if (typeof domain !== 'string') return 'the cookie domain must be a string';
  if (domain.length > MAX_DOMAIN_LENGTH)
    return `the cookie domain is longer than ${MAX_DOMAIN_LENGTH} characters`;
  if (!DOMAIN.test(domain)) {
    // A leading dot is legacy (RFC 2109) and ignored by RFC 6265bis §5.6.3; an IDN must arrive as punycode
    // so that what we write is exactly what the browser compares; IPv6 literals need ':' or '[' anyway.
    return (
      `the cookie domain ${quote(domain)} must be ASCII letters, digits and hyphens in dotted labels ` +
      '(no leading or trailing dot, no IPv6 literal; give an IDN as punycode, e.g. xn--…)'
    );
  }
  const labels = domain.split('.');
  if (labels.some((label) => label.length > MAX_LABEL_LENGTH)) {
    return `each label of the cookie domain ${quote(domain)} must be at most ${MAX_LABEL_LENGTH} characters`;
  }
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) {
    // RFC 6265bis §5.1.3: an IP address only domain-matches itself, so Domain= would be misleading at best.
    return `the cookie domain ${quote(domain)} looks like an IP address; omit Domain instead`;
  }
  return undefined;
}

/** The parts of a cookie that RFC 6265bis name prefixes constrain. */
export interface PrefixContext {
  readonly secure: boolean;
  readonly path: string | undefined;
  readonly domain: string | undefined;
  /** For the `__Http-` and `__Host-Http-` prefixes; unchecked when absent. */
  readonly httpOnly?: boolean | undefined;
}

/** Lower-cases ASCII letters only, so no locale or Unicode rule can turn another name into a prefix. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * RFC 6265bis §4.1.3: `__Secure-` needs Secure; `__Host-` needs Secure, Path=/ and no Domain. Prefixes
 * are matched case-insensitively (§5.7, so `__HOST-x` is a `__Host-` cookie to the browser). checklist #9.
 */
export function prefixProblem(name: string, context: PrefixContext): string | undefined {
  const head = asciiLower(name.slice(0, 9));
  // rfc6265bis' __Http- and __Host-Http-: HttpOnly as well (browsers drop such a cookie without it).
  const http = head.startsWith('__http-');
  if ((http || asciiLower(name.slice(0, 12)) === '__host-http-') && context.httpOnly === false) {
    return `a cookie named ${quote(name)} (${http ? '__Http-' : '__Host-Http-'} prefix) must be HttpOnly`;
  }
  if (http && !context.secure) return `a cookie named ${quote(name)} (__Http- prefix) must be Secure`;
  if (head.startsWith('__host-')) {
    if (!context.secure) return `a cookie named ${quote(name)} (__Host- prefix) must be Secure`;
    if (context.path !== '/') return `a cookie named ${quote(name)} (__Host- prefix) must have Path=/`;
    if (context.domain !== undefined)
      return `a cookie named ${quote(name)} (__Host- prefix) must not have a Domain`;
  } else if (head === '__secure-' && !context.secure) {
    return `a cookie named ${quote(name)} (__Secure- prefix) must be Secure`;
  }
  return undefined;
}

/** UTF-8 length of a JS string (a lone surrogate counts 3 bytes, as U+FFFD); linear and allocation-free. */
export function utf8Length(text: string, start = 0, end = text.length): number {
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < end) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
