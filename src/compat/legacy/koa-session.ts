import type { LegacyReader, LegacyRequest, LegacySession } from '../../core/legacy.ts';
import { ConfigError } from '../../errors.ts';
import { callStore } from '../../stores/types.ts';
import { type KeygripAlgorithm, type SigningKeys, signedCookieCheck, verifiedValue } from './keygrip.ts';
import { expireList, type LegacyCookieOptions, parseObject, userIdOf, without } from './shared.ts';

/** koa-session's external store, as its `store` option takes it. */
export interface KoaSessionStore {
  get(
    key: string,
    maxAge: number | 'session' | undefined,
    options: { rolling: boolean; ctx?: unknown },
  ): unknown;
  destroy?(key: string, options?: { ctx?: unknown }): unknown;
}

export interface KoaSessionReaderOptions extends LegacyCookieOptions {
  /** The app's `app.keys`: every key its cookies may be signed with. */
  keys: SigningKeys;
  /** koa-session's `key` (the cookie name). Default `koa.sess`. */
  key?: string | undefined;
  /** koa-session's `signed`. Default true; an unsigned cookie session is refused (it proves nothing). */
  signed?: boolean | undefined;
  /** koa-session's external `store`: the cookie then holds the record's key. */
  store?: KoaSessionStore | undefined;
  /** koa-session's `maxAge` in ms, passed to the store's get. Default one day, as koa-session. */
  maxAge?: number | 'session' | undefined;
  /** Delete the old store record once the session has moved. Default false. */
  destroyOld?: boolean | undefined;
  algorithm?: KeygripAlgorithm | undefined;
}

const OWN_KEYS = ['_expire', '_maxAge', '_session'];
const ONE_DAY = 86_400_000;

/**
 * Reads koa-session's sessions: a cookie `koa.sess` (base64 JSON with `_expire`/`_maxAge`), or, with
 * `store`, the record the cookie names in koa-session's external store; the cookie signed by
 * `koa.sess.sig` with one of the app's keys. Expired (`_expire` passed) sessions are refused.
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { koaSession } from 'latchkey/legacy';
 *
 * const sessions = createSessions({
 *   legacy: [koaSession({ keys: ['the app.keys of the Koa app'] })],
 *   legacyUntil: '2027-03-01',
 * });
 * ```
 */
export function koaSession(options: KoaSessionReaderOptions): LegacyReader {
  const label = 'koaSession()';
  if (options?.signed === false) {
    throw new ConfigError(`${label}: unsigned koa-session cookies can be forged; they cannot be migrated`);
  }
  const check = signedCookieCheck(options?.keys, options?.algorithm, label);
  const name = options.key ?? 'koa.sess';
  const store = options.store;
  if (store !== undefined && typeof store?.get !== 'function') {
    throw new ConfigError(`${label}: store must have get(key, maxAge, options), as koa-session's`);
  }
  const maxAge = options.maxAge ?? ONE_DAY;
  const toSession = (record: unknown, now: number): LegacySession | undefined => {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return undefined;
    const stored = record as Record<string, unknown>;
    const expire = stored._expire;
    if (typeof expire === 'number' && expire < now) return undefined;
    const data = without(stored, OWN_KEYS);
    const maxAgeMs = stored._maxAge;
    return {
      data,
      userId: userIdOf(options, data),
      expiresAt: typeof expire === 'number' ? expire : undefined,
      createdAt: typeof expire === 'number' && typeof maxAgeMs === 'number' ? expire - maxAgeMs : undefined,
    };
  };
  const externalKey = (request: LegacyRequest) => verifiedValue(request, name, check);
  return {
    name: 'koa-session',
    cookieNames: [name],
    expire: expireList([name, `${name}.sig`], options),
    synchronous: store === undefined,
    read(request) {
      const value = externalKey(request);
      if (value === undefined) return undefined;
      if (store === undefined) {
        let text: string;
        try {
          text = Buffer.from(value, 'base64').toString('utf8');
        } catch {
          return undefined;
        }
        return toSession(parseObject(text), request.now);
      }
      // An old store that fails is an outage (the request fails, the user moves on a later one).
      return callStore('koa-session', async () => store.get(value, maxAge, { rolling: false })).then(
        (record) => toSession(record, request.now),
      );
    },
    migrated:
      store?.destroy === undefined || options.destroyOld !== true
        ? undefined
        : async (request) => {
            const value = externalKey(request);
            if (value !== undefined) await store.destroy!(value, {});
          },
  };
}
