/**
 * The signature the `cookies` package (cookie-session, koa-session) puts in `<name>.sig`: keygrip's
 * HMAC (SHA-1 by default) of `<name>=<value>`, base64 with `/` `+` `=` made `_` `-` and nothing.
 */
import { createHmac } from 'node:crypto';
import type { LegacyRequest } from '../../core/legacy.ts';
import { ConfigError } from '../../errors.ts';
import { safeEqual, secretList } from './shared.ts';

export type KeygripAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface SignedCookieCheck {
  keys: readonly string[];
  algorithm: KeygripAlgorithm;
}

export function signedCookieCheck(keys: unknown, algorithm: unknown, label: string): SignedCookieCheck {
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
    const expected = check.keys.map((key) => keygripSign(data, key, check.algorithm));
    const signed = signatures.some((signature) => expected.some((digest) => safeEqual(signature, digest)));
    if (!signed) continue;
    if (found !== undefined && found !== value) return undefined;
    found = value;
  }
  return found;
}
