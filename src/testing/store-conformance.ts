/**
 * One conformance suite for every session store (DESIGN.md §6, checklist #50–#56). Run it against a
 * real backend:
 *
 * @example
 * ```ts
 * import { describeStoreConformance } from 'latchkey/testing';
 * describeStoreConformance('redis', ({ clock }) => redisStore({ client, prefix: `t${Date.now()}:`, clock }));
 * ```
 *
 * `makeStore` gets a fake clock that the store must use for expiry, and should return an isolated store
 * (a fresh prefix, table or directory). Tests use node:test; pass `{ describe, it }` from another runner.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe as nodeDescribe, it as nodeIt } from 'node:test';
import { storeKeyOf } from '../core/store-mode.ts';
import { newToken } from '../crypto/random.ts';
import type { SessionStore, StoredRecord } from '../stores/types.ts';
import { createFakeClock, type FakeClock } from './fake-clock.ts';

export interface ConformanceContext {
  clock: FakeClock;
}

export interface ConformanceOptions {
  describe?: (name: string, body: () => void) => unknown;
  it?: (name: string, body: () => Promise<void>) => unknown;
  /** Skip the purge test for a store without purgeExpired (native TTL). */
  hasPurge?: boolean;
}

/** A fresh, valid store key: what the core derives from a new token. */
export function newStoreKey(): string {
  return storeKeyOf(newToken());
}

const HOUR = 3_600_000;

/**
 * A valid record as of `now` (live for an hour, absolute deadline in a day, version 1, random sealed
 * data), with `overrides` applied: for a store's own tests beside the conformance suite.
 */
export function sampleRecord(now: number, overrides: Partial<StoredRecord> = {}): StoredRecord {
  return {
    sealed: `v1.k1.${randomBytes(48).toString('base64url')}`,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + HOUR,
    absoluteAt: now + 24 * HOUR,
    version: 1,
    ...overrides,
  };
}

export function describeStoreConformance(
  name: string,
  makeStore: (context: ConformanceContext) => SessionStore | Promise<SessionStore>,
  options: ConformanceOptions = {},
): void {
  const describe = options.describe ?? nodeDescribe;
  const it = options.it ?? nodeIt;

  /** A fresh store and clock per test; the store is closed afterwards. */
  const withStore = (body: (store: SessionStore, clock: FakeClock) => Promise<void>) => async () => {
    const clock = createFakeClock(Date.UTC(2026, 0, 1) + randomInt(1e6));
    const store = await makeStore({ clock });
    try {
      await body(store, clock);
    } finally {
      await store.close?.();
    }
  };

  const record = (clock: FakeClock, overrides: Partial<StoredRecord> = {}) =>
    sampleRecord(clock.now(), overrides);

  describe(`${name} store conformance`, () => {
    it(
      'create is insert-if-absent and never overwrites (checklist #4, #50)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        const first = record(clock, { userId: 'u1', label: 'Firefox on Linux' });
        assert.equal(await store.create(key, first), true);
        assert.equal(await store.create(key, record(clock, { sealed: 'v1.k1.other' })), false);
        assert.deepEqual(await store.get(key), first);
        assert.equal(await store.get(newStoreKey()), null);
      }),
    );

    it(
      'concurrent creates of one key: exactly one wins (checklist #4)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.create(key, record(clock, { sealed: `v1.k1.racer${i}` })),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.equal((await store.get(key))?.sealed, `v1.k1.racer${winner}`);
      }),
    );

    it(
      'update is compare-and-set on version, and only if the record exists (checklist #31, #50)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        await store.create(key, record(clock));
        const v2 = record(clock, { version: 2, sealed: 'v1.k1.second' });
        assert.equal(await store.update(key, v2, 1), 'ok');
        assert.deepEqual(await store.get(key), v2);
        assert.equal(
          await store.update(key, record(clock, { version: 2, sealed: 'v1.k1.stale' }), 1),
          'conflict',
        );
        assert.equal((await store.get(key))?.sealed, 'v1.k1.second');
        const ghost = newStoreKey();
        assert.equal(await store.update(ghost, record(clock, { version: 2 }), 1), 'missing');
        assert.equal(await store.get(ghost), null, 'update never creates');
      }),
    );

    it(
      'concurrent updates with one expected version: exactly one succeeds',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        await store.create(key, record(clock));
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.update(key, record(clock, { version: 2, sealed: `v1.k1.u${i}` }), 1),
          ),
        );
        assert.equal(results.filter((r) => r === 'ok').length, 1);
        assert.equal(results.filter((r) => r === 'conflict').length, 19);
      }),
    );

    it(
      'delete is idempotent, says whether a live record went, and nothing revives it (checklist #30, #31)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        await store.create(key, record(clock));
        assert.equal(await store.delete(key), true, 'a live record was there');
        assert.equal(await store.delete(key), false, 'a second delete finds nothing');
        assert.equal(await store.delete(newStoreKey()), false, 'an unknown key');
        assert.equal(await store.get(key), null);
        assert.equal(await store.update(key, record(clock, { version: 2 }), 1), 'missing');
        assert.equal(await store.touch(key, clock.now() + HOUR, clock.now()), false);
        assert.equal(await store.get(key), null);
      }),
    );

    it(
      'of concurrent deletes of one record exactly one says it went; an expired one is no live record (checklist #32)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        await store.create(key, record(clock, { userId: 'u1' }));
        const results = await Promise.all(Array.from({ length: 10 }, () => store.delete(key)));
        assert.equal(results.filter((r) => r === true).length, 1, JSON.stringify(results));
        assert.equal(results.filter((r) => r === false).length, 9);
        assert.deepEqual(await store.listByUser('u1'), []);
        const old = newStoreKey();
        await store.create(old, record(clock, { expiresAt: clock.now() + 1000 }));
        clock.advance(1000);
        assert.equal(await store.delete(old), false, 'expired: not live');
        clock.set(clock.now() - 1000);
        assert.equal(await store.get(old), null, 'but it went all the same');
      }),
    );

    it(
      'expiry is read from expiresAt on every get, whatever the backend TTL (checklist #28, #53)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        const live = record(clock, { expiresAt: clock.now() + 60_000 });
        await store.create(key, live);
        clock.advance(59_999);
        assert.deepEqual(await store.get(key), live);
        clock.advance(1);
        assert.equal(await store.get(key), null, 'expiresAt == now has expired');
        assert.equal(await store.update(key, record(clock, { version: 2 }), 1), 'missing');
        assert.equal(
          await store.touch(key, clock.now() + HOUR, clock.now()),
          false,
          'touch never resurrects',
        );
        assert.equal(await store.get(key), null);
      }),
    );

    it(
      'touch moves expiresAt and lastSeenAt, keeps version and data, and never creates (checklist #31)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        const original = record(clock, { userId: 'u1' });
        await store.create(key, original);
        clock.advance(30_000);
        assert.equal(await store.touch(key, clock.now() + HOUR, clock.now()), true);
        assert.deepEqual(await store.get(key), {
          ...original,
          expiresAt: clock.now() + HOUR,
          lastSeenAt: clock.now(),
        });
        assert.equal(
          await store.update(key, record(clock, { version: 2, userId: 'u1' }), 1),
          'ok',
          'version kept',
        );
        const ghost = newStoreKey();
        assert.equal(await store.touch(ghost, clock.now() + HOUR, clock.now()), false);
        assert.equal(await store.get(ghost), null);
      }),
    );

    it(
      'listByUser and deleteByUser keep the user index exact (checklist #33, #50)',
      withStore(async (store, clock) => {
        const [a, b, c, other, anonymous, expired] = Array.from({ length: 6 }, newStoreKey) as [
          string,
          string,
          string,
          string,
          string,
          string,
        ];
        await store.create(a, record(clock, { userId: 'u1', label: 'laptop' }));
        clock.advance(1000);
        await store.create(b, record(clock, { userId: 'u1', label: 'phone' }));
        clock.advance(1000);
        await store.create(c, record(clock, { userId: 'u1' }));
        await store.create(other, record(clock, { userId: 'u2' }));
        await store.create(anonymous, record(clock));
        await store.create(expired, record(clock, { userId: 'u1', expiresAt: clock.now() + 10 }));
        clock.advance(10);
        const listed = await store.listByUser('u1');
        assert.deepEqual(
          listed.map((meta) => meta.storeKey),
          [a, b, c],
          'live sessions, oldest first',
        );
        assert.deepEqual(
          listed.map((meta) => meta.label ?? null),
          ['laptop', 'phone', null],
        );
        assert.ok(listed.every((meta) => meta.userId === 'u1' && !('sealed' in meta)));
        assert.equal(await store.deleteByUser('u1', b), 2);
        assert.deepEqual(
          (await store.listByUser('u1')).map((meta) => meta.storeKey),
          [b],
        );
        assert.equal(await store.get(a), null);
        assert.notEqual(await store.get(b), null);
        assert.notEqual(await store.get(other), null, 'another user is untouched');
        assert.notEqual(await store.get(anonymous), null);
        assert.deepEqual(await store.listByUser('nobody'), []);
      }),
    );

    it(
      'an update that changes or drops the user moves the session in the index',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        await store.create(key, record(clock, { userId: 'u1' }));
        assert.equal(await store.update(key, record(clock, { version: 2, userId: 'u2' }), 1), 'ok');
        assert.deepEqual(await store.listByUser('u1'), []);
        assert.deepEqual(
          (await store.listByUser('u2')).map((meta) => meta.storeKey),
          [key],
        );
        assert.equal(await store.update(key, record(clock, { version: 3 }), 2), 'ok');
        assert.deepEqual(await store.listByUser('u2'), []);
        await store.delete(key);
        assert.equal(await store.deleteByUser('u2'), 0);
      }),
    );

    if (options.hasPurge !== false) {
      it(
        'purgeExpired removes expired records and never a live one (checklist #53)',
        withStore(async (store, clock) => {
          assert.equal(typeof store.purgeExpired, 'function');
          const live = newStoreKey();
          await store.create(live, record(clock, { userId: 'u1', expiresAt: clock.now() + HOUR }));
          for (let i = 0; i < 3; i++)
            await store.create(newStoreKey(), record(clock, { userId: 'u1', expiresAt: clock.now() + 1000 }));
          clock.advance(1000);
          assert.ok((await store.purgeExpired!(clock.now())) >= 3);
          assert.notEqual(await store.get(live), null);
          assert.equal(await store.purgeExpired!(clock.now()), 0);
          assert.equal((await store.listByUser('u1')).length, 1);
        }),
      );
    }

    it(
      'hostile keys are inert: reads find nothing, writes throw before any I/O (checklist #6, #51, #52, #56)',
      withStore(async (store, clock) => {
        const key = newStoreKey();
        await store.create(key, record(clock));
        const hostile: unknown[] = [
          '',
          'a',
          'x'.repeat(10_240),
          '../x',
          '..\\x',
          '%2e%2e%2f',
          'a\0b',
          '*',
          '?',
          '[a-z]*',
          "'; DROP TABLE s;--",
          '__proto__',
          { $ne: null },
          ['a'],
          42,
          null,
          undefined,
          `${key.slice(0, 42)}*`,
          `../${key}`,
          `${key}\n`,
        ];
        for (const bad of hostile) {
          assert.equal(await store.get(bad as string), null, `get(${JSON.stringify(bad)})`);
          assert.equal(await store.delete(bad as string), false, `delete(${JSON.stringify(bad)})`);
          await assert.rejects(async () => store.create(bad as string, record(clock)), TypeError);
          await assert.rejects(
            async () => store.update(bad as string, record(clock, { version: 2 }), 1),
            TypeError,
          );
        }
        const swapped = key
          .replace(/[a-z]/, (ch) => ch.toUpperCase())
          .replace(/[A-Z]/, (ch) => ch.toLowerCase());
        if (swapped !== key)
          assert.equal(await store.get(swapped), null, 'keys match byte-exactly, case included');
        assert.notEqual(await store.get(key), null, 'the real record survived');
      }),
    );

    it(
      'hostile user ids and values are stored literally (checklist #52)',
      withStore(async (store, clock) => {
        const users = ['*', 'u%', 'u_', "o'brien", 'a"b', '{"$ne":null}', 'ユーザー', 'u1*'];
        const keys = new Map<string, string>();
        for (const userId of users) {
          const key = newStoreKey();
          keys.set(userId, key);
          await store.create(key, record(clock, { userId, sealed: `v1.k1.${userId}\n"quoted"\u2028` }));
        }
        await store.create(newStoreKey(), record(clock, { userId: 'u1' }));
        for (const userId of users) {
          const listed = await store.listByUser(userId);
          assert.deepEqual(
            listed.map((meta) => meta.storeKey),
            [keys.get(userId)],
            `listByUser(${userId})`,
          );
          assert.equal((await store.get(keys.get(userId)!))?.sealed, `v1.k1.${userId}\n"quoted"\u2028`);
        }
        assert.equal(await store.deleteByUser('*'), 1);
        assert.equal((await store.listByUser('u1')).length, 1, "deleting user '*' matched no one else");
        const big = newStoreKey();
        const blob = `v1.k1.${randomBytes(96 * 1024).toString('base64url')}`;
        await store.create(big, record(clock, { sealed: blob }));
        assert.equal((await store.get(big))?.sealed, blob);
      }),
    );
  });
}
