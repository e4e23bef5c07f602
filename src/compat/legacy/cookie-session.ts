import type { LegacyReader } from '../../core/legacy.ts';
import { type KeygripAlgorithm, type SigningKeys, signedCookieCheck, verifiedValue } from './keygrip.ts';
import { expireList, type LegacyCookieOptions, parseObject, userIdOf } from './shared.ts';

export interface CookieSessionReaderOptions extends LegacyCookieOptions {
  /** cookie-session's `keys` (or `secret`): every key its cookies may be signed with. */
  keys: SigningKeys;
  /** cookie-session's `name`. Default `session`. */
  name?: string | undefined;
  /** The keygrip algorithm, if you gave cookie-session a Keygrip with another one. Default `sha1`. */
  algorithm?: KeygripAlgorithm | undefined;
}

/**
 * Reads cookie-session's cookies: `session` (base64 JSON) signed by `session.sig` with one of `keys`.
 * cookie-session has no expiry of its own (only the cookie's), so the Latchkey timeouts apply.
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { cookieSession } from 'latchkey/legacy';
 *
 * const sessions = createSessions({
 *   legacy: [cookieSession({ keys: ['old key 2', 'old key 1'] })],
 *   legacyUntil: '2027-03-01',
 * });
 * ```
 */
export function cookieSession(options: CookieSessionReaderOptions): LegacyReader {
  const label = 'cookieSession()';
  const check = signedCookieCheck(options?.keys, options?.algorithm, label);
  const name = options.name ?? 'session';
  return {
    name: 'cookie-session',
    cookieNames: [name],
    expire: expireList([name, `${name}.sig`], options),
    synchronous: true,
    read(request) {
      const value = verifiedValue(request, name, check);
      if (value === undefined) return undefined;
      const data = parseObject(Buffer.from(value, 'base64').toString('utf8'));
      if (data === undefined) return undefined;
      return { data, userId: userIdOf(options, data) };
    },
  };
}
