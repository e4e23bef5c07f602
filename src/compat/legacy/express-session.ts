import { createHmac } from 'node:crypto';
import type { LegacyReader, LegacyRequest, LegacySession } from '../../core/legacy.ts';
import { ConfigError } from '../../errors.ts';
import { storeUnavailable } from '../../stores/types.ts';
import {
  acceptOne,
  decodeValue,
  expireList,
  type LegacyCookieOptions,
  safeEqual,
  secretList,
  userIdOf,
  without,
} from './shared.ts';

/** A connect-style store (connect-redis, connect-pg-simple, express-session's MemoryStore, …). */
export interface ConnectStoreLike {
  get(sid: string, callback: (error: unknown, session?: unknown) => void): unknown;
  destroy?(sid: string, callback?: (error?: unknown) => void): unknown;
}

export interface ExpressSessionReaderOptions extends LegacyCookieOptions {
  /** express-session's `secret`: every secret its cookies may be signed with (the first signs). */
  secret: string | readonly string[];
  /** express-session's `store`, which holds the old sessions. */
  store: ConnectStoreLike;
  /** express-session's `name`. Default `connect.sid` (@fastify/session: `sessionId`). */
  name?: string | undefined;
  /**
   * What comes before `<sid>.<signature>` in the cookie: express-session's `s:` by default. Pass `''` for
   * @fastify/session, which signs the same way (HMAC-SHA256, base64 without padding) without it.
   */
  prefix?: string | undefined;
  /** Delete the old record once the session has moved. Default false (it then ends by its own TTL). */
  destroyOld?: boolean | undefined;
  /** How long an old store may take to answer, in ms, before the request fails as an outage. Default 5000. */
  timeout?: number | undefined;
}

/**
 * The session id of an express-session cookie `s:<sid>.<signature>`, when the signature (cookie-signature:
 * HMAC-SHA256, base64 without padding) verifies with one of the secrets, compared in constant time.
 */
export function unsignSessionId(
  value: string,
  secrets: readonly string[],
  prefix = 's:',
): string | undefined {
  const decoded = decodeValue(value);
  if (decoded === undefined || !decoded.startsWith(prefix)) return undefined;
  const signed = decoded.slice(prefix.length);
  const dot = signed.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const sid = signed.slice(0, dot);
  const signature = signed.slice(dot + 1);
  let valid = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
    // Every secret is tried, so the time taken does not tell which one matched.
    if (safeEqual(signature, expected)) valid = true;
  }
  return valid ? sid : undefined;
}

function getRecord(store: ConnectStoreLike, sid: string, timeout: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(storeUnavailable('express-session', 'timed out')), timeout);
    const done = (error: unknown, session?: unknown) => {
      clearTimeout(timer);
      if (error) reject(storeUnavailable('express-session', error));
      else resolve(session ?? null);
    };
    try {
      const returned = store.get(sid, done);
      // Some stores also return a promise; its rejection counts like a callback error.
      if (returned instanceof Promise) returned.catch((error: unknown) => done(error));
    } catch (error) {
      done(error);
    }
  });
}

/**
 * The Latchkey side of an express-session record: its data without `cookie`, its user, and its clocks
 * from `cookie.expires` and `originalMaxAge`; undefined when it is not an object or has expired.
 * Internal: `latchkey migrate-store` decides with it which records to move.
 */
export function toSession(
  record: unknown,
  options: Pick<ExpressSessionReaderOptions, 'userId'>,
  now: number,
): LegacySession | undefined {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return undefined;
  const stored = record as Record<string, unknown>;
  const cookie = stored.cookie as { expires?: unknown; originalMaxAge?: unknown } | undefined;
  const expires = cookie?.expires;
  const expiresAt =
    typeof expires === 'string' || expires instanceof Date ? new Date(expires).getTime() : undefined;
  if (expiresAt !== undefined && !(expiresAt > now)) return undefined; // NaN or past: expired
  const maxAge = cookie?.originalMaxAge;
  const data = without(stored, ['cookie']);
  return {
    data,
    userId: userIdOf(options, data),
    expiresAt,
    createdAt: expiresAt !== undefined && typeof maxAge === 'number' ? expiresAt - maxAge : undefined,
  };
}

/**
 * Reads express-session's sessions: verifies the `connect.sid` cookie `s:<sid>.<signature>` with any
 * of the old secrets, then reads the record from the old connect store (its callback `get`) and takes
 * its data without `cookie`; Passport's user becomes the session's userId. A store error or timeout
 * fails the request as a store outage (the user moves on a later request).
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { type ConnectStoreLike, expressSession } from 'latchkey/legacy';
 *
 * declare const oldStore: ConnectStoreLike; // the connect-redis or connect-pg-simple store you had
 * const sessions = createSessions({
 *   legacy: [expressSession({ secret: ['old secret'], store: oldStore })],
 *   legacyUntil: '2027-03-01',
 * });
 * ```
 */
export function expressSession(options: ExpressSessionReaderOptions): LegacyReader {
  const label = 'expressSession()';
  const secrets = secretList(options?.secret, `${label}: secret`);
  const store = options.store;
  if (typeof store?.get !== 'function') {
    throw new ConfigError(`${label}: store must be the connect-style store express-session used`);
  }
  const name = options.name ?? 'connect.sid';
  const prefix = options.prefix ?? 's:';
  if (typeof prefix !== 'string') throw new ConfigError(`${label}: prefix must be a string`);
  const timeout = options.timeout ?? 5000;
  if (!(Number.isSafeInteger(timeout) && timeout > 0))
    throw new ConfigError(`${label}: timeout must be ms > 0`);
  const sidOf = (request: LegacyRequest) =>
    acceptOne(request, name, (value) => unsignSessionId(value, secrets, prefix));
  return {
    name: 'express-session',
    cookieNames: [name],
    expire: expireList([name], options),
    synchronous: false,
    async read(request) {
      const sid = sidOf(request);
      if (sid === undefined) return undefined;
      return toSession(await getRecord(store, sid, timeout), options, request.now);
    },
    migrated:
      options.destroyOld === true && typeof store.destroy === 'function'
        ? (request) => {
            const sid = sidOf(request);
            if (sid === undefined) return;
            return new Promise<void>((resolve) => {
              store.destroy!(sid, () => resolve());
            });
          }
        : undefined,
  };
}
