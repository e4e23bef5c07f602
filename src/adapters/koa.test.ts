import assert from 'node:assert/strict';
import type { RequestListener } from 'node:http';
import { after, describe, test } from 'node:test';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import { listen } from '../../test/scenarios/apps/serve.ts';
import type { ScenarioApp } from '../../test/scenarios/suite.ts';
import { CookieJar } from '../../test/support/cookies.ts';
import { openMemorySqlite } from '../../test/support/sqlite.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createCsrf } from '../csrf/index.ts';
import { LatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { sqliteStore } from '../stores/sqlite.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { csrf, type SessionDataOf, session } from './koa.ts';

// The typing test: apps declare their data once, and ctx.session follows everywhere.
declare module './koa.ts' {
  interface SessionData {
    koaTestVisits: number;
    koaTestBig: string;
  }
}

const keys = generateKeyLine('k1');
const servers: ScenarioApp[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

/** Serve a Koa app on a free port; requests through a cookie jar, as one browser. */
async function serve(app: { silent: boolean; callback(): RequestListener }) {
  app.silent = true; // Koa would log the errors these tests throw on purpose
  const server = await listen(app.callback());
  servers.push(server);
  const jar = new CookieJar();
  return {
    jar,
    async call(path: string, init: RequestInit = {}) {
      const headers = new Headers(init.headers);
      const cookie = jar.header();
      if (cookie) headers.set('cookie', cookie);
      const response = await fetch(`${server.url}${path}`, { redirect: 'manual', ...init, headers });
      jar.apply(response.headers.getSetCookie());
      return response;
    },
  };
}

function counter(ctx: Koa.ParameterizedContext) {
  const visits: number | undefined = ctx.session.get('koaTestVisits');
  // @ts-expect-error koaTestVisits is a number, as SessionData says
  if (visits === -1) ctx.session.set('koaTestVisits', 'many');
  ctx.session.set('koaTestVisits', (visits ?? 0) + 1);
  ctx.body = { visits: ctx.session.get('koaTestVisits') };
}

describe('latchkey/koa session()', () => {
  test('counts visits; a response that sets the cookie says no-store and Vary: Cookie', async () => {
    const app = new Koa().use(session({ keys, development: true })).use(counter);
    const user = await serve(app);
    for (const expected of [1, 2]) {
      const response = await user.call('/');
      assert.deepEqual(await response.json(), { visits: expected });
      assert.equal(response.headers.getSetCookie().length, 1);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.match(response.headers.get('vary') ?? '', /Cookie/);
    }
  });

  test('the data type falls back to Record<string, unknown> only when SessionData is empty', () => {
    const open: SessionDataOf<Record<never, never>> = { anything: 1 };
    // @ts-expect-error a declared SessionData is exact
    const declared: SessionDataOf<{ visits: number }> = { anything: 1 };
    assert.deepEqual([open, declared], [{ anything: 1 }, { anything: 1 }]);
  });

  test('behind a TLS proxy the __Host- cookie is set only when Koa trusts the proxy (app.proxy)', async () => {
    const https = { headers: { 'x-forwarded-proto': 'https' } };
    const direct = await serve(new Koa().use(session({ keys })).use(counter));
    assert.deepEqual((await direct.call('/', https)).headers.getSetCookie(), []);
    const proxied = new Koa({ proxy: true }).use(session({ keys })).use(counter);
    const line = (await (await serve(proxied)).call('/', https)).headers.getSetCookie()[0];
    assert.match(line ?? '', /^__Host-lk=.*; Secure/);
  });

  test('mounted twice, the session is loaded and committed once; .sessions is the manager', async () => {
    const sessions = createSessions({ keys, development: true });
    const middleware = session({ sessions });
    assert.equal(middleware.sessions, sessions);
    const app = new Koa()
      .use(middleware)
      .use(session({ keys, development: true }))
      .use(counter);
    const lines = (await (await serve(app)).call('/')).headers.getSetCookie();
    assert.equal(lines.length, 1);
    assert.equal((await sessions.load(lines[0]!.split(';')[0]!)).get('koaTestVisits'), 1, 'by the first one');
  });

  test('refuses bad options with ERR_LATCHKEY_CONFIG', () => {
    const sessions = createSessions({ keys });
    const bad = [
      null,
      7,
      { sessions: {} },
      { sessions, onError: true },
      { sessions, keys },
      { keys, nope: 1 },
    ];
    for (const options of bad) {
      assert.throws(() => session(options as never), { code: 'ERR_LATCHKEY_CONFIG' }, String(options));
    }
  });

  test("checklist #60: the session's Set-Cookie lines and the app's own stay separate", async () => {
    const app = new Koa().use(session({ keys, development: true })).use((ctx) => {
      ctx.cookies.set('theme', 'dark', { httpOnly: false });
      ctx.session.set('koaTestBig', 'z'.repeat(7000));
      ctx.body = 'ok';
    });
    const lines = (await (await serve(app)).call('/')).headers.getSetCookie();
    assert.equal(lines.length, 4, JSON.stringify(lines.map((line) => line.slice(0, 16))));
    assert.match(lines[0] ?? '', /^theme=dark; path=\//);
    assert.ok(lines.slice(1).every((line) => /^lk(\.\d)?=/.test(line) && !line.includes(', ')));
  });

  test("a thrown error commits nothing and goes to Koa's error handling", async () => {
    const app = new Koa();
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (error) {
        ctx.status = 418;
        ctx.body = `handled: ${(error as Error).message}`;
      }
    });
    app.use(session({ keys, development: true })).use((ctx) => {
      ctx.session.set('koaTestVisits', 1);
      throw new Error('half-done');
    });
    const response = await (await serve(app)).call('/');
    assert.equal(response.status, 418);
    assert.equal(await response.text(), 'handled: half-done');
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test("a commit failure is a bare 500 without the handler's headers; onError can answer instead", async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const huge = (ctx: Koa.ParameterizedContext) => {
      ctx.session.set('koaTestBig', 'z'.repeat(50_000));
      ctx.set('x-app', 'yes');
      ctx.cookies.set('app', '1');
      ctx.status = 201;
      ctx.body = { done: true };
    };
    const plain = await serve(new Koa().use(session({ keys, development: true })).use(huge));
    const response = await plain.call('/');
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(response.headers.get('x-app'), null);
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.match(String(logged.mock.calls[0]?.arguments[0]), /ERR_LATCHKEY_TOO_LARGE/);

    const onError = (error: unknown, ctx: Koa.Context) => {
      ctx.body = { code: (error as LatchkeyError).code };
    };
    const custom = await serve(new Koa().use(session({ keys, development: true, onError })).use(huge));
    const handled = await custom.call('/');
    assert.equal(handled.status, 500);
    assert.match(handled.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await handled.json(), { code: 'ERR_LATCHKEY_TOO_LARGE' });
  });

  test('a store outage answers 503 (a closed SQLite database), never an anonymous session', async (t) => {
    t.mock.method(console, 'error', () => {});
    const db = await openMemorySqlite();
    const sessions = createSessions({ keys, development: true, store: sqliteStore({ db }) });
    const user = await serve(new Koa().use(session({ sessions })).use(counter));
    assert.deepEqual(await (await user.call('/')).json(), { visits: 1 });
    db.close();
    const response = await user.call('/');
    assert.equal(response.status, 503);
    assert.equal(await response.text(), 'Service Unavailable');
  });

  test('a change after the commit throws; ctx.sessions lists the devices in store mode', async () => {
    // Sign-ins a second apart: "oldest first" must not depend on two logins in the same millisecond.
    const clock = createFakeClock();
    const sessions = createSessions({ keys, development: true, clock, store: memoryStore({ clock }) });
    let late: unknown;
    const app = new Koa();
    app.use(async (ctx, next) => {
      await next();
      try {
        ctx.session.set('koaTestVisits', 7);
      } catch (error) {
        late = error;
      }
    });
    app.use(session({ sessions })).use(async (ctx) => {
      if (ctx.method === 'POST') await ctx.session.login('ada');
      const devices = await ctx.sessions.listUserSessions('ada', { current: ctx.session });
      ctx.body = devices.map((device) => device.current);
    });
    const laptop = await serve(app);
    const phone = await serve(app);
    await laptop.call('/', { method: 'POST' });
    clock.advance('1s');
    await phone.call('/', { method: 'POST' });
    assert.deepEqual(await (await laptop.call('/')).json(), [true, false]);
    assert.ok(late instanceof LatchkeyError);
    assert.equal(late.code, 'ERR_LATCHKEY_STATE');
  });
});

/** ctx.state.csrfToken is typed on Koa's default state: this would not compile if that broke. */
function renderToken(ctx: Koa.ParameterizedContext): string {
  // @ts-expect-error csrfToken takes no arguments
  if (ctx.method === 'NONE') ctx.state.csrfToken('now');
  return ctx.state.csrfToken();
}

describe('latchkey/koa csrf()', () => {
  async function formApp() {
    const app = new Koa()
      .use(session({ keys, development: true }))
      .use(bodyParser())
      .use(csrf());
    app.use((ctx) => {
      if (ctx.method === 'GET') {
        ctx.body = renderToken(ctx);
        return;
      }
      counter(ctx);
    });
    return serve(app);
  }

  test('a form post or a fetch() with the token goes through', async () => {
    const user = await formApp();
    const form = new URLSearchParams({ _csrf: await (await user.call('/')).text() });
    assert.deepEqual(await (await user.call('/', { method: 'POST', body: form })).json(), { visits: 1 });
    const token = await (await user.call('/')).text();
    assert.notEqual(token, form.get('_csrf'), 'a fresh mask on every render');
    const json = { method: 'POST', headers: { 'x-csrf-token': token, 'content-type': 'application/json' } };
    assert.deepEqual(await (await user.call('/', { ...json, body: '{}' })).json(), { visits: 2 });
  });

  test('no token, another origin or another session’s token: a coded 403', async () => {
    const user = await formApp();
    const token = await (await user.call('/')).text();
    const other = await (await (await formApp()).call('/')).text();
    const refusals: Array<[RequestInit, string]> = [
      [{ method: 'POST', body: new URLSearchParams({ note: 'none' }) }, 'token-missing'],
      [
        {
          method: 'POST',
          body: new URLSearchParams({ _csrf: token }),
          headers: { origin: 'https://evil.test' },
        },
        'cross-origin',
      ],
      [{ method: 'POST', body: new URLSearchParams({ _csrf: other }) }, 'token-invalid'],
    ];
    for (const [init, reason] of refusals) {
      const response = await user.call('/', init);
      assert.equal(response.status, 403, reason);
      assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(await response.text(), `Forbidden: ERR_LATCHKEY_CSRF (${reason})\n`);
    }
  });

  test('csrf() refuses bad options, and without session() it fails loudly', async () => {
    assert.throws(() => csrf({ headerName: 'Bad Header' }), { code: 'ERR_LATCHKEY_CONFIG' });
    const open = (ctx: Koa.ParameterizedContext) => {
      ctx.body = 'open';
    };
    const bare = await serve(new Koa().use(csrf(createCsrf())).use(open));
    assert.equal((await bare.call('/')).status, 500);
  });
});
