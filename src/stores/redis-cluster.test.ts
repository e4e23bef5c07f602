// The Redis store on a throw-away 3-master Redis Cluster (node-redis createCluster and ioredis Cluster),
// and through a single throw-away server that goes down and comes back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import {
  type RedisCluster,
  redisCli,
  restartRedisServer,
  startRedisCluster,
  startRedisServer,
  stopRedisServer,
} from '../../test/support/redis-servers.ts';
import { createFakeClock, type FakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { type RedisClientLike, redisStore } from './redis.ts';
import type { SessionStore, StoredRecord } from './types.ts';

let stores = 0;
const nextPrefix = () => `lk-test:${stores++}:`;
const UNAVAILABLE = { code: 'ERR_LATCHKEY_STORE_UNAVAILABLE' };

// Client settings as docs/stores/redis.md advises: fail fast while a node is down, never queue forever.
const nodeRedisOptions = {
  disableOfflineQueue: true,
  socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(100 * retries, 500) },
  commandOptions: { timeout: 1000 },
} as const;
const ioredisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  commandTimeout: 1000,
  connectTimeout: 1000,
  maxRetriesPerRequest: 1,
  retryStrategy: (times: number) => Math.min(100 * times, 500),
} as const;

let cluster: RedisCluster;
let nodeCluster: ReturnType<typeof createCluster>;
let ioCluster: Cluster;

before(async () => {
  cluster = await startRedisCluster();
  nodeCluster = createCluster({
    rootNodes: cluster.rootNodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
    defaults: nodeRedisOptions,
    commandOptions: { timeout: 2000 },
  });
  nodeCluster.on('error', () => {});
  await nodeCluster.connect();
  ioCluster = new Cluster([...cluster.rootNodes], {
    lazyConnect: true,
    enableOfflineQueue: false,
    redisOptions: { commandTimeout: 2000, connectTimeout: 1000, maxRetriesPerRequest: 1 },
  });
  ioCluster.on('error', () => {});
  await ioCluster.connect();
});

after(async () => {
  nodeCluster?.destroy();
  ioCluster?.disconnect();
  await cluster?.stop();
});

describeStoreConformance(
  'redis cluster (node-redis)',
  ({ clock }) => redisStore({ client: nodeCluster, prefix: nextPrefix(), clock }),
  { hasPurge: false },
);
describeStoreConformance(
  'redis cluster (ioredis)',
  ({ clock }) => redisStore({ client: ioCluster, prefix: nextPrefix(), clock }),
  { hasPurge: false },
);

const record = (clock: FakeClock, overrides: Partial<StoredRecord> = {}) =>
  sampleRecord(clock.now(), overrides);

/** How many record keys under `prefix` each master holds. */
const recordsPerNode = (prefix: string) =>
  Promise.all(
    cluster.nodes.map(async (node) => {
      const out = await redisCli(node.port, '--scan', '--pattern', `${prefix}s:*`);
      return out.split('\n').filter(Boolean).length;
    }),
  );

describe('redis store across cluster slots', () => {
  for (const name of ['node-redis', 'ioredis'] as const) {
    it(`${name}: a user's sessions on every master are all listed and revoked (checklist #33)`, async () => {
      const clock = createFakeClock();
      const prefix = nextPrefix();
      const client: RedisClientLike = name === 'node-redis' ? nodeCluster : ioCluster;
      const store = redisStore({ client, prefix, clock });
      const keys: string[] = [];
      // Random store keys hash to random slots: keep going until every master holds one (a few suffice).
      while (keys.length < 6 || (await recordsPerNode(prefix)).some((count) => count === 0)) {
        assert.ok(keys.length < 200, 'store keys spread over the slots');
        const key = newStoreKey();
        keys.push(key);
        clock.advance(1);
        await store.create(key, record(clock, { userId: 'user {a}*' }));
      }
      const current = keys[0]!;
      assert.deepEqual(
        (await store.listByUser('user {a}*')).map((meta) => meta.storeKey),
        keys,
        'listed across slots, oldest first',
      );
      assert.equal(await store.deleteByUser('user {a}*', current), keys.length - 1);
      assert.deepEqual(await recordsPerNode(prefix).then((counts) => counts.reduce((a, b) => a + b)), 1);
      assert.notEqual(await store.get(current), null, 'the current session survives');
      assert.deepEqual(
        (await store.listByUser('user {a}*')).map((meta) => meta.storeKey),
        [current],
      );
    });
  }
});

/** Retry `op` until it resolves: clients reconnect with backoff after the server returns. */
async function eventually<T>(op: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

it('an outage fails fast as StoreUnavailable, and the store recovers when Redis returns (#48)', async () => {
  const server = await startRedisServer();
  const nodeRedis = createClient({ url: server.url, ...nodeRedisOptions });
  const ioredis = new Redis(server.port, server.host, ioredisOptions);
  nodeRedis.on('error', () => {});
  ioredis.on('error', () => {});
  try {
    await nodeRedis.connect();
    await ioredis.connect();
    const clock = createFakeClock();
    const stores: SessionStore[] = [nodeRedis, ioredis].map((client) =>
      redisStore({ client, prefix: nextPrefix(), clock, timeout: 1000 }),
    );
    const keys = stores.map(() => newStoreKey());
    const records = stores.map(() => record(clock));
    for (const [i, store] of stores.entries()) assert.equal(await store.create(keys[i]!, records[i]!), true);

    // A server that stops answering (frozen, a partition): the command timeout turns it into an error.
    const pid = server.process!.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      for (const [i, store] of stores.entries()) {
        const started = Date.now();
        await assert.rejects(store.get(keys[i]!), UNAVAILABLE);
        assert.ok(Date.now() - started < 5000, 'timed out without hanging');
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The late replies to the timed-out commands are discarded, never handed to the next command.
    for (const [i, store] of stores.entries()) assert.deepEqual(await store.get(keys[i]!), records[i]);

    await stopRedisServer(server);
    for (const store of stores) {
      // No hang: the client settings above turn a dead server into an error within about a second.
      const started = Date.now();
      await assert.rejects(store.get(newStoreKey()), UNAVAILABLE);
      await assert.rejects(store.create(newStoreKey(), record(clock, { userId: 'u1' })), UNAVAILABLE);
      await assert.rejects(store.update(newStoreKey(), record(clock, { version: 2 }), 1), UNAVAILABLE);
      assert.ok(Date.now() - started < 5000, 'rejected without hanging');
    }

    await restartRedisServer(server); // same port, empty: the sessions are gone, as after an eviction
    for (const store of stores) {
      const key = newStoreKey();
      assert.equal(await eventually(() => store.create(key, record(clock, { userId: 'u1' }))), true);
      assert.notEqual(await store.get(key), null);
      assert.equal((await store.listByUser('u1')).length, 1);
    }
  } finally {
    nodeRedis.destroy();
    ioredis.disconnect();
    await stopRedisServer(server);
  }
});
