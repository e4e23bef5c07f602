import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import secureSession from '@fastify/secure-session';
import { RedisStore } from 'connect-redis';
import express from 'express';
import Fastify from 'fastify';
import { sealData } from 'iron-session';
import Keygrip from 'keygrip';
import Koa from 'koa';
import koaSessionMiddleware from 'koa-session';
import { createClient } from 'redis';
import { CookieJar } from '../../../test/support/cookies.ts';
import { createSessions, type SessionEvent } from '../../core/index.ts';
import type { LegacyReader } from '../../core/legacy.ts';
import { generateKeyLine } from '../../crypto/keyring.ts';
import { memoryStore } from '../../stores/memory.ts';
import { cookieSession, expressSession, fastifySecureSession, ironSession, koaSession } from './index.ts';

// Switch-over: the old cookies are made by the real libraries, in process; Latchkey then reads them.
// cookie-session and express-session ship no types: loaded with require, typed as far as used here.
const require = createRequire(import.meta.url);
type Middleware = (req: unknown, res: unknown, next: () => void) => void;
const cookieSessionMiddleware = require('cookie-session') as (options: object) => Middleware;
const expressSessionMiddleware = require('express-session') as ((options: object) => Middleware) & {
  MemoryStore: new () => import('./index.ts').ConnectStoreLike;
};
const KEYS = generateKeyLine('k1');
const servers: Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function listen(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The Cookie header a browser would send back after the peer's sign-in response. */
async function signInCookie(url: string): Promise<string> {
  const response = await fetch(`${url}/login`, { redirect: 'manual' });
  const lines = response.headers.getSetCookie();
  assert.ok(lines.length > 0, 'the peer set a cookie');
  return lines.map((line) => line.split(';')[0]).join('; ');
}

function flip(value: string): string {
  const i = Math.floor(value.length / 2);
  return value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
}

/** Send the old cookie to Latchkey (cookie and store mode) and check the switch-over. */
function switchOver(
  title: string,
  make: () => Promise<{ cookie: string; reader: LegacyReader; oldNames: string[] }>,
) {
  describe(`switch-over from ${title}`, () => {
    for (const mode of ['cookie', 'store'] as const) {
      test(`${mode} mode: signed in with the data, Latchkey's cookie set, the old cookie expired, in one response`, async () => {
        const { cookie, reader, oldNames } = await make();
        const events: SessionEvent[] = [];
        const sessions = createSessions({
          keys: KEYS,
          legacy: [reader],
          legacyUntil: new Date(Date.now() + 86_400_000),
          onEvent: (event) => events.push(event),
          ...(mode === 'store' ? { store: memoryStore() } : {}),
        });
        const session = await sessions.load({ headers: { cookie } });
        assert.equal(session.userId, 'user-42');
        assert.equal(session.get('theme'), 'dark');
        const lines = await sessions.commit(session);
        assert.match(lines[0]!, /^__Host-lk=/);
        for (const name of oldNames) {
          assert.ok(
            lines.some((line) => line.startsWith(`${name}=;`) && line.includes('Max-Age=0')),
            `${name} expired`,
          );
        }
        assert.ok(events.some((event) => event.type === 'migrated'));
        const jar = new CookieJar().apply(lines);
        const next = await sessions.load({ headers: { cookie: jar.header()! } });
        assert.equal(next.userId, 'user-42');
        assert.equal(next.get('theme'), 'dark');
      });
    }

    test('a tampered old cookie gets no session', async () => {
      const { cookie, reader } = await make();
      const events: SessionEvent[] = [];
      const sessions = createSessions({
        keys: KEYS,
        legacy: [reader],
        legacyUntil: new Date(Date.now() + 86_400_000),
        onEvent: (event) => events.push(event),
      });
      const tampered = cookie
        .split('; ')
        .map((pair, index) => (index === 0 ? flip(pair) : pair))
        .join('; ');
      const session = await sessions.load({ headers: { cookie: tampered } });
      assert.equal(session.userId, undefined);
      assert.equal(session.get('theme'), undefined);
      assert.deepEqual(await sessions.commit(session), []);
    });

    test('after legacyUntil the old cookie is ignored', async () => {
      const { cookie, reader } = await make();
      const sessions = createSessions({
        keys: KEYS,
        legacy: [reader],
        legacyUntil: new Date(Date.now() - 1),
      });
      const session = await sessions.load({ headers: { cookie } });
      assert.equal(session.userId, undefined);
    });
  });
}

switchOver('cookie-session (Express)', async () => {
  const app = express();
  app.use(cookieSessionMiddleware({ keys: ['new cs key', 'old cs key'] }));
  app.get('/login', (req, res) => {
    (req as unknown as { session: object }).session = { passport: { user: 'user-42' }, theme: 'dark' };
    res.end('ok');
  });
  const cookie = await signInCookie(await listen(app));
  return {
    cookie,
    reader: cookieSession({ keys: ['old cs key', 'new cs key'] }),
    oldNames: ['session', 'session.sig'],
  };
});

switchOver('koa-session (cookie)', async () => {
  const app = new Koa();
  app.keys = ['koa key'];
  app.use(koaSessionMiddleware({}, app));
  app.use((ctx) => {
    const session = ctx.session as unknown as Record<string, unknown>;
    session.passport = { user: 'user-42' };
    session.theme = 'dark';
    ctx.body = 'ok';
  });
  const cookie = await signInCookie(await listen(app.callback()));
  return { cookie, reader: koaSession({ keys: ['koa key'] }), oldNames: ['koa.sess', 'koa.sess.sig'] };
});

switchOver('koa-session (cookie, app.keys a Keygrip with SHA-256)', async () => {
  const app = new Koa();
  const grip = new Keygrip(['koa key 2', 'koa key 1'], 'sha256');
  app.keys = grip;
  app.use(koaSessionMiddleware({}, app));
  app.use((ctx) => {
    const session = ctx.session as unknown as Record<string, unknown>;
    session.passport = { user: 'user-42' };
    session.theme = 'dark';
    ctx.body = 'ok';
  });
  const cookie = await signInCookie(await listen(app.callback()));
  // The guide's line as it is: the reader takes the app's own app.keys.
  return { cookie, reader: koaSession({ keys: app.keys }), oldNames: ['koa.sess', 'koa.sess.sig'] };
});

switchOver('express-session (MemoryStore)', async () => {
  const store = new expressSessionMiddleware.MemoryStore();
  const app = express();
  app.use(
    expressSessionMiddleware({ secret: 'express secret', store, resave: false, saveUninitialized: false }),
  );
  app.get('/login', (req, res) => {
    const session = req.session as unknown as Record<string, unknown>;
    session.passport = { user: 'user-42' };
    session.theme = 'dark';
    res.end('ok');
  });
  const cookie = await signInCookie(await listen(app));
  return {
    cookie,
    reader: expressSession({ secret: ['rotated secret', 'express secret'], store }),
    oldNames: ['connect.sid'],
  };
});

switchOver('@fastify/session (Fastify, its memory store)', async () => {
  const fastifyCookie = require('@fastify/cookie');
  const fastifySession = require('@fastify/session');
  const store = new fastifySession.MemoryStore();
  const app = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: 'a @fastify/session secret of 32+ characters',
    store,
    cookie: { secure: false },
  });
  app.get('/login', async (request) => {
    const session = request.session as unknown as Record<string, unknown>;
    session.passport = { user: 'user-42' };
    session.theme = 'dark';
    return 'ok';
  });
  const response = await app.inject({ method: 'GET', url: '/login' });
  const line = ([] as string[]).concat(response.headers['set-cookie'] ?? [])[0]!;
  await app.close();
  return {
    cookie: line.split(';')[0]!,
    reader: expressSession({
      secret: 'a @fastify/session secret of 32+ characters',
      store,
      name: 'sessionId',
      prefix: '',
    }),
    oldNames: ['sessionId'],
  };
});

const redis = createClient({ url: 'redis://127.0.0.1:6379' });
const redisPrefix = `lk-legacy-${randomBytes(6).toString('hex')}:`;
after(async () => {
  if (!redis.isOpen) return;
  const keys = await redis.keys(`${redisPrefix}*`);
  if (keys.length > 0) await redis.del(keys);
  await redis.quit();
});

switchOver('express-session + connect-redis (Redis)', async () => {
  if (!redis.isOpen) await redis.connect();
  const store = new RedisStore({ client: redis, prefix: redisPrefix });
  const app = express();
  app.use(
    expressSessionMiddleware({ secret: 'redis secret', store, resave: false, saveUninitialized: false }),
  );
  app.get('/login', (req, res) => {
    const session = (req as unknown as { session: Record<string, unknown> }).session;
    session.passport = { user: 'user-42' };
    session.theme = 'dark';
    res.end('ok');
  });
  const cookie = await signInCookie(await listen(app));
  return { cookie, reader: expressSession({ secret: 'redis secret', store }), oldNames: ['connect.sid'] };
});

const IRON_PASSWORD = 'an iron-session password of 32+ characters';
switchOver('iron-session (sealData, v8/v9 Fe26.2)', async () => {
  const sealed = await sealData(
    { passport: { user: 'user-42' }, theme: 'dark' },
    { password: { 3: IRON_PASSWORD }, ttl: 3600 },
  );
  return {
    cookie: `app_session=${sealed}`,
    reader: ironSession({ cookieName: 'app_session', password: { 3: IRON_PASSWORD }, ttl: 3600 }),
    oldNames: ['app_session'],
  };
});

const SECURE_KEY = Buffer.alloc(32, 7);
switchOver('@fastify/secure-session (Fastify)', async () => {
  const app = Fastify();
  await app.register(secureSession, { key: SECURE_KEY, cookie: { path: '/' } });
  app.get('/login', async (request) => {
    const session = request.session as unknown as { set(key: string, value: unknown): void };
    session.set('passport', { user: 'user-42' });
    session.set('theme', 'dark');
    return 'ok';
  });
  const response = await app.inject({ method: 'GET', url: '/login' });
  const line = ([] as string[]).concat(response.headers['set-cookie'] ?? [])[0]!;
  await app.close();
  return {
    cookie: line.split(';')[0]!,
    reader: fastifySecureSession({ key: SECURE_KEY.toString('base64') }),
    oldNames: ['session'],
  };
});

test('iron-session: an expired seal is refused', async () => {
  const sealed = await sealData({ theme: 'dark' }, { password: IRON_PASSWORD, ttl: 1 });
  const sessions = createSessions({
    keys: KEYS,
    legacy: [ironSession({ cookieName: 'app_session', password: IRON_PASSWORD })],
    legacyUntil: '2999-01-01',
    clock: { now: () => Date.now() + 120_000 },
  });
  const session = await sessions.load({ headers: { cookie: `app_session=${sealed}` } });
  assert.equal(session.get('theme'), undefined);
});
