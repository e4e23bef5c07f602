/**
 * A connect store outage seen over HTTP: connect-redis on a redis-server this test starts on its own
 * port, stopped mid-run and started again. node-redis keeps its default offline queue, so while Redis
 * is down commands wait instead of failing: connectStore's timeout (1 s by default) turns that into the
 * coded StoreUnavailable, which latchkey/node answers with 503 — never a fresh anonymous session. When
 * Redis is back, service resumes by itself.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { withSession } from '../src/adapters/node.ts';
import { createSessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { type ConnectStoreLike, connectStore } from '../src/stores/connect.ts';
import {
  restartRedisServer,
  startRedisServer,
  stopAllRedisServers,
  stopRedisServer,
} from './support/redis-servers.ts';

after(stopAllRedisServers);

test('connect-redis down: 503 within about a second, nobody signed in, no crash; Redis back: service resumes', async (t) => {
  t.mock.method(console, 'error', () => {});
  const redis = await startRedisServer();
  const client = createClient({
    url: redis.url,
    socket: { reconnectStrategy: (retries: number) => Math.min(100 * retries, 300) },
  });
  client.on('error', () => {});
  await client.connect();
  const keys = generateKeyLine('k1');
  const store = connectStore(new RedisStore({ client }) as unknown as ConnectStoreLike, { keys });
  const sessions = createSessions<{ n: number }>({ keys, store, trustProxy: true });
  const server = createServer(
    withSession(sessions, async (req, res, session) => {
      if (req.url === '/login') await session.login('alice');
      res.end(JSON.stringify({ user: session.userId ?? null }));
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let cookie = '';
  const call = async (path: string) => {
    const started = performance.now();
    const response = await fetch(`${base}${path}`, { headers: { 'x-forwarded-proto': 'https', cookie } });
    const set = response.headers.getSetCookie()[0];
    if (set) cookie = set.split(';')[0]!;
    return { status: response.status, body: await response.text(), ms: performance.now() - started };
  };
  try {
    assert.equal((await call('/login')).body, '{"user":"alice"}');
    assert.equal((await call('/')).body, '{"user":"alice"}');

    await stopRedisServer(redis);
    const down = await call('/');
    assert.equal(down.status, 503, down.body);
    assert.ok(down.ms < 3000, `answered in ${down.ms} ms`);
    const anonymous = await fetch(`${base}/`, { headers: { 'x-forwarded-proto': 'https', cookie } });
    assert.deepEqual(anonymous.headers.getSetCookie(), [], 'no new session is handed out');
    assert.equal(anonymous.status, 503);
    await anonymous.text();

    await restartRedisServer(redis); // an empty Redis: the session itself is gone, as after an eviction
    let back = await call('/');
    for (let i = 0; back.status !== 200 && i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      back = await call('/');
    }
    assert.deepEqual([back.status, back.body], [200, '{"user":null}']);
    assert.equal((await call('/login')).body, '{"user":"alice"}');
    assert.equal((await call('/')).body, '{"user":"alice"}');
  } finally {
    await new Promise((resolve) => server.close(resolve));
    client.destroy();
  }
});
