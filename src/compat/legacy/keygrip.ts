/**
 * The signature the `cookies` package (cookie-session, koa-session) puts in `<name>.sig`: keygrip's
 * HMAC (SHA-1 by default) of `<name>=<value>`, base64 with `/` `+` `=` made `_` `-` and nothing.
 */
import { createHmac } from 'node:crypto';
import type { LegacyRequest } from '../../core/legacy.ts';
import { ConfigError } from '../../errors.ts';
import { safeEqual, secretList } from './shared.ts';

export type KeygripAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** A configured Keygrip instance (Koa's `app.keys` may be one; cookie-session takes one as `keys`). */
export interface KeygripLike {
  verify(data: string, digest: string): boolean;
  sign(data: string): string;
}

/** What an app may pass as `keys`: one key, a list (newest first), or a Keygrip instance. */
export type SigningKeys = string | readonly string[] | KeygripLike;

export interface SignedCookieCheck {
  keys: readonly string[];
  algorithm: KeygripAlgorithm;
  /** The app's own Keygrip, which verifies instead of `keys` (its keys and algorithm are inside it). */
  grip?: KeygripLike;
}

function isKeygrip(keys: unknown): keys is KeygripLike {
  return (
    typeof keys === 'object' &&
    keys !== null &&
    !Array.isArray(keys) &&
    typeof (keys as KeygripLike).verify === 'function' &&
    typeof (keys as KeygripLike).sign === 'function'
  );
}

export function signedCookieCheck(keys: unknown, algorithm: unknown, label: string): SignedCookieCheck {
  if (isKeygrip(keys)) {
    if (algorithm !== undefined) {
      throw new ConfigError(`${label}: algorithm goes into the Keygrip instance, not beside it`);
    }
    return { keys: [], algorithm: 'sha1', grip: keys };
  }
  const list = secretList(keys, `${label}: keys`);
  const chosen = algorithm ?? 'sha1';
  if (chosen !== 'sha1' && chosen !== 'sha256' && chosen !== 'sha512') {
    throw new ConfigError(`${label}: algorithm must be 'sha1', 'sha256' or 'sha512'`);
  }
  return { keys: list, algorithm: chosen };
}

function keygripSign(data: string, key: string, algorithm: KeygripAlgorithm): string {
  return createHmac(algorithm, key).update(data).digest('base64url');
}

/**
 * The value of cookie `name` whose `<name>.sig` verifies with one of the keys; with duplicates, only
 * when exactly one value verifies (checklist #17). Every key is tried, in constant time each.
 */
export function verifiedValue(
  request: LegacyRequest,
  name: string,
  check: SignedCookieCheck,
): string | undefined {
  const signatures = request.cookies(`${name}.sig`);
  if (signatures.length === 0) return undefined;
  let found: string | undefined;
  for (const value of new Set(request.cookies(name))) {
    const data = `${name}=${value}`;
    const { grip } = check;
    let signed: boolean;
    if (grip) {
      signed = signatures.some((signature) => grip.verify(data, signature) === true);
    } else {
      const expected = check.keys.map((key) => keygripSign(data, key, check.algorithm));
      signed = signatures.some((signature) => expected.some((digest) => safeEqual(signature, digest)));
    }
    if (!signed) continue;
    if (found !== undefined && found !== value) return undefined;
    found = value;
  }
  return found;
}
