// migratedStore(): the records `latchkey migrate-store` wrote, read back by sid as a connect-style store
// for expressSession(). Over Latchkey's memory store (the CLI tests cover the file and Redis stores).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { createSessions } from '../../core/sessions.ts';
import { generateKeyLine, parseKeyring } from '../../crypto/keyring.ts';
import { isLatchkeyError } from '../../errors.ts';
import { memoryStore } from '../../stores/memory.ts';
import type { SessionStore, StoredRecord } from '../../stores/types.ts';
import { expressSession } from './express-session.ts';
import { migratedKey, migratedStore, openMigrated, sealMigrated } from './migrated-store.ts';

const KEYS = generateKeyLine('k1');
const keyring = parseKeyring(KEYS);

function put(store: SessionStore, sid: string, record: object, sealedWith = keyring): Promise<boolean> {
  const storeKey = migratedKey(sid);
  const now = Date.now();
  const stored: StoredRecord = {
    sealed: sealMigrated(sealedWith, storeKey, JSON.stringify(record)),
    createdAt: now,
    expiresAt: now + 60_000,
    absoluteAt: now + 60_000,
    lastSeenAt: now,
    version: 1,
  };
  return store.create(storeKey, stored);
}

const get = (connect: ReturnType<typeof migratedStore>, sid: string) =>
  new Promise<unknown>((resolve, reject) =>
    connect.get(sid, (error, value) => (error ? reject(error) : resolve(value))),
  );

describe('migratedStore', () => {
  test('get(sid) gives the express-session record as it was; unknown sids give null', async () => {
    const store = memoryStore();
    const record = {
      cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() },
      n: 1,
    };
    await put(store, 'abc', record);
    const connect = migratedStore({ store, keys: KEYS });
    assert.deepEqual(await get(connect, 'abc'), record);
    assert.equal(await get(connect, 'abd'), null);
    assert.equal(await get(connect, ''), null);
  });

  test('keys are per sid and never a token: a record moved to another sid, or sealed with other keys, does not open', async () => {
    const store = memoryStore();
    await put(store, 'mine', { n: 1 }, parseKeyring(generateKeyLine('k1')));
    const connect = migratedStore({ store, keys: KEYS });
    assert.equal(await get(connect, 'mine'), null, 'other keys');
    // The sealed value copied under another sid's key (its AAD names the first key).
    const first = migratedKey('a');
    await put(store, 'a', { user: 'a' });
    const copied = (await store.get(first))!;
    await store.create(migratedKey('b'), copied);
    assert.equal(await get(connect, 'b'), null);
    assert.equal(openMigrated(keyring, migratedKey('b'), copied), undefined);
    assert.match(migratedKey('x'), /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(migratedKey('x'), migratedKey('X'));
  });

  test('destroy(sid) marks the record used: no second session from it, and it stays in the store', async () => {
    const store = memoryStore();
    await put(store, 'abc', { n: 1 });
    const connect = migratedStore({ store, keys: KEYS });
    await new Promise<void>((resolve, reject) =>
      connect.destroy!('abc', (error) => (error ? reject(error) : resolve())),
    );
    assert.equal(await get(connect, 'abc'), null);
    const left = await store.get(migratedKey('abc'));
    assert.equal(openMigrated(keyring, migratedKey('abc'), left!), 'moved');
    assert.equal(await put(store, 'abc', { n: 1 }), false, 'a re-run cannot create it again');
  });

  test('a store outage reaches the reader as an outage (503), not as "no session"', async () => {
    const down: SessionStore = {
      ...memoryStore(),
      get: () => Promise.reject(new Error('ECONNREFUSED')),
    };
    const sessions = createSessions({
      keys: KEYS,
      legacy: [expressSession({ secret: 'old secret', store: migratedStore({ store: down, keys: KEYS }) })],
      legacyUntil: '2099-01-01',
    });
    // Signed by cookie-signature, as express-session signs its cookie.
    const signed = (
      createRequire(import.meta.url)('cookie-signature') as { sign(v: string, s: string): string }
    ).sign('sid1', 'old secret');
    await assert.rejects(
      sessions.load(`connect.sid=${encodeURIComponent(`s:${signed}`)}`),
      (error: unknown) => isLatchkeyError(error, 'ERR_LATCHKEY_STORE_UNAVAILABLE'),
    );
  });

  test('configuration mistakes are coded errors at start-up', () => {
    const code = (error: unknown) => isLatchkeyError(error, 'ERR_LATCHKEY_CONFIG');
    assert.throws(() => migratedStore({ store: {} as SessionStore, keys: KEYS }), code);
    const saved = process.env.LATCHKEY_KEYS;
    delete process.env.LATCHKEY_KEYS;
    try {
      assert.throws(() => migratedStore({ store: memoryStore() }), code);
    } finally {
      if (saved !== undefined) process.env.LATCHKEY_KEYS = saved;
    }
    assert.throws(
      () => migratedStore({ store: memoryStore(), keys: 'k1:short' }),
      (error: unknown) => isLatchkeyError(error),
    );
  });
});
