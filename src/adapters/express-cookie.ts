/**
 * latchkey/express in cookie mode, for an app moving from express-session + a connect store that
 * changes only its import line: `import session from 'latchkey/express/cookie'`. The session is sealed
 * in the cookie (no store is written); the connect store and `secret` the app still passes are read
 * only to move the users signed in on express-session (their `connect.sid` cookies and records), until
 * `legacyUntil` (default: the old cookie's `maxAge`, at least a day, after start-up). Every other option,
 * method and export is latchkey/express's; see docs/migrate-from-express-session.md.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { RedisStore } from 'connect-redis';
 * import { createClient } from 'redis';
 * import session from 'latchkey/express/cookie';
 * const client = createClient();
 * await client.connect();
 * const app = express();
 * // The options as they were for express-session; LATCHKEY_KEYS is set in the environment.
 * app.use(session({ secret: process.env.SESSION_SECRET, store: new RedisStore({ client }) }));
 * ```
 */
import { ConfigError } from '../errors.ts';
import {
  Cookie,
  csrf,
  type ExpressSessionExport,
  type ExpressSessionOptions,
  MemoryStore,
  Session,
  Store,
  session as storeOrCookieSession,
} from './express.ts';
import { autoLegacy, isConnectStoreLike } from './express-options.ts';

export type { ExpressSession, ExpressSessionOptions, SessionCookieView, SessionData } from './express.ts';
export { Cookie, csrf, MemoryStore, Session, Store };

/**
 * Middleware giving `req.session` with express-session's API, the session sealed in the cookie. A
 * connect-style `store` is the old express-session store, read (never written) to move its users over.
 */
export function session(options: ExpressSessionOptions = {}): ReturnType<typeof storeOrCookieSession> {
  if (options === null || typeof options !== 'object') throw new ConfigError('options must be an object');
  const { store, ...rest } = options;
  if (store === undefined) return storeOrCookieSession(rest);
  if (!isConnectStoreLike(store)) {
    throw new ConfigError(
      'latchkey/express/cookie keeps sessions in the cookie: its `store` can only be the old ' +
        "express-session (connect-style) store to read users from; for a Latchkey store use 'latchkey/express'",
    );
  }
  if (rest.legacy === undefined) {
    autoLegacy(rest, {
      secret: rest.secret,
      store,
      cookieName: rest.name ?? rest.key,
      given: rest.sessions,
      cookie: rest.cookie,
    });
    if (rest.legacy === undefined) {
      // Reading the old cookies needs their name distinct from Latchkey's and string secrets: say so
      // rather than sign every user out without a word.
      throw new ConfigError(
        "latchkey/express/cookie reads the old store only with express-session's default cookie name " +
          '(connect.sid) and string secrets: without them, give legacy: [expressSession({ secret, store, name })] ' +
          "from 'latchkey/legacy' and legacyUntil, and no store (docs/migrate-from-express-session.md, step 6)",
      );
    }
  }
  return storeOrCookieSession(rest);
}

/** express-session's shape: `session()` carrying `Store`, `MemoryStore`, `Session`, `Cookie` and `csrf`. */
const cookieSession: ExpressSessionExport = Object.assign(session, {
  session,
  csrf,
  Store,
  MemoryStore,
  Session,
  Cookie,
}) as ExpressSessionExport;
Object.defineProperty(cookieSession, 'default', { value: cookieSession, enumerable: true });

export default cookieSession;
