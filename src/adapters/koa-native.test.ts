/**
 * ctx.session as koa-session users write it: properties, `ctx.session = null`, replacement, isNew,
 * length, populated, save(), manuallyCommit(), toJSON(); in cookie mode and store mode; and an app
 * written for koa-session that runs on latchkey/koa with only its session registration changed.
 */
import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import { after, describe, test } from 'node:test';
import Koa from 'koa';
import { listen } from '../../test/scenarios/apps/serve.ts';
import type { ScenarioApp } from '../../test/scenarios/suite.ts';
import { CookieJar } from '../../test/support/cookies.ts';
import type { SessionsOptions } from '../core/options.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { session } from './koa.ts';

declare module './koa.ts' {
  interface SessionData {
    views: number;
    user: { name: string; roles: string[] };
    cart: string[];
    note: string;
  }
}

const keys = generateKeyLine('k1');
const servers: ScenarioApp[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

const modes: Array<[string, () => SessionsOptions]> = [
  ['cookie mode', () => ({ keys, development: true })],
  ['store mode', () => ({ keys, development: true, store: memoryStore() })],
];

/** A browser on a Koa app: requests through one cookie jar. */
async function browse(app: Koa) {
  app.silent = true;
  const server = await listen(app.callback() as RequestListener);
  servers.push(server);
  const jar = new CookieJar();
  return {
    jar,
    async call(path: string, init: RequestInit = {}) {
      const headers = new Headers(init.headers);
      const cookie = jar.header();
      // A cookie header given by the test (a replayed old cookie) goes instead of the jar's.
      if (cookie && !headers.has('cookie')) headers.set('cookie', cookie);
      const response = await fetch(`${server.url}${path}`, { redirect: 'manual', ...init, headers });
      jar.apply(response.headers.getSetCookie());
      return response;
    },
    async json(path: string, init: RequestInit = {}) {
      const response = await this.call(path, init);
      assert.equal(response.status, 200, await response.clone().text());
      return (await response.json()) as Record<string, unknown>;
    },
  };
}

/** The coded error a route threw, as its response body. */
function errorCode(run: () => unknown): string {
  try {
    run();
    return 'no error';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

for (const [mode, options] of modes) {
  describe(`latchkey/koa ctx.session as koa-session (${mode})`, () => {
    test('ctx.session.views = n persists; isNew, length and populated follow the data', async () => {
      const app = new Koa().use(session(options())).use((ctx) => {
        const before = {
          isNew: ctx.session.isNew,
          length: ctx.session.length,
          populated: ctx.session.populated,
        };
        ctx.session.views = (ctx.session.views ?? 0) + 1;
        ctx.body = { before, views: ctx.session.views, length: ctx.session.length };
      });
      const user = await browse(app);
      assert.deepEqual(await user.json('/'), {
        before: { isNew: true, length: 0, populated: false },
        views: 1,
        length: 1,
      });
      assert.deepEqual(await user.json('/'), {
        before: { isNew: false, length: 1, populated: true },
        views: 2,
        length: 1,
      });
    });

    test("ctx.session.maxAge sets this session's lifetime (remember me), kept with it; 'session' ends it with the browser", async () => {
      const app = new Koa().use(session(options())).use((ctx) => {
        if (ctx.path === '/remember') ctx.session.maxAge = 3_600_000;
        if (ctx.path === '/forget') ctx.session.maxAge = 'session';
        ctx.session.views = (ctx.session.views ?? 0) + 1;
        ctx.body = { maxAge: ctx.session.maxAge ?? null };
      });
      const user = await browse(app);
      const first = await user.call('/');
      assert.deepEqual(await first.json(), { maxAge: null });
      assert.doesNotMatch(first.headers.getSetCookie().join('\n'), /Max-Age/);
      const remembered = await user.call('/remember');
      assert.match(remembered.headers.getSetCookie().join('\n'), /Max-Age=3600/);
      const next = await user.call('/');
      assert.deepEqual(await next.json(), { maxAge: 3_600_000 }, 'kept with the session');
      assert.match(next.headers.getSetCookie().join('\n'), /Max-Age=36\d\d/);
      const forgotten = await user.call('/forget');
      assert.deepEqual(await forgotten.json(), { maxAge: 'session' });
      assert.doesNotMatch(forgotten.headers.getSetCookie().join('\n'), /Max-Age=[1-9]/);
    });

    test('in-place changes of nested values persist; delete ctx.session.x removes the key', async () => {
      const app = new Koa().use(session(options())).use((ctx) => {
        if (ctx.path === '/add') {
          ctx.session.cart ??= [];
          ctx.session.cart.push('apple');
        }
        if (ctx.path === '/drop') delete ctx.session.cart;
        ctx.body = {
          cart: ctx.session.cart ?? null,
          has: 'cart' in ctx.session,
          keys: Object.keys(ctx.session),
        };
      });
      const user = await browse(app);
      await user.json('/add');
      assert.deepEqual(await user.json('/add'), { cart: ['apple', 'apple'], has: true, keys: ['cart'] });
      assert.deepEqual(await user.json('/drop'), { cart: null, has: false, keys: [] });
      assert.deepEqual(await user.json('/'), { cart: null, has: false, keys: [] });
    });

    test('ctx.session = { … } replaces the data; toJSON and JSON.stringify give the data', async () => {
      const app = new Koa().use(session(options())).use((ctx) => {
        if (ctx.path === '/fill') {
          ctx.session.views = 5;
          ctx.session.note = 'old';
        }
        if (ctx.path === '/replace') ctx.session = { note: 'new', cart: ['pear'] };
        ctx.body = { json: JSON.parse(JSON.stringify(ctx.session)), copy: ctx.session.toJSON() };
      });
      const user = await browse(app);
      await user.json('/fill');
      const replaced = await user.json('/replace');
      assert.deepEqual(replaced.json, { note: 'new', cart: ['pear'] });
      assert.deepEqual(replaced.copy, { note: 'new', cart: ['pear'] });
      assert.deepEqual((await user.json('/')).json, { note: 'new', cart: ['pear'] });
    });

    test('ctx.session = null signs out: the cookie is cleared and the old cookie opens no session', async () => {
      const app = new Koa().use(session(options())).use((ctx) => {
        if (ctx.path === '/login') ctx.session.user = { name: 'ada', roles: ['admin'] };
        if (ctx.path === '/logout') ctx.session = null;
        ctx.body = { user: ctx.session.user ?? null, isNew: ctx.session.isNew };
      });
      const user = await browse(app);
      await user.json('/login');
      const stolen = user.jar.header() ?? '';
      assert.deepEqual(await user.json('/'), { user: { name: 'ada', roles: ['admin'] }, isNew: false });
      const out = await user.call('/logout');
      assert.ok(
        out.headers.getSetCookie().some((line) => line.includes('Max-Age=0')),
        'the cookie is deleted',
      );
      assert.deepEqual(user.jar.names(), []);
      assert.deepEqual(await user.json('/'), { user: null, isNew: true });
      if (mode === 'store mode') {
        // The record is gone: replaying the cookie from before the sign-out opens nothing.
        assert.deepEqual(await user.json('/', { headers: { cookie: stolen } }), { user: null, isNew: true });
      }
    });

    test('after ctx.session = null, a write waits for the destroy; a replacement starts the new session', async () => {
      const app = new Koa().use(session(options())).use(async (ctx) => {
        if (ctx.path === '/login') ctx.session.user = { name: 'ada', roles: [] };
        if (ctx.path === '/switch') {
          ctx.session = null;
          const early = errorCode(() => {
            ctx.session.note = 'too soon';
          });
          ctx.session = { note: 'guest' };
          ctx.body = { early };
          return;
        }
        if (ctx.path === '/out-then-write') {
          ctx.session = null;
          await ctx.session.destroy(); // settles the sign-out; then the session is a new one
          ctx.session.views = 1;
        }
        ctx.body = { data: ctx.session.toJSON() };
      });
      const user = await browse(app);
      await user.json('/login');
      assert.deepEqual(await user.json('/switch'), { early: 'ERR_LATCHKEY_STATE' });
      assert.deepEqual(await user.json('/'), { data: { note: 'guest' } });
      await user.json('/login');
      await user.json('/out-then-write');
      assert.deepEqual(await user.json('/'), { data: { views: 1 } });
    });

    test('what the session cannot keep throws ERR_LATCHKEY_VALUE at the write, and nothing changes', async () => {
      const app = new Koa().use(session(options())).use((ctx) => {
        ctx.session.views = 1;
        const s = ctx.session as unknown as Record<PropertyKey, unknown>;
        let deep: unknown = 'bottom';
        for (let i = 0; i < 40; i++) deep = { deep };
        ctx.body = {
          fn: errorCode(() => {
            s.note = () => 'x';
          }),
          date: errorCode(() => {
            s.note = new Date(0);
          }),
          nan: errorCode(() => {
            s.views = Number.NaN;
          }),
          bigint: errorCode(() => {
            s.views = 1n;
          }),
          symbolKey: errorCode(() => {
            s[Symbol('k')] = 1;
          }),
          symbolValue: errorCode(() => {
            s.note = Symbol('v');
          }),
          deep: errorCode(() => {
            s.note = deep;
          }),
          proto: errorCode(() => {
            // biome-ignore lint/suspicious/noProto: the pollution attempt under test
            s.__proto__ = { polluted: true };
          }),
          api: errorCode(() => {
            s.isNew = false;
          }),
          method: errorCode(() => {
            s.save = 1;
          }),
          replaceBad: errorCode(() => {
            ctx.session = { note: 'fine', views: () => 1 } as never;
          }),
          replaceArray: errorCode(() => {
            ctx.session = [1] as never;
          }),
          viaSet: errorCode(() => ctx.session.set('note', new Map() as never)),
          data: ctx.session.toJSON(),
        };
      });
      const user = await browse(app);
      const body = await user.json('/');
      const { data, ...codes } = body;
      for (const [what, code] of Object.entries(codes)) assert.equal(code, 'ERR_LATCHKEY_VALUE', what);
      assert.deepEqual(data, { views: 1 });
      assert.equal(Object.getPrototypeOf({}).polluted, undefined);
    });

    test('save() writes an unchanged session; an untouched one is not rewritten', async () => {
      const app = new Koa().use(session(options())).use(async (ctx) => {
        if (ctx.path === '/set') ctx.session.views = 1;
        if (ctx.path === '/save') await ctx.session.save();
        ctx.body = { views: ctx.session.views ?? null };
      });
      const user = await browse(app);
      await user.json('/set');
      const plain = await user.call('/');
      assert.deepEqual(plain.headers.getSetCookie(), []);
      const saved = await user.call('/save');
      // Cookie mode reseals the cookie; store mode renews the record (its token cookie stays as it is).
      if (mode === 'cookie mode') assert.equal(saved.headers.getSetCookie().length, 1);
      assert.deepEqual(await saved.json(), { views: 1 });
      // The callback form of koa-session.
      let called = false;
      const app2 = new Koa().use(session(options())).use(async (ctx) => {
        ctx.session.views = 2;
        await new Promise<void>((resolve) =>
          ctx.session.save((error) => {
            called = error === undefined;
            resolve();
          }),
        );
        ctx.body = 'ok';
      });
      await (await browse(app2)).call('/');
      assert.equal(called, true);
    });

    test('manuallyCommit() puts the cookie on the response at once, for an app that writes ctx.res', async () => {
      const app = new Koa().use(session(options())).use(async (ctx) => {
        if (ctx.path === '/raw') {
          ctx.session.views = 7;
          await ctx.session.manuallyCommit();
          const late = errorCode(() => {
            ctx.session.views = 8;
          });
          ctx.respond = false;
          ctx.res.writeHead(200, { 'content-type': 'text/plain' });
          ctx.res.end(late);
          return;
        }
        ctx.body = { views: ctx.session.views ?? null };
      });
      const user = await browse(app);
      const raw = await user.call('/raw');
      assert.equal(await raw.text(), 'ERR_LATCHKEY_STATE');
      assert.equal(raw.headers.getSetCookie().length, 1);
      assert.equal(raw.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await user.json('/'), { views: 7 });
    });

    test('regenerate() gives a new cookie value and keeps the data, as koa-session', async () => {
      const app = new Koa().use(session(options())).use(async (ctx) => {
        if (ctx.path === '/set') ctx.session.views = 3;
        if (ctx.path === '/regenerate') await ctx.session.regenerate();
        ctx.body = { views: ctx.session.views ?? null };
      });
      const user = await browse(app);
      await user.json('/set');
      const before = user.jar.header();
      assert.deepEqual(await user.json('/regenerate'), { views: 3 });
      assert.notEqual(user.jar.header(), before);
      assert.deepEqual(await user.json('/'), { views: 3 });
      if (mode === 'store mode') {
        assert.deepEqual(await user.json('/', { headers: { cookie: before ?? '' } }), { views: null });
      }
    });
  });
}

/**
 * An app as its koa-session docs have it: `session(app)` once, then plain property access. It is
 * run with koa-session itself (the measure of what its users expect) and with latchkey/koa, the only
 * change being the line that registers the session middleware.
 */
function koaSessionStyleApp(register: (app: Koa) => void): Koa {
  const app = new Koa();
  register(app);
  app.use(async (ctx) => {
    if (ctx.path === '/favicon.ico') return;
    if (ctx.path === '/login') {
      ctx.session.user = { name: 'ada', roles: ['editor'] };
      ctx.body = { ok: true };
      return;
    }
    if (ctx.path === '/logout') {
      ctx.session = null;
      ctx.body = { ok: true };
      return;
    }
    if (ctx.path === '/reset') {
      ctx.session = { views: 100 };
      ctx.body = { ok: true };
      return;
    }
    const n = ctx.session.views ?? 0;
    ctx.session.views = n + 1;
    ctx.body = {
      views: ctx.session.views,
      isNew: ctx.session.isNew,
      populated: ctx.session.populated,
      user: ctx.session.user?.name ?? null,
    };
  });
  return app;
}

async function koaSessionScenario(register: (app: Koa) => void): Promise<unknown[]> {
  const user = await browse(koaSessionStyleApp(register));
  const seen: unknown[] = [];
  for (const path of ['/', '/', '/login', '/', '/reset', '/', '/logout', '/'])
    seen.push(await user.json(path));
  return seen;
}

describe('switching a koa-session app to latchkey/koa', () => {
  test('the same app behaves the same with only the session registration changed', async () => {
    // Loaded by name: koa-session is a devDependency for this comparison only.
    const koaSession = (await import('koa-session' as string)).default as (
      options: Record<string, unknown>,
      app: Koa,
    ) => Koa.Middleware;
    const expected = await koaSessionScenario((app) => {
      app.keys = ['koa-session signing key for the test'];
      app.use(koaSession({ signed: true }, app));
    });
    assert.deepEqual(expected, [
      { views: 1, isNew: true, populated: true, user: null },
      { views: 2, isNew: false, populated: true, user: null },
      { ok: true },
      { views: 3, isNew: false, populated: true, user: 'ada' },
      { ok: true },
      { views: 101, isNew: false, populated: true, user: null },
      { ok: true },
      { views: 1, isNew: true, populated: true, user: null },
    ]);
    for (const [, options] of modes) {
      assert.deepEqual(await koaSessionScenario((app) => app.use(session(options()))), expected);
    }
  });
});
