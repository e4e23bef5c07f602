/**
 * express-session records moved offline by `latchkey migrate-store` into a Latchkey store, and the
 * connect-style view of them that the express-session reader takes as its `store`: after the offline
 * move, `expressSession({ secret, store: migratedStore({ store, keys }) })` finds a user's record by the
 * sid in their old `s:<sid>.<signature>` cookie exactly as it found it in connect-redis or
 * connect-pg-simple, and the old store can be switched off.
 *
 * Each record is kept under `base64url(SHA-256('latchkey/v1/express-session|' + sid))` (a store key no
 * session token can name: tokens are 43 base64url characters) with the express-session record as it
 * was (its `cookie` included), sealed with the Latchkey keys for the purpose `legacy` and that store
 * key. The Latchkey record's `userId` is Passport's user, so that `revokeUserSessions()` also ends
 * sessions not moved yet.
 */
import { createHash } from 'node:crypto';
import { encodeBase64url } from '../../crypto/base64url.ts';
import { type Keyring, parseKeyring } from '../../crypto/keyring.ts';
import { openValue, sealValue } from '../../crypto/seal.ts';
import { ConfigError } from '../../errors.ts';
import type { SessionStore, StoredRecord } from '../../stores/types.ts';
import type { ConnectStoreLike } from './express-session.ts';
import { parseObject } from './shared.ts';

/** The seal purpose of moved records: never opens as a session (`store`) or anything else. */
export const MIGRATED_PURPOSE = 'legacy';
/** The longest sealed moved record read back (characters). */
const MAX_SEALED = 4 * 1024 * 1024;
/** What a moved record holds once the user has moved on: a seal of this, until the record expires. */
const MOVED = '{"moved":true}';

/** The Latchkey store key of an express-session sid moved by `latchkey migrate-store`. */
export function migratedKey(sid: string): string {
  return encodeBase64url(createHash('sha256').update(`latchkey/v1/express-session|${sid}`).digest());
}

/** The sealed form of an express-session record (its JSON text) under its store key. */
export function sealMigrated(keyring: Keyring, storeKey: string, json: string): string {
  return sealValue(keyring, MIGRATED_PURPOSE, storeKey, json);
}

/**
 * The JSON text of a moved record, `'moved'` once its user has moved on (see {@link migratedStore}'s
 * destroy), or undefined when it does not open with the keys.
 */
export function openMigrated(keyring: Keyring, storeKey: string, record: StoredRecord): string | undefined {
  if (typeof record.sealed !== 'string') return undefined;
  const opened = openValue(keyring, MIGRATED_PURPOSE, storeKey, record.sealed, MAX_SEALED);
  if (!opened.ok) return undefined;
  const text = new TextDecoder().decode(opened.plaintext);
  return text === MOVED ? 'moved' : text;
}

export interface MigratedStoreOptions {
  /** The Latchkey store `latchkey migrate-store --to` wrote to (it may also be the app's own store). */
  store: SessionStore;
  /** The keys the records were sealed with (LATCHKEY_KEYS when migrate-store ran). Default LATCHKEY_KEYS. */
  keys?: string | Keyring | undefined;
}

/**
 * The moved records as a connect-style store, for `expressSession({ store })`: `get(sid)` opens the
 * record moved for that sid (null when there is none, it expired, or it does not open), `destroy(sid)`
 * marks it moved (with the reader's `destroyOld: true`), so that it can serve no second session and a
 * re-run of migrate-store does not bring it back. A store outage is passed on as the callback's error:
 * the reader then fails the request as an outage.
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { expressSession, migratedStore } from 'latchkey/legacy';
 * import { fsStore } from 'latchkey/stores/fs';
 *
 * const store = fsStore({ dir: './sessions' }); // the --to of `latchkey migrate-store`
 * const sessions = createSessions({
 *   store,
 *   legacy: [expressSession({ secret: 'the old secret', store: migratedStore({ store }), destroyOld: true })],
 *   legacyUntil: '2027-03-01',
 * });
 * ```
 */
export function migratedStore(options: MigratedStoreOptions): ConnectStoreLike {
  const store = options?.store;
  if (typeof store?.get !== 'function' || typeof store.update !== 'function') {
    throw new ConfigError('migratedStore(): store must be a Latchkey session store (latchkey/stores/*)');
  }
  const keys = options.keys ?? process.env.LATCHKEY_KEYS;
  if (keys === undefined || keys === '') {
    throw new ConfigError('migratedStore(): pass { keys } (the LATCHKEY_KEYS migrate-store ran with)');
  }
  const keyring = parseKeyring(keys);
  const open = (storeKey: string, record: StoredRecord): Record<string, unknown> | undefined => {
    const text = openMigrated(keyring, storeKey, record);
    return text === undefined || text === 'moved' ? undefined : parseObject(text);
  };
  return {
    get(sid, callback) {
      if (typeof sid !== 'string' || sid === '') {
        callback(null, null);
        return;
      }
      const storeKey = migratedKey(sid);
      store.get(storeKey).then(
        (record) => callback(null, record === null ? null : (open(storeKey, record) ?? null)),
        (error: unknown) => callback(error),
      );
    },
    destroy(sid, callback) {
      const storeKey = migratedKey(sid);
      const mark = async () => {
        const record = await store.get(storeKey);
        if (record === null) return;
        const { userId: _user, ...rest } = record;
        const moved: StoredRecord = {
          ...rest,
          sealed: sealMigrated(keyring, storeKey, MOVED),
          version: record.version + 1,
        };
        await store.update(storeKey, moved, record.version);
      };
      mark().then(
        () => callback?.(),
        (error: unknown) => callback?.(error),
      );
    },
  };
}
