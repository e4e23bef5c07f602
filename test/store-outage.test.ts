/**
 * A store outage seen from HTTP: a Redis server this test started on its own port is stopped and
 * started again. While it is down the adapters answer 503 (or what onError says), nobody is treated
 * as signed in, the process lives on; when it is back, service resumes by itself (checklist #48).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createClient } from 'redis';
import { withSession as withFetchSession } from '../src/adapters/fetch.ts';
import { withSession } from '../src/adapters/node.ts';
import { createSessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { redisStore } from '../src/stores/redis.ts';
import { newStoreKey, sampleRecord } from '../src/testing/store-conformance.ts';
import { listen } from './scenarios/apps/serve.ts';
import { CookieJar } from './support/cookies.ts';
import {
  restartRedisServer,
  startRedisServer,
  stopAllRedisServers,
  stopRedisServer,
} from './support/redis-servers.ts';

after(stopAllRedisServers);

async function eventually<T>(
  check: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A node-redis client that fails fast while its server is down and reconnects when it is back. */
async function outageClient(url: string) {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(100 * retries, 500) },
    commandOptions: { timeout: 1000 },
  });
  client.on('error', () => {});
  await client.connect();
  return client;
}

test('Redis down: 503 from node:http and Fetch, nobody signed in, no crash; Redis back: service resumes', async (t) => {
  t.mock.method(console, 'error', () => {});
  const redis = await startRedisServer();
  const client = await outageClient(redis.url);
  const sessions = createSessions<{ name: string }>({
    keys: generateKeyLine('k1'),
    store: redisStore({ client }),
    trustProxy: true,
  });
  const handle = async (
    session: { userId: string | undefined; login(id: string): Promise<void> },
    path: string,
  ) => {
    if (path === '/login') await session.login('alice');
    return JSON.stringify({ user: session.userId ?? null });
  };
  const server = await listen(
    withSession(sessions, async (req, res, session) => res.end(await handle(session, req.url ?? '/'))),
  );
  const base = server.url;
  const fetchApp = withFetchSession(
    sessions,
    async (request, session) => new Response(await handle(session, new URL(request.url).pathname)),
  );
  const teapot = withFetchSession(sessions, async () => new Response('unreachable'), {
    onError: () => new Response('custom outage page', { status: 418 }),
  });
  const jar = new CookieJar();
  const call = async (path: string) => {
    const cookie = jar.header();
    const response = await fetch(`${base}${path}`, {
      headers: { 'x-forwarded-proto': 'https', ...(cookie ? { cookie } : {}) },
    });
    jar.apply(response.headers.getSetCookie());
    return { status: response.status, body: await response.text() };
  };
  const viaFetch = (handler: (r: Request) => Promise<Response>) =>
    handler(new Request('https://app.test/', { headers: { cookie: jar.header() ?? '' } }));

  try {
    assert.deepEqual(await call('/login'), { status: 200, body: '{"user":"alice"}' });
    assert.deepEqual(await call('/'), { status: 200, body: '{"user":"alice"}' });

    await stopRedisServer(redis);
    const down = await call('/');
    assert.equal(down.status, 503);
    assert.equal(down.body, 'Service Unavailable', 'a bare 503: not signed in, not signed out');
    const fetched = await viaFetch(fetchApp);
    assert.equal(fetched.status, 503);
    assert.deepEqual(fetched.headers.getSetCookie(), [], 'the cookie is left alone');
    assert.equal((await viaFetch(teapot)).status, 418, 'the outage response is configurable');
    assert.ok(jar.header(), 'the browser keeps its token through the outage');

    await restartRedisServer(redis); // an empty Redis: the session itself is gone, as after an eviction
    const back = await eventually(
      () => call('/'),
      (reply) => reply.status === 200,
    );
    assert.deepEqual(back, { status: 200, body: '{"user":null}' });
    assert.deepEqual(await call('/login'), { status: 200, body: '{"user":"alice"}' });
    assert.deepEqual(await call('/'), { status: 200, body: '{"user":"alice"}' });
  } finally {
    await server.close();
    await client.close().catch(() => {});
  }
});

test('cookie mode with a revocation store on Redis: signed-in requests get 503 while it is down, anonymous ones are served', async (t) => {
  t.mock.method(console, 'error', () => {});
  const redis = await startRedisServer();
  const client = await outageClient(redis.url);
  const sessions = createSessions<{ n: number }>({
    keys: generateKeyLine('k1'),
    revocation: redisStore({ client }),
    trustProxy: true,
  });
  const server = await listen(
    withSession(sessions, async (req, res, session) => {
      if (req.url === '/login') await session.login('alice');
      session.set('n', (session.get('n') ?? 0) + 1);
      res.end(JSON.stringify({ user: session.userId ?? null }));
    }),
  );
  const base = server.url;
  const call = async (path: string, cookie?: string) => {
    const response = await fetch(`${base}${path}`, {
      headers: { 'x-forwarded-proto': 'https', ...(cookie ? { cookie } : {}) },
    });
    const jar = new CookieJar();
    jar.apply(response.headers.getSetCookie());
    return { status: response.status, body: await response.text(), cookie: jar.header() };
  };
  try {
    const signedIn = (await call('/login')).cookie;
    assert.deepEqual((await call('/', signedIn)).body, '{"user":"alice"}');
    await stopRedisServer(redis);
    const down = await call('/', signedIn);
    assert.deepEqual([down.status, down.cookie], [503, undefined]);
    assert.deepEqual((await call('/')).body, '{"user":null}', 'anonymous requests need no store');
    await restartRedisServer(redis);
    const back = await eventually(
      () => call('/', signedIn),
      (reply) => reply.status === 200,
    );
    assert.equal(back.body, '{"user":"alice"}');
  } finally {
    await server.close();
    await client.close().catch(() => {});
  }
});

test('clients at their defaults (node-redis offline queue, ioredis retries): an outage is answered within about a second', async () => {
  const { Redis: IORedis } = await import('ioredis');
  const redis = await startRedisServer();
  // What apps write when they copy the client's quick start: no timeouts, no queue settings.
  const nodeRedis = createClient({ url: redis.url });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();
  const ioredis = new IORedis(redis.url, { lazyConnect: true });
  ioredis.on('error', () => {});
  await ioredis.connect();
  try {
    for (const [name, client] of [
      ['node-redis', nodeRedis],
      ['ioredis', ioredis],
    ] as const) {
      const store = redisStore({ client });
      const key = newStoreKey();
      assert.equal(await store.create(key, sampleRecord(Date.now())), true, name);
      await stopRedisServer(redis);
      const started = Date.now();
      await assert.rejects(store.get(key), { code: 'ERR_LATCHKEY_STORE_UNAVAILABLE' }, name);
      const waited = Date.now() - started;
      assert.ok(waited < 1500, `${name}: 503 after ${waited} ms`);
      await restartRedisServer(redis);
      // Back: the client reconnects by itself and the store serves again (nothing was kept on disk).
      const back = await eventually(
        () => store.create(newStoreKey(), sampleRecord(Date.now())).catch(() => false),
        (created) => created === true,
      );
      assert.equal(back, true, `${name} recovers`);
    }
  } finally {
    await nodeRedis.close().catch(() => {});
    ioredis.disconnect();
  }
});
