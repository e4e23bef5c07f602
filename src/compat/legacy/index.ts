/**
 * `latchkey/legacy`: readers of other session libraries' cookies, for moving signed-in users to
 * Latchkey without signing anyone out. Pass them to `createSessions({ legacy: [...], legacyUntil })`;
 * see docs/legacy.md. Write a reader for another library with the {@link LegacyReader} interface.
 */
export type { LegacyCookie, LegacyReader, LegacyRequest, LegacySession } from '../../core/legacy.ts';
export { type CookieSessionReaderOptions, cookieSession } from './cookie-session.ts';
export {
  type ConnectStoreLike,
  type ExpressSessionReaderOptions,
  expressSession,
  unsignSessionId,
} from './express-session.ts';
export { type FastifySecureSessionReaderOptions, fastifySecureSession } from './fastify-secure-session.ts';
export { type IronSessionReaderOptions, ironSession } from './iron-session.ts';
export type { KeygripLike, SigningKeys } from './keygrip.ts';
export { type KoaSessionReaderOptions, type KoaSessionStore, koaSession } from './koa-session.ts';
export { type MigratedStoreOptions, migratedKey, migratedStore } from './migrated-store.ts';
export type { LegacyCookieOptions } from './shared.ts';
