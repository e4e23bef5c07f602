/**
 * Per-session cookie options: one session's own Max-Age/Expires, HttpOnly, Secure, SameSite, Path,
 * Domain, Partitioned and Priority, kept with the session (sealed in the cookie-mode payload, sealed in
 * the store record) and applied each time its cookie is written. The "remember me" of
 * express-session (`req.session.cookie.maxAge = 30 * 864e5`) and @fastify/session's
 * `options({ maxAge })` are built on it.
 */
import { domainProblem, pathProblem, prefixProblem } from '../cookie/grammar.ts';
import type { ResolvedCookieOptions, SameSite } from '../cookie/options.ts';
import type { SetCookieAttributes } from '../cookie/serialize.ts';
import { CookieError } from '../errors.ts';
import { isPlainObject } from './json.ts';
import type { TimeoutPolicy } from './policy.ts';

/**
 * What `session.cookieOptions(changes)` takes. A field left out keeps its value; a field given as
 * `undefined` goes back to the configured default.
 */
export interface SessionCookieOptions {
  /**
   * Milliseconds. A number makes the cookie persistent and becomes this session's idle timeout: the
   * session ends after this long without a request, and its cookie's Max-Age follows (never past the
   * absolute timeout, which stays the hard limit). `null`: a browser-session cookie (no Max-Age).
   */
  maxAge?: number | null | undefined;
  /**
   * A fixed end: the cookie's Expires, and the session ends then at the latest (checked on the server
   * from the sealed value, checklist #28). A Date or UTC milliseconds; `null` removes it.
   */
  expires?: Date | number | null | undefined;
  httpOnly?: boolean | undefined;
  /** `false` only when the Sessions run with `development: true` (checklist #9). */
  secure?: boolean | undefined;
  sameSite?: SameSite | 'Lax' | 'Strict' | 'None' | undefined;
  path?: string | undefined;
  /** `null`: host-only, even when a domain is configured. */
  domain?: string | null | undefined;
  partitioned?: boolean | undefined;
  /** `null`: no Priority attribute, even when one is configured. */
  priority?: 'low' | 'medium' | 'high' | null | undefined;
}

/** The overrides as a session keeps them: only fields that differ from the configuration, times in ms. */
export interface CookieOverrides {
  maxAge?: number | null;
  expires?: number;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: SameSite;
  path?: string;
  domain?: string | null;
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high' | null;
}

/** The longest maxAge accepted: 400 days, the user agents' cap on a cookie's lifetime (RFC 6265bis §5.6.1). */
const MAX_AGE_LIMIT_MS = 400 * 24 * 3600 * 1000;
const SAME_SITE: Readonly<Record<string, SameSite>> = {
  lax: 'lax',
  strict: 'strict',
  none: 'none',
  Lax: 'lax',
  Strict: 'strict',
  None: 'none',
};
const PRIORITIES = new Set(['low', 'medium', 'high']);
const BOOLEAN_FIELDS = ['httpOnly', 'secure', 'partitioned'] as const;
const FIELDS = new Set([
  'maxAge',
  'expires',
  'httpOnly',
  'secure',
  'sameSite',
  'path',
  'domain',
  'partitioned',
  'priority',
]);

function fail(problem: string): never {
  throw new CookieError(`session cookie options: ${problem}`);
}

function checkMaxAge(value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_AGE_LIMIT_MS) {
    fail(`maxAge must be a whole number of milliseconds from 0 to 400 days, or null, not ${String(value)}`);
  }
  return value;
}

function checkExpires(value: unknown): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) {
    fail('expires must be a valid Date or UTC milliseconds, or null');
  }
  return ms;
}

/**
 * Merge `changes` into `current` (neither is modified) and check the result against the configured
 * cookie as the start-up checks would (checklist #9): `__Host-` rules, SameSite=None and Partitioned
 * need Secure, Secure off only in development. Throws CookieError (ERR_LATCHKEY_COOKIE) otherwise.
 */
export function mergeOverrides(
  current: CookieOverrides | undefined,
  changes: SessionCookieOptions,
  config: ResolvedCookieOptions,
  development: boolean,
): CookieOverrides | undefined {
  if (typeof changes !== 'object' || changes === null) {
    throw new TypeError('cookieOptions(changes): changes must be an object');
  }
  const next: CookieOverrides = { ...current };
  const record = next as Record<string, unknown>;
  for (const key of Object.keys(changes)) {
    if (!FIELDS.has(key)) fail(`unknown option '${key}'`);
    const value = (changes as Record<string, unknown>)[key];
    if (value === undefined) {
      delete record[key];
      continue;
    }
    switch (key) {
      case 'maxAge':
        next.maxAge = checkMaxAge(value);
        break;
      case 'expires':
        if (value === null) delete next.expires;
        else next.expires = checkExpires(value);
        break;
      case 'sameSite': {
        const sameSite =
          typeof value === 'string' && Object.hasOwn(SAME_SITE, value) ? SAME_SITE[value] : undefined;
        if (sameSite === undefined) fail(`sameSite must be 'lax', 'strict' or 'none', not ${String(value)}`);
        next.sameSite = sameSite;
        break;
      }
      case 'path': {
        const problem = pathProblem(value);
        if (problem !== undefined) fail(problem);
        next.path = value as string;
        break;
      }
      case 'domain': {
        const problem = value === null ? undefined : domainProblem(value);
        if (problem !== undefined) fail(problem);
        next.domain = value as string | null;
        break;
      }
      case 'priority':
        if (value !== null && !PRIORITIES.has(value as string)) {
          fail(`priority must be 'low', 'medium', 'high' or null, not ${String(value)}`);
        }
        next.priority = value as 'low' | 'medium' | 'high' | null;
        break;
      default:
        if (typeof value !== 'boolean') fail(`${key} must be true or false`);
        record[key] = value;
    }
  }
  const attributes = applyOverrides(config, next);
  if (attributes.secure === false && !development) {
    fail('secure: false is refused outside development mode (checklist #9)');
  }
  if (attributes.sameSite === 'none' && !attributes.secure) fail("sameSite 'none' requires secure: true");
  if (attributes.partitioned && !attributes.secure) fail('partitioned: true requires secure: true');
  const prefix = prefixProblem(config.name, { ...attributes, domain: attributes.domain });
  if (prefix !== undefined) fail(prefix);
  return Object.keys(next).length === 0 ? undefined : next;
}

/** The static attributes (no Max-Age/Expires) of a cookie with these overrides. */
export function applyOverrides(
  config: ResolvedCookieOptions,
  overrides: CookieOverrides,
): SetCookieAttributes & { path: string; secure: boolean } {
  const attributes: SetCookieAttributes & { path: string; secure: boolean } = {
    path: overrides.path ?? config.path,
    secure: overrides.secure ?? config.secure,
    httpOnly: overrides.httpOnly ?? config.httpOnly,
    sameSite: overrides.sameSite ?? config.sameSite,
    partitioned: overrides.partitioned ?? config.partitioned,
  };
  const domain = overrides.domain === undefined ? config.domain : (overrides.domain ?? undefined);
  if (domain !== undefined) attributes.domain = domain;
  const priority = overrides.priority === undefined ? config.priority : (overrides.priority ?? undefined);
  if (priority !== undefined) attributes.priority = priority;
  return attributes;
}

/** True when the cookie moved: another Path or Domain than the one the browser holds makes a second cookie. */
export function movedCookie(sent: CookieOverrides | undefined, now: CookieOverrides | undefined): boolean {
  return sent?.path !== now?.path || sent?.domain !== now?.domain;
}

/** True when a cookie with these overrides carries Max-Age/Expires. */
export function isPersistent(config: ResolvedCookieOptions, overrides: CookieOverrides | undefined): boolean {
  if (overrides === undefined) return config.persistent;
  if (overrides.maxAge === null) return false;
  return overrides.maxAge !== undefined || overrides.expires !== undefined || config.persistent;
}

/** This session's idle timeout: its own maxAge when it has one, never past the absolute timeout. */
export function idleTimeoutOf(overrides: CookieOverrides | undefined, policy: TimeoutPolicy): number {
  const maxAge = overrides?.maxAge;
  return typeof maxAge === 'number' ? Math.min(maxAge, policy.absoluteTimeout) : policy.idleTimeout;
}

/** How often an unmodified session is renewed: the policy's touchAfter, or a quarter of a shorter maxAge. */
export function touchAfterOf(overrides: CookieOverrides | undefined, policy: TimeoutPolicy): number {
  const maxAge = overrides?.maxAge;
  if (typeof maxAge !== 'number' || maxAge >= policy.idleTimeout) return policy.touchAfter;
  return Math.min(policy.touchAfter, Math.floor(maxAge / 4));
}

/** The public view of a session's overrides: a frozen copy, `expires` as a Date. */
export function viewOf(overrides: CookieOverrides | undefined): Readonly<SessionCookieOptions> {
  if (overrides === undefined) return EMPTY_VIEW;
  const { expires, ...rest } = overrides;
  return Object.freeze(expires === undefined ? rest : { ...rest, expires: new Date(expires) });
}
const EMPTY_VIEW: Readonly<SessionCookieOptions> = Object.freeze({});

/**
 * Read overrides back from an authenticated payload's `o` field; undefined when absent, `false` when
 * malformed (then the payload is refused as a whole).
 */
export function decodeOverrides(value: unknown): CookieOverrides | undefined | false {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) return false;
  const out: CookieOverrides = {};
  for (const key of Object.keys(value)) {
    const field = value[key];
    switch (key) {
      case 'maxAge':
        if (field !== null && !(Number.isSafeInteger(field) && (field as number) >= 0)) return false;
        out.maxAge = field as number | null;
        break;
      case 'expires':
        if (!Number.isSafeInteger(field) || (field as number) < 0) return false;
        out.expires = field as number;
        break;
      case 'sameSite':
        if (field !== 'lax' && field !== 'strict' && field !== 'none') return false;
        out.sameSite = field;
        break;
      case 'path':
        if (pathProblem(field) !== undefined) return false;
        out.path = field as string;
        break;
      case 'domain':
        if (field !== null && domainProblem(field) !== undefined) return false;
        out.domain = field as string | null;
        break;
      case 'priority':
        if (field !== null && !PRIORITIES.has(field as string)) return false;
        out.priority = field as 'low' | 'medium' | 'high' | null;
        break;
      default:
        if (!(BOOLEAN_FIELDS as readonly string[]).includes(key) || typeof field !== 'boolean') return false;
        (out as Record<string, unknown>)[key] = field;
    }
  }
  return out;
}
