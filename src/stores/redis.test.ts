// The Redis store against the real Redis on 127.0.0.1:6379 (never a mock), through node-redis v5 and
// ioredis. Every key lives under a random prefix that is removed afterwards.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { createFakeClock, type FakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { type RedisClientLike, redisStore } from './redis.ts';
import type { StoredRecord } from './types.ts';

const URL = 'redis://127.0.0.1:6379';
const HOUR = 3_600_000;
const run = randomBytes(6).toString('hex');
let stores = 0;
/** A fresh prefix per store: the conformance kit reuses user ids across tests. */
const nextPrefix = (client: string) => `lk-test:${run}:${client}${stores++}:`;

// Timeouts as docs/stores/redis.md advises: a dead server fails fast instead of queueing forever.
const nodeRedis = createClient({
  url: URL,
  disableOfflineQueue: true,
  socket: { connectTimeout: 2000 },
  commandOptions: { timeout: 2000 },
});
const ioredis = new Redis(URL, {
  lazyConnect: true,
  enableOfflineQueue: false,
  commandTimeout: 2000,
  connectTimeout: 2000,
  maxRetriesPerRequest: 1,
});
nodeRedis.on('error', () => {});
ioredis.on('error', () => {});

before(async () => {
  await nodeRedis.connect();
  await ioredis.connect();
});

after(async () => {
  // SCAN MATCH is fine here: the pattern is our own random prefix, never user input.
  let cursor = '0';
  do {
    const [next, keys] = await ioredis.scan(cursor, 'MATCH', `lk-test:${run}:*`, 'COUNT', 1000);
    if (keys.length > 0) await ioredis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  nodeRedis.destroy();
  ioredis.disconnect();
});

describeStoreConformance(
  'redis (node-redis)',
  ({ clock }) => redisStore({ client: nodeRedis, prefix: nextPrefix('n'), clock }),
  { hasPurge: false },
);
describeStoreConformance(
  'redis (ioredis)',
  ({ clock }) => redisStore({ client: ioredis, prefix: nextPrefix('i'), clock }),
  { hasPurge: false },
);

const record = (clock: FakeClock, overrides: Partial<StoredRecord> = {}) =>
  sampleRecord(clock.now(), overrides);

/** Every command one client sends while `op` runs, seen by MONITOR on another connection. */
async function commandsDuring(client: 'n' | 'i', op: () => Promise<unknown>): Promise<string[][]> {
  const info = client === 'n' ? await nodeRedis.clientInfo() : await ioredis.client('INFO');
  const addr = typeof info === 'string' ? /addr=(\S+)/.exec(info)?.[1] : info.addr;
  const monitor = await ioredis.monitor();
  const seen: { args: string[]; source: string }[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
  const marker = randomBytes(8).toString('hex');
  const echo = (text: string) => (client === 'n' ? nodeRedis.echo(text) : ioredis.echo(text));
  try {
    await echo(`start-${marker}`);
    await op();
    await echo(`end-${marker}`);
    const deadline = Date.now() + 5000;
    while (!seen.some(({ args }) => args[1] === `end-${marker}`)) {
      assert.ok(Date.now() < deadline, 'MONITOR saw the end marker');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    monitor.disconnect();
  }
  const mine = seen.filter(({ source }) => source === addr).map(({ args }) => args);
  const start = mine.findIndex((args) => args[1] === `start-${marker}`);
  const end = mine.findIndex((args) => args[1] === `end-${marker}`);
  return mine.slice(start + 1, end);
}

for (const [name, client] of [
  ['node-redis', 'n'],
  ['ioredis', 'i'],
] as const) {
  const raw: RedisClientLike = client === 'n' ? nodeRedis : ioredis;
  describe(`redis store through ${name}`, () => {
    const setup = () => {
      const clock = createFakeClock(Date.UTC(2026, 0, 1));
      const prefix = nextPrefix(client);
      return { clock, prefix, store: redisStore({ client: raw, prefix, clock }) };
    };

    it('get is exactly one GET, whatever it finds (checklist #28)', async () => {
      const { clock, prefix, store } = setup();
      const key = newStoreKey();
      await store.create(key, record(clock, { userId: 'u1' }));
      for (const expectLive of [true, false]) {
        const commands = await commandsDuring(client, async () => {
          assert.equal((await store.get(key)) !== null, expectLive);
        });
        assert.deepEqual(
          commands.map(([command, ...args]) => [command?.toUpperCase(), ...args]),
          [['GET', `${prefix}s:{${key}}`]],
        );
        clock.advance(HOUR); // now expired by the clock, though Redis still holds it
      }
    });

    it('TTLs are in ms and at least the remaining life; the index outlives its records (#53)', async () => {
      const { clock, prefix, store } = setup();
      const key = newStoreKey();
      const created = record(clock, { userId: 'u1', expiresAt: clock.now() + 90_000 });
      /** PTTL right after `write`: at most `life`, and short of it by no more than the time that passed. */
      const ttlAfter = async (redisKey: string, life: number, write: () => Promise<unknown>) => {
        const started = Date.now();
        await write();
        const ttl = await ioredis.pttl(redisKey);
        const elapsed = Date.now() - started;
        assert.ok(ttl <= life && ttl >= life - elapsed - 2, `PTTL ${ttl} for a life of ${life} ms`);
      };
      const recordKey = `${prefix}s:{${key}}`;
      await ttlAfter(recordKey, 90_000, () => store.create(key, created));
      await ttlAfter(recordKey, 120_000, () =>
        store.update(key, { ...created, version: 2, expiresAt: clock.now() + 120_000 }, 1),
      );
      await ttlAfter(recordKey, 150_000, () => store.touch(key, clock.now() + 150_000, clock.now()));
      const [index, ...others] = await ioredis.keys(`${prefix}u:*`);
      assert.deepEqual(others, []);
      await ttlAfter(index!, 24 * HOUR, () => store.update(key, { ...created, version: 3 }, 2));
      assert.equal(await store.touch(key, clock.now() + 48 * HOUR, clock.now()), true);
      assert.ok(
        (await ioredis.pttl(recordKey)) <= 24 * HOUR,
        'touch never stretches the TTL past absoluteAt',
      );
    });

    it('an evicted record is a logout: gone for get, update, touch, and never re-created (#31)', async () => {
      const { clock, prefix, store } = setup();
      const key = newStoreKey();
      await store.create(key, record(clock, { userId: 'u1' }));
      await ioredis.del(`${prefix}s:{${key}}`); // what maxmemory eviction does
      assert.equal(await store.get(key), null);
      assert.equal(await store.update(key, record(clock, { userId: 'u1', version: 2 }), 1), 'missing');
      assert.equal(await store.touch(key, clock.now() + HOUR, clock.now()), false);
      assert.equal(await ioredis.exists(`${prefix}s:{${key}}`), 0, 'not re-created');
      assert.deepEqual(await store.listByUser('u1'), []);
      assert.equal(await store.deleteByUser('u1'), 0);
    });

    it('an evicted user index revives nothing: records stay the truth', async () => {
      const { clock, prefix, store } = setup();
      const [live, gone] = [newStoreKey(), newStoreKey()];
      await store.create(live, record(clock, { userId: 'u1' }));
      await store.create(gone, record(clock, { userId: 'u1' }));
      await store.delete(gone);
      await ioredis.del(...(await ioredis.keys(`${prefix}u:*`)));
      assert.equal(await store.get(gone), null);
      assert.notEqual(await store.get(live), null);
      assert.equal(await store.update(live, record(clock, { userId: 'u1', version: 2 }), 1), 'ok');
      assert.deepEqual(
        (await store.listByUser('u1')).map((meta) => meta.storeKey),
        [live],
        'the next write re-indexes it',
      );
    });

    it('a reader never unindexes a session being written; it prunes only past the deadline', async () => {
      const { clock, prefix, store } = setup();
      const [inFlight, stale] = [newStoreKey(), newStoreKey()];
      await store.create(newStoreKey(), record(clock, { userId: 'u1' }));
      const [index] = await ioredis.keys(`${prefix}u:*`);
      // inFlight: indexed by a create whose SET has not landed yet; stale: its deadline has passed.
      await ioredis.zadd(index!, clock.now() + HOUR, inFlight, clock.now() - 1, stale);
      assert.equal((await store.listByUser('u1')).length, 1);
      assert.notEqual(await ioredis.zscore(index!, inFlight), null, 'kept: its write may be in flight');
      assert.equal(await ioredis.zscore(index!, stale), null, 'pruned');
    });

    it('deleteByUser re-checks the owner: a session moved to another user survives (#33)', async () => {
      const { clock, store } = setup();
      const [moved, kept] = [newStoreKey(), newStoreKey()];
      await store.create(moved, record(clock, { userId: 'u1' }));
      await store.create(kept, record(clock, { userId: 'u1' }));
      assert.equal(await store.update(moved, record(clock, { userId: 'u2', version: 2 }), 1), 'ok');
      assert.equal(await store.deleteByUser('u1'), 1);
      assert.equal(await store.get(kept), null);
      assert.equal((await store.get(moved))?.userId, 'u2');
      assert.deepEqual(
        (await store.listByUser('u2')).map((meta) => meta.storeKey),
        [moved],
      );
    });

    it('a corrupt or foreign value is no session: null, missing, false (checklist bad inputs)', async () => {
      const { clock, prefix, store } = setup();
      const key = newStoreKey();
      for (const junk of ['{not json', '{"version":1}', JSON.stringify({ ...record(clock), version: 'x' })]) {
        await ioredis.set(`${prefix}s:{${key}}`, junk);
        assert.equal(await store.get(key), null);
        assert.equal(await store.update(key, record(clock, { version: 2 }), 1), 'missing');
        assert.equal(await store.touch(key, clock.now() + HOUR, clock.now()), false);
        assert.equal(await ioredis.get(`${prefix}s:{${key}}`), junk, 'left as it was');
      }
    });

    it('hostile user ids are literal and never reach a key name (checklist #52)', async () => {
      const { clock, prefix, store } = setup();
      const users = ['*', 'u[1]', '{x}', 'u?', 'x', 'u1'];
      const keys = new Map(users.map((userId) => [userId, newStoreKey()]));
      for (const [userId, key] of keys) await store.create(key, record(clock, { userId }));
      for (const [userId, key] of keys) {
        assert.deepEqual(
          (await store.listByUser(userId)).map((meta) => meta.storeKey),
          [key],
        );
      }
      for (const name of await ioredis.keys(`${prefix}u:*`)) assert.match(name, /^.*u:\{[0-9a-f]{64}\}$/);
      assert.equal(await store.deleteByUser('{x}'), 1);
      assert.equal(await store.deleteByUser('u[1]'), 1);
      assert.equal(await store.deleteByUser('*'), 1);
      for (const userId of ['u?', 'x', 'u1']) assert.equal((await store.listByUser(userId)).length, 1);
    });

    it('rejects a bad prefix or client; close() leaves the caller’s client open', async () => {
      for (const prefix of ['{x}', 'a}', 'p'.repeat(65)]) {
        assert.throws(() => redisStore({ client: raw, prefix }), TypeError);
      }
      assert.throws(() => redisStore({ client: {} as RedisClientLike }), TypeError);
      await setup().store.close?.();
      assert.equal(client === 'n' ? await nodeRedis.ping() : await ioredis.ping(), 'PONG');
    });
  });
}

it('a closed client is StoreUnavailable, never an empty session (checklist #48)', async () => {
  const closed = await createClient({ url: URL, disableOfflineQueue: true }).connect();
  closed.destroy();
  const gone = new Redis(URL, { lazyConnect: true, enableOfflineQueue: false });
  const clock = createFakeClock();
  for (const client of [closed, gone] as RedisClientLike[]) {
    const store = redisStore({ client, prefix: nextPrefix('x'), clock });
    const code = { code: 'ERR_LATCHKEY_STORE_UNAVAILABLE' };
    await assert.rejects(store.get(newStoreKey()), code);
    await assert.rejects(store.create(newStoreKey(), record(clock, { userId: 'u1' })), code);
    await assert.rejects(store.listByUser('u1'), code);
  }
  gone.disconnect();
});
