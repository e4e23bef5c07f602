import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { CookieJar } from '../../test/support/cookies.ts';
import { openMemorySqlite } from '../../test/support/sqlite.ts';
import type { Session } from '../core/session.ts';
import { createSessions, type Sessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createCsrf } from '../csrf/index.ts';
import { LatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { sqliteStore } from '../stores/sqlite.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { type CsrfEnv, csrf, type SessionEnv, sessionMiddleware } from './hono.ts';

const keys = generateKeyLine('k1');
type Data = { visits: number; big: string };

function client(app: Hono<SessionEnv<Data>> | Hono<SessionEnv<Data> & CsrfEnv>) {
  const jar = new CookieJar();
  return {
    jar,
    async call(path: string, init: RequestInit = {}) {
      const headers = new Headers(init.headers);
      const cookie = jar.header();
      if (cookie) headers.set('cookie', cookie);
      const response = await app.request(`https://app.test${path}`, { ...init, headers });
      jar.apply(response.headers.getSetCookie());
      return response;
    },
  };
}

function counterApp(sessions: Sessions<Data> = createSessions<Data>({ keys })) {
  const app = new Hono<SessionEnv<Data>>();
  app.use(sessionMiddleware({ sessions }));
  app.get('/', (c) => {
    const session = c.get('session');
    session.set('visits', (session.get('visits') ?? 0) + 1);
    return c.json({ visits: session.get('visits') });
  });
  app.get('/peek', (c) => c.json({ visits: c.get('session').get('visits') ?? 0 }));
  return app;
}

describe('latchkey/hono sessionMiddleware', () => {
  test('counts visits through the cookie, with no-store and Vary: Cookie on a response that sets it', async () => {
    const user = client(counterApp());
    for (const expected of [1, 2, 3]) {
      const response = await user.call('/');
      assert.deepEqual(await response.json(), { visits: expected });
      assert.equal(response.headers.getSetCookie().length, 1);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(response.headers.get('vary'), 'Cookie');
    }
    const peek = await user.call('/peek');
    assert.deepEqual(peek.headers.getSetCookie(), [], 'an unchanged session is not rewritten');
    assert.equal(peek.headers.get('cache-control'), null);
  });

  test('makes the session manager from SessionsOptions, and the types follow the generic', async () => {
    const app = new Hono<SessionEnv<Data>>();
    app.use(sessionMiddleware<Data>({ keys, cookie: { name: '__Host-count' } }));
    app.get('/', (c) => {
      const session = c.get('session');
      const visits: number | undefined = session.get('visits');
      // @ts-expect-error a string is not this app's `visits`
      if (visits === -1) session.set('visits', 'many');
      // @ts-expect-error not a key of Data
      session.get('nope');
      session.set('visits', (visits ?? 0) + 1);
      return c.text(String(session.get('visits')));
    });
    const user = client(app);
    await user.call('/');
    assert.equal(await (await user.call('/')).text(), '2');
    assert.ok(user.jar.get('__Host-count'));
  });

  test('types flow through a chained app without a declared Env too', async () => {
    const app = new Hono().use(sessionMiddleware<{ name: string }>({ keys })).get('/', (c) => {
      const name: string | undefined = c.get('session').get('name');
      // @ts-expect-error the name is a string
      c.get('session').set('name', 1);
      return c.text(name ?? 'anonymous');
    });
    assert.equal(await (await app.request('https://app.test/')).text(), 'anonymous');
  });

  test('mounted twice, the session is loaded and committed once; .sessions is the manager', async () => {
    const sessions = createSessions<Data>({ keys });
    const middleware = sessionMiddleware({ sessions });
    assert.equal(middleware.sessions, sessions);
    const app = new Hono<SessionEnv<Data>>();
    app.use(middleware);
    app.get('/', sessionMiddleware<Data>({ keys }), (c) => {
      c.get('session').set('visits', 1);
      return c.text('ok');
    });
    const lines = (await app.request('https://app.test/')).headers.getSetCookie();
    assert.equal(lines.length, 1);
    assert.equal((await sessions.load(lines[0]!.split(';')[0]!)).get('visits'), 1, 'by the first one');
  });

  test('refuses bad options with ERR_LATCHKEY_CONFIG', () => {
    const sessions = createSessions<Data>({ keys });
    const bad: unknown[] = [
      null,
      'keys',
      { sessions: {} },
      { sessions, onError: 'log' },
      { sessions, keys },
      { keys, onError: 42 },
      { keys, cookies: {} },
    ];
    for (const options of bad) {
      assert.throws(
        () => sessionMiddleware(options as never),
        { code: 'ERR_LATCHKEY_CONFIG' },
        String(options),
      );
    }
    assert.throws(() => sessionMiddleware({ keys: 'k1:short' }), { code: 'ERR_LATCHKEY_KEY' });
  });

  test('checklist #60: several Set-Cookie lines, ours and the app own, stay separate headers', async () => {
    const app = new Hono<SessionEnv<Data>>();
    app.use(sessionMiddleware({ sessions: createSessions<Data>({ keys }) }));
    app.get('/big', (c) => {
      c.get('session').set('big', 'z'.repeat(7000));
      c.header('set-cookie', 'theme=dark; Path=/', { append: true });
      return c.text('ok');
    });
    const response = await app.request('https://app.test/big');
    const lines = response.headers.getSetCookie();
    assert.equal(lines.length, 4, JSON.stringify(lines.map((line) => line.slice(0, 20))));
    assert.equal(lines[0], 'theme=dark; Path=/');
    assert.ok(lines.slice(1).every((line) => /^__Host-lk(\.\d)?=/.test(line) && !line.includes(', ')));
  });

  test('a handler that throws commits nothing; app.onError still answers', async () => {
    const app = counterApp();
    app.get('/boom', (c) => {
      c.get('session').set('visits', 1);
      throw new Error('half-done');
    });
    app.onError((_error, c) => c.text('failed', 500));
    const response = await app.request('https://app.test/boom');
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'failed');
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test('an immutable redirect response still gets the cookie deletion', async () => {
    const app = counterApp();
    app.post('/logout', async (c) => {
      await c.get('session').destroy();
      return Response.redirect('https://app.test/', 303);
    });
    const user = client(app);
    await user.call('/');
    const response = await user.call('/logout', { method: 'POST' });
    assert.equal(response.status, 303);
    assert.match(response.headers.getSetCookie()[0] ?? '', /^__Host-lk=; .*Max-Age=0/);
    assert.equal(user.jar.header(), undefined);
  });

  test("a commit failure is a bare 500 without the handler's headers; onError replaces it", async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const huge = (app: Hono<SessionEnv<Data>>) =>
      app.get('/huge', (c) => {
        c.get('session').set('big', 'z'.repeat(50_000));
        c.header('set-cookie', 'app=1; Path=/', { append: true });
        c.header('x-app', 'yes');
        return c.text('done');
      });
    const plain = new Hono<SessionEnv<Data>>();
    plain.use(sessionMiddleware<Data>({ keys }));
    const response = await huge(plain).request('https://app.test/huge');
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.equal(response.headers.get('x-app'), null);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.match(String(logged.mock.calls[0]?.arguments[0]), /ERR_LATCHKEY_TOO_LARGE/);

    const custom = new Hono<SessionEnv<Data>>();
    custom.use(
      sessionMiddleware<Data>({
        keys,
        onError: (error, c) => c.json({ code: (error as LatchkeyError).code }, 500),
      }),
    );
    const handled = await huge(custom).request('https://app.test/huge');
    assert.deepEqual(await handled.json(), { code: 'ERR_LATCHKEY_TOO_LARGE' });
    assert.deepEqual(handled.headers.getSetCookie(), []);
  });

  test('a store outage answers 503 (a closed SQLite database), never an anonymous session', async (t) => {
    t.mock.method(console, 'error', () => {});
    const db = await openMemorySqlite();
    const user = client(counterApp(createSessions<Data>({ keys, store: sqliteStore({ db }) })));
    assert.deepEqual(await (await user.call('/')).json(), { visits: 1 });
    db.close();
    const response = await user.call('/peek');
    assert.equal(response.status, 503);
    assert.equal(await response.text(), 'Service Unavailable');
  });

  test('a session changed after the commit (by an outer middleware) throws: it could not be sent', async () => {
    const app = new Hono<SessionEnv<Data>>();
    let late: unknown;
    app.use(async (c, next) => {
      await next();
      try {
        c.get('session').set('visits', 7);
      } catch (error) {
        late = error;
      }
    });
    app.use(sessionMiddleware<Data>({ keys }));
    app.get('/', (c) => c.text('ok'));
    await app.request('https://app.test/');
    assert.ok(late instanceof LatchkeyError);
    assert.equal(late.code, 'ERR_LATCHKEY_STATE');
  });

  test('c.get("sessions") lists and revokes a user\'s devices in store mode', async () => {
    // Sign-ins a second apart: "oldest first" must not depend on two logins in the same millisecond.
    const clock = createFakeClock();
    const sessions = createSessions<Data>({ keys, clock, store: memoryStore({ clock }) });
    const app = new Hono<SessionEnv<Data>>();
    app.use(sessionMiddleware({ sessions }));
    app.post('/login', async (c) => {
      await c.get('session').login('ada');
      return c.text('in');
    });
    app.get('/devices', async (c) => {
      const session: Session<Data> = c.get('session');
      const devices = await c.get('sessions').listUserSessions('ada', { current: session });
      return c.json(devices.map((device) => device.current));
    });
    const laptop = client(app);
    const phone = client(app);
    await laptop.call('/login', { method: 'POST' });
    clock.advance('1s');
    await phone.call('/login', { method: 'POST' });
    assert.deepEqual(await (await laptop.call('/devices')).json(), [true, false]);
  });
});

describe('latchkey/hono csrf', () => {
  function formApp() {
    const app = new Hono<SessionEnv<Data> & CsrfEnv>();
    app.use(sessionMiddleware<Data>({ keys }), csrf());
    app.get('/form', (c) => {
      const token: string = c.get('csrfToken')();
      // @ts-expect-error csrfToken is a function that makes a token
      const wrong: string = c.get('csrfToken');
      return c.text(wrong === token ? '' : token);
    });
    app.post('/count', async (c) => {
      const body = await c.req.parseBody();
      const session = c.get('session');
      session.set('visits', (session.get('visits') ?? 0) + 1);
      return c.json({ visits: session.get('visits'), note: body.note ?? null });
    });
    return app;
  }

  async function tokenFor(user: ReturnType<typeof client>): Promise<string> {
    const token = await (await user.call('/form')).text();
    assert.match(token, /^[A-Za-z0-9_-]{86}$/);
    return token;
  }

  const form = (fields: Record<string, string>) => ({ method: 'POST', body: new URLSearchParams(fields) });

  test('a form post with the token goes through, and the handler can still read the body', async () => {
    const user = client(formApp());
    const token = await tokenFor(user);
    const response = await user.call('/count', form({ _csrf: token, note: 'hi' }));
    assert.deepEqual(await response.json(), { visits: 1, note: 'hi' });
    const again = await user.call('/count', {
      method: 'POST',
      headers: { 'x-csrf-token': await tokenFor(user), 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(again.status, 200, 'the header works for fetch() callers');
  });

  test('a post without a token, from another origin, or with another session’s token is a coded 403', async () => {
    const app = formApp();
    const user = client(app);
    const token = await tokenFor(user);
    const other = await tokenFor(client(app));
    const refusals: Array<[RequestInit, string]> = [
      [form({ note: 'no token' }), 'token-missing'],
      [{ ...form({ _csrf: token }), headers: { origin: 'https://evil.test' } }, 'cross-origin'],
      [{ ...form({ _csrf: token }), headers: { 'sec-fetch-site': 'cross-site' } }, 'cross-origin'],
      [form({ _csrf: other }), 'token-invalid'],
      [{ method: 'POST', headers: { 'x-csrf-token': 'x'.repeat(86) } }, 'token-invalid'],
    ];
    for (const [init, reason] of refusals) {
      const response = await user.call('/count', init);
      assert.equal(response.status, 403, reason);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(await response.text(), `Forbidden: ERR_LATCHKEY_CSRF (${reason})\n`);
    }
    const sameOrigin = await user.call('/count', {
      ...form({ _csrf: token }),
      headers: { origin: 'https://app.test' },
    });
    assert.equal(sameOrigin.status, 200, 'our own origin is fine');
    assert.deepEqual(await sameOrigin.json(), { visits: 1, note: null });
  });

  test('csrf() refuses bad options, and without sessionMiddleware every request fails loudly', async (t) => {
    assert.throws(() => csrf({ fieldName: 'bad name' }), { code: 'ERR_LATCHKEY_CONFIG' });
    assert.throws(() => csrf('x' as never), { code: 'ERR_LATCHKEY_CONFIG' });
    const logged = t.mock.method(console, 'error', () => {});
    const app = new Hono().use(csrf(createCsrf())).get('/', (c) => c.text('open'));
    assert.equal((await app.request('https://app.test/')).status, 500);
    assert.match(String(logged.mock.calls[0]?.arguments[0]), /needs sessionMiddleware/);
  });
});
