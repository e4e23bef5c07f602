/**
 * Latchkey: encrypted, hardened web sessions. Start with {@link createSessions}; framework adapters
 * live in `latchkey/fetch`, `latchkey/node`, and so on.
 */

export type { CookieOptions, SameSite } from './cookie/options.ts';
export * from './core/index.ts';
export type { Keyring } from './crypto/keyring.ts';
export { generateKeyLine, parseKeyring } from './crypto/keyring.ts';
export type { LatchkeyErrorCode } from './errors.ts';
export { isLatchkeyError, LatchkeyError } from './errors.ts';
export type { SessionStore, StoredMeta, StoredRecord, UpdateResult } from './stores/types.ts';
