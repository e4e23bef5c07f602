/**
 * What the legacy readers share: their common options, verifying a signature in constant time, and
 * reading an old cookie value and session object defensively. Internal: not a package entry point.
 */
import { timingSafeEqual } from 'node:crypto';
import type { LegacyCookie, LegacyRequest } from '../../core/legacy.ts';
import { ConfigError } from '../../errors.ts';

/** Options every reader takes besides its own. */
export interface LegacyCookieOptions {
  /** The Path the old library set its cookie with, so that the deletion reaches it. Default `/`. */
  path?: string | undefined;
  /** The Domain the old library set its cookie with, if any. */
  domain?: string | undefined;
  /** Send the old cookie's deletion with Secure (needed when its name starts with `__Secure-`). */
  secure?: boolean | undefined;
  /**
   * The signed-in user of an old session, from its data; what it returns becomes the Latchkey
   * session's userId (as after `login()`). Default: Passport's `passport.user`, when it is there.
   */
  userId?: ((data: Record<string, unknown>) => string | number | undefined) | undefined;
}

/** Passport keeps the serialized user under `passport.user`. */
export function passportUser(data: Record<string, unknown>): string | number | undefined {
  const passport = data.passport;
  if (passport === null || typeof passport !== 'object') return undefined;
  const user = (passport as Record<string, unknown>).user;
  return typeof user === 'string' || typeof user === 'number' ? user : undefined;
}

/** The userId the options pick out of the old data, as a string; undefined when there is none. */
export function userIdOf(options: LegacyCookieOptions, data: Record<string, unknown>): string | undefined {
  const user = (options.userId ?? passportUser)(data);
  if (typeof user === 'number' && Number.isFinite(user)) return String(user);
  return typeof user === 'string' && user.length > 0 ? user : undefined;
}

/** The cookies to expire, with the old library's Path and Domain. */
export function expireList(names: readonly string[], options: LegacyCookieOptions): LegacyCookie[] {
  return names.map((name) => ({
    name,
    path: options.path ?? '/',
    domain: options.domain,
    secure: options.secure,
  }));
}

/** Equal strings, compared in time that depends only on their lengths. */
export function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A percent-encoded cookie value decoded (as the old libraries' cookie parsers do), or undefined. */
export function decodeValue(value: string): string | undefined {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/**
 * The one value the request carries for `name`: with duplicates (cookie tossing), the single one that
 * `accept` takes, else nothing (checklist #17).
 */
export function acceptOne<R>(
  request: LegacyRequest,
  name: string,
  accept: (value: string) => R | undefined,
): R | undefined {
  let found: R | undefined;
  for (const value of new Set(request.cookies(name))) {
    const result = accept(value);
    if (result === undefined) continue;
    if (found !== undefined) return undefined;
    found = result;
  }
  return found;
}

/** An old session object as JSON.parse made it: a plain object, or undefined. */
export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A copy of the data without the old library's own bookkeeping keys. */
export function without(data: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(data)) if (!keys.includes(key)) copy[key] = data[key];
  return copy;
}

/** Secrets or keys as a non-empty list of non-empty strings, or a ConfigError naming the option. */
export function secretList(value: unknown, label: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((item) => typeof item === 'string' && item.length > 0)) {
    throw new ConfigError(`${label} must be a non-empty string or a non-empty array of them`);
  }
  return list as string[];
}
