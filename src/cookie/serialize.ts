import { CookieError } from '../errors.ts';
import { domainProblem, isCookieValue, nameProblem, pathProblem, prefixProblem, quote } from './grammar.ts';
import type { ResolvedCookieOptions, SameSite } from './options.ts';
import { MAX_COOKIE_AGE_SECONDS } from './options.ts';

/** The attributes of one Set-Cookie line. Absent (or undefined) means the attribute is not written. */
export interface SetCookieAttributes {
  path?: string;
  domain?: string;
  /** Seconds; a safe integer from 0 to 400 days. */
  maxAge?: number;
  expires?: Date;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: SameSite;
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
}

/** RFC 6265bis §5.6 / checklist #12: user agents drop a cookie whose name plus value exceed 4096 octets. */
export const MAX_NAME_VALUE_BYTES = 4096;

const SAME_SITE_TEXT: ReadonlyMap<unknown, string> = new Map([
  ['lax', 'Lax'],
  ['strict', 'Strict'],
  ['none', 'None'],
]);
const PRIORITY_TEXT: ReadonlyMap<unknown, string> = new Map([
  ['low', 'Low'],
  ['medium', 'Medium'],
  ['high', 'High'],
]);
const EPOCH = new Date(0);
/** RFC 6265bis §5.1.1 refuses years before 1601; IMF-fixdate (RFC 9110 §5.6.7) has a 4-digit year. */
const MIN_YEAR = 1601;
const MAX_YEAR = 9999;

function fail(name: string, problem: string): never {
  throw new CookieError(`cannot serialize cookie ${quote(name)}: ${problem}`);
}

function flag(
  name: string,
  attributes: SetCookieAttributes,
  key: 'secure' | 'httpOnly' | 'partitioned',
): boolean {
  const value = attributes[key];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') fail(name, `${key} must be a boolean`);
  return value;
}

function maxAgeText(name: string, maxAge: unknown): string {
  // checklist #11: NaN, ±Infinity, 1.5 and 2^53 all throw; checklist #13 / 6265bis §5.6.2: ≤ 400 days.
  if (typeof maxAge !== 'number' || !Number.isSafeInteger(maxAge) || maxAge < 0) {
    fail(name, `maxAge must be a non-negative safe integer of seconds, not ${String(maxAge)}`);
  }
  if (maxAge > MAX_COOKIE_AGE_SECONDS)
    fail(name, `maxAge ${maxAge} is over 400 days (${MAX_COOKIE_AGE_SECONDS} s)`);
  return String(maxAge);
}

function expiresText(name: string, expires: unknown): string {
  if (!(expires instanceof Date) || Number.isNaN(expires.getTime()))
    fail(name, 'expires must be a valid Date');
  const year = expires.getUTCFullYear();
  if (year < MIN_YEAR || year > MAX_YEAR)
    fail(name, `expires must fall in the years ${MIN_YEAR}..${MAX_YEAR}`);
  // toUTCString() is the IMF-fixdate form for 4-digit years (ECMA-262 Date.prototype.toUTCString).
  return expires.toUTCString();
}

/**
 * One `Set-Cookie` header value. Every part is validated and nothing is encoded: a value that is not all
 * cookie-octets throws instead (our values are base64url). Throws {@link CookieError}.
 *
 * @example
 * ```ts
 * serializeSetCookie('__Host-lk', 'v1.k1.abc', { path: '/', secure: true, httpOnly: true, sameSite: 'lax' })
 * // '__Host-lk=v1.k1.abc; Path=/; Secure; HttpOnly; SameSite=Lax'
 * ```
 */
export function serializeSetCookie(name: string, value: string, attributes: SetCookieAttributes): string {
  const nameIssue = nameProblem(name);
  if (nameIssue !== undefined) throw new CookieError(`cannot serialize cookie: ${nameIssue}`);
  if (typeof value !== 'string' || !isCookieValue(value)) {
    // The value is never echoed: it may be a secret. checklist #11.
    fail(name, 'the value must be cookie-octets only (visible ASCII except DQUOTE , ; \\)');
  }
  // Both are ASCII by now, so string length is byte length. checklist #12.
  if (name.length + value.length > MAX_NAME_VALUE_BYTES) {
    fail(
      name,
      `name and value are ${name.length + value.length} bytes; the limit is ${MAX_NAME_VALUE_BYTES}`,
    );
  }
  if (attributes === null || typeof attributes !== 'object') fail(name, 'attributes must be an object');

  const parts = [`${name}=${value}`];
  const { path, domain, maxAge, expires, sameSite, priority } = attributes;
  if (path !== undefined) {
    const issue = pathProblem(path);
    if (issue !== undefined) fail(name, issue);
    parts.push(`Path=${path}`);
  }
  if (domain !== undefined) {
    const issue = domainProblem(domain);
    if (issue !== undefined) fail(name, issue);
    parts.push(`Domain=${domain}`);
  }
  if (maxAge !== undefined) parts.push(`Max-Age=${maxAgeText(name, maxAge)}`);
  if (expires !== undefined) parts.push(`Expires=${expiresText(name, expires)}`);

  const secure = flag(name, attributes, 'secure');
  const httpOnly = flag(name, attributes, 'httpOnly');
  const partitioned = flag(name, attributes, 'partitioned');
  if (secure) parts.push('Secure');
  if (httpOnly) parts.push('HttpOnly');
  if (sameSite !== undefined) {
    const text = SAME_SITE_TEXT.get(sameSite);
    if (text === undefined) fail(name, `unknown sameSite ${quote(String(sameSite))}`);
    // RFC 6265bis §5.6.7: browsers reject SameSite=None without Secure. checklist #9.
    if (sameSite === 'none' && !secure) fail(name, 'SameSite=None requires Secure');
    parts.push(`SameSite=${text}`);
  }
  if (partitioned) {
    // CHIPS: a Partitioned cookie without Secure is rejected. checklist #9.
    if (!secure) fail(name, 'Partitioned requires Secure');
    parts.push('Partitioned');
  }
  if (priority !== undefined) {
    const text = PRIORITY_TEXT.get(priority);
    if (text === undefined) fail(name, `unknown priority ${quote(String(priority))}`);
    parts.push(`Priority=${text}`);
  }
  const prefixIssue = prefixProblem(name, { secure, path, domain, httpOnly });
  if (prefixIssue !== undefined) fail(name, prefixIssue);
  return parts.join('; ');
}

/**
 * The line that deletes a cookie: empty value, `Max-Age=0` and an epoch `Expires`, with the Path, Domain,
 * Secure, HttpOnly, SameSite and Partitioned it was set with, since a browser deletes only the cookie
 * whose name, domain, path (and partition) all match (checklist #14, RFC 6265bis §5.7 step 22).
 */
export function serializeCookieDeletion(name: string, attributes: SetCookieAttributes): string {
  return serializeSetCookie(name, '', { ...attributes, maxAge: 0, expires: EPOCH });
}

/** The static attributes of the session cookie (no Max-Age/Expires: the core adds those when persistent). */
export function attributesOf(options: ResolvedCookieOptions): SetCookieAttributes {
  const attributes: SetCookieAttributes = {
    path: options.path,
    secure: options.secure,
    httpOnly: options.httpOnly,
    sameSite: options.sameSite,
    partitioned: options.partitioned,
  };
  if (options.domain !== undefined) attributes.domain = options.domain;
  if (options.priority !== undefined) attributes.priority = options.priority;
  return attributes;
}
