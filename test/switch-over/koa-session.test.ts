/**
 * koa-session → latchkey/koa, over real HTTP: the app below is the same source on both libraries;
 * only the line that makes the session middleware changes (docs/migrate-from-koa-session.md).
 */

import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import Koa, { type Middleware } from 'koa';
import koaSessionMiddleware from 'koa-session';
import { generateKeyLine } from 'latchkey/crypto';
import { session } from 'latchkey/koa';
import { koaSession } from 'latchkey/legacy';
import { createClient } from 'redis';
import { describeSwitchOver, listen, type Running } from './support.ts';

const KEYS = generateKeyLine('k1');
// app.keys: in TypeScript it reads back as `string[] | Keygrip`, so the reader gets the list itself.
const KOA_KEYS = ['koa key 2', 'koa key 1'];

/** The app: koa-session's API only (`ctx.session.x = …`, `ctx.session = null`). */
function startApp(makeSession: (app: Koa) => Middleware): Promise<Running> {
  const app = new Koa();
  app.keys = KOA_KEYS;
  app.use(makeSession(app));
  app.use((ctx) => {
    // koa-session and latchkey/koa both type ctx.session; the app writes plain properties.
    const current = ctx.session as unknown as Record<string, unknown> | null;
    if (ctx.path === '/login') {
      current!.user = 'user-42';
      current!.theme = 'dark';
      ctx.body = { ok: true };
    } else if (ctx.path === '/me') {
      ctx.body = { user: current?.user ?? null, theme: current?.theme ?? null };
    } else if (ctx.path === '/logout') {
      (ctx as unknown as { session: null }).session = null;
      ctx.body = { ok: true };
    }
  });
  return listen(app.callback());
}

/**
 * An external koa-session store on Redis, as an app would write one (koa-session's `store` option):
 * JSON under the key koa-session's signed cookie names.
 */
const redis = createClient({ url: 'redis://127.0.0.1:6379' });
const koaPrefix = `koa-switch-${randomBytes(6).toString('hex')}:`;
after(async () => {
  if (!redis.isOpen) return;
  const keys = await redis.keys(`${koaPrefix}*`);
  if (keys.length > 0) await redis.del(keys);
  await redis.quit();
});
const koaRedisStore = {
  async get(key: string): Promise<Record<string, unknown> | undefined> {
    if (!redis.isOpen) await redis.connect();
    const text = await redis.get(koaPrefix + key);
    return text === null ? undefined : (JSON.parse(text) as Record<string, unknown>);
  },
  async set(key: string, value: Record<string, unknown>, maxAge: number | 'session'): Promise<void> {
    if (!redis.isOpen) await redis.connect();
    const ttl = typeof maxAge === 'number' ? { PX: maxAge } : {};
    await redis.set(koaPrefix + key, JSON.stringify(value), ttl);
  },
  async destroy(key: string): Promise<void> {
    if (!redis.isOpen) await redis.connect();
    await redis.del(koaPrefix + key);
  },
};

describeSwitchOver({
  title: 'koa-session (cookie) → latchkey/koa',
  oldNames: ['koa.sess', 'koa.sess.sig'],
  // before
  startPeer: () => startApp((app) => koaSessionMiddleware({ maxAge: 86_400_000 }, app)),
  // after: the registration line, as the migration guide writes it
  startLatchkey: (store) =>
    startApp(() =>
      session({
        keys: KEYS,
        development: true,
        legacy: [koaSession({ keys: KOA_KEYS })],
        legacyUntil: '2099-01-01',
        ...(store === undefined ? {} : { store }),
      }),
    ),
});

describeSwitchOver({
  title: 'koa-session (external store on Redis) → latchkey/koa',
  oldNames: ['koa.sess', 'koa.sess.sig'],
  startPeer: () => startApp((app) => koaSessionMiddleware({ maxAge: 86_400_000, store: koaRedisStore }, app)),
  startLatchkey: (store) =>
    startApp(() =>
      session({
        keys: KEYS,
        development: true,
        legacy: [koaSession({ keys: KOA_KEYS, store: koaRedisStore })],
        legacyUntil: '2099-01-01',
        ...(store === undefined ? {} : { store }),
      }),
    ),
});
