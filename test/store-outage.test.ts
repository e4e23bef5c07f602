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
  killRedisServer,
  pauseRedisServer,
  restartRedisServer,
  resumeRedisServer,
  startRedisServer,
  startTcpProxy,
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

/** Milliseconds from `since` until `store` creates and reads back a record, or Infinity after `limitMs`. */
async function msUntilServing(store: ReturnType<typeof redisStore>, since: number, limitMs = 10_000) {
  for (;;) {
    const key = newStoreKey();
    const ok = await store
      .create(key, sampleRecord(Date.now()))
      .then(async (created) => created && (await store.get(key)) !== null)
      .catch(() => false);
    if (ok) return Date.now() - since;
    if (Date.now() - since > limitMs) return Number.POSITIVE_INFINITY;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Store calls in a loop until `stop()`: requests in flight at the moment of a kill. */
function keepBusy(store: ReturnType<typeof redisStore>, workers = 8) {
  let running = true;
  let answered = 0;
  let refused = 0;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const key = newStoreKey();
      try {
        await store.create(key, sampleRecord(Date.now()));
        await store.get(key);
        answered++;
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'ERR_LATCHKEY_STORE_UNAVAILABLE');
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
    return { answered, refused };
  };
}

test('Redis SIGKILLed and restarted 5 times with calls in flight (AOF): each time the store serves again within seconds and keeps what it wrote', async () => {
  const redis = await startRedisServer({ appendonly: true });
  // The two node-redis setups that matter: as docs/stores/redis.md advises, and at the defaults.
  const advised = await outageClient(redis.url);
  const defaults = createClient({ url: redis.url });
  defaults.on('error', () => {});
  await defaults.connect();
  const stores = [redisStore({ client: advised }), redisStore({ client: defaults })];
  const kept = newStoreKey();
  const record = sampleRecord(Date.now());
  assert.equal(await stores[0]!.create(kept, record), true);
  try {
    for (let cycle = 1; cycle <= 5; cycle++) {
      const stops = stores.map((store) => keepBusy(store));
      await new Promise((resolve) => setTimeout(resolve, 150 + 50 * cycle));
      await killRedisServer(redis);
      await new Promise((resolve) => setTimeout(resolve, 100 * cycle)); // down for 0.1 s … 0.5 s
      await restartRedisServer(redis);
      const restarted = Date.now();
      const waits = await Promise.all(stores.map((store) => msUntilServing(store, restarted)));
      const busy = await Promise.all(stops.map((stop) => stop()));
      for (const [i, wait] of waits.entries()) {
        assert.ok(wait < 5000, `cycle ${cycle}, client ${i}: served again after ${wait} ms`);
        assert.ok(busy[i]!.answered > 0, `cycle ${cycle}, client ${i}: calls were in flight`);
      }
      assert.ok(advised.isReady && defaults.isReady);
      assert.deepEqual(await stores[1]!.get(kept), record, `cycle ${cycle}: the AOF kept the record`);
    }
  } finally {
    advised.destroy();
    defaults.destroy();
  }
});

test('a proxy that accepts while Redis is down (node-redis before 5.11 reports ready on the dropped socket): the store reconnects the client', async () => {
  const redis = await startRedisServer({ appendonly: true });
  const proxy = await startTcpProxy(redis.port);
  const advised = await outageClient(proxy.url);
  const defaults = createClient({ url: proxy.url });
  defaults.on('error', () => {});
  await defaults.connect();
  const clients = [advised, defaults];
  const stores = clients.map((client) => redisStore({ client }));
  const readyWhileDown = clients.map(() => 0);
  for (const [i, client] of clients.entries()) {
    client.on('ready', () => {
      if (redis.process === undefined) readyWhileDown[i]!++;
    });
  }
  try {
    for (const store of stores) assert.equal((await msUntilServing(store, Date.now())) < 1000, true);
    await killRedisServer(redis);
    // Down for 3 s: each reconnect goes through the proxy's accept, its handshake, then the close.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await restartRedisServer(redis);
    const restarted = Date.now();
    const waits = await Promise.all(stores.map((store) => msUntilServing(store, restarted)));
    for (const [i, wait] of waits.entries()) {
      assert.ok(
        wait < 4000,
        `client ${i} (${readyWhileDown[i]} false 'ready'): served again after ${wait} ms`,
      );
    }
  } finally {
    advised.destroy();
    defaults.destroy();
    await proxy.close();
  }
});

test('the event loop blocked for 1.5 s while calls are in flight to a healthy Redis: no timeout (the reply is read before the deadline is judged)', async () => {
  // A 20 ms round trip, as between two hosts: a reply is not there the instant the loop wakes up.
  const proxy = await startTcpProxy(6379, { delayMs: 10 });
  const client = await outageClient(proxy.url);
  const store = redisStore({ client, prefix: `lk-stall:${process.pid}:` });
  const busyWait = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // the process is stalled: no timer, no socket read runs
    }
  };
  try {
    const key = newStoreKey();
    const record = sampleRecord(Date.now());
    assert.equal(await store.create(key, record), true);
    // Blocked before the client has written the command (node-redis writes on setImmediate) …
    const unsent = [store.get(key), store.get(key), store.touch(key, record.expiresAt, Date.now())];
    busyWait(1500);
    const [first, second, touched] = await Promise.all(unsent);
    assert.deepEqual([first, second, touched], [record, record, true]);
    // … and after: the reply is waiting in the socket when the loop wakes up, with the timer expired.
    const sent = store.get(key);
    await new Promise((resolve) => setImmediate(resolve));
    busyWait(1500);
    assert.equal((await sent)?.sealed, record.sealed);
    // … and inside a timer callback: the expired deadline is next in the same timers phase, and the
    // client's write (an immediate) only comes after it, in the check phase.
    const fromTimer = await new Promise<Promise<unknown>[]>((resolve) =>
      setTimeout(() => {
        const calls = [store.get(key), store.get(key)];
        busyWait(1500);
        resolve(calls);
      }, 1),
    );
    assert.deepEqual(
      (await Promise.all(fromTimer)).map((r) => (r as { sealed?: string } | null)?.sealed),
      [record.sealed, record.sealed],
    );
    assert.equal(await store.delete(key), true);
  } finally {
    client.destroy();
    await proxy.close();
  }
});

test('a Redis that answers nothing (SIGSTOP): the coded outage error within about the timeout; once resumed, the store serves again', async () => {
  const redis = await startRedisServer();
  const client = await outageClient(redis.url);
  const store = redisStore({ client, timeout: 1000 });
  try {
    assert.ok((await msUntilServing(store, Date.now())) < 1000);
    pauseRedisServer(redis);
    const started = performance.now();
    await assert.rejects(store.get(newStoreKey()), { code: 'ERR_LATCHKEY_STORE_UNAVAILABLE' });
    const waited = performance.now() - started;
    assert.ok(waited >= 990 && waited < 1400, `refused after ${Math.round(waited)} ms`);
    resumeRedisServer(redis);
    assert.ok((await msUntilServing(store, Date.now())) < 2000);
  } finally {
    resumeRedisServer(redis);
    client.destroy();
  }
});
