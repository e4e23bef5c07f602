import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import { CookieJar } from '../../test/support/cookies.ts';
import type { Session } from '../core/session.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { getSession, sessionMiddleware, withSession } from './fetch.ts';

const keys = generateKeyLine('k1');
type Data = { visits: number; big: string };

function counter() {
  const sessions = createSessions<Data>({ keys });
  return withSession(sessions, async (request, session) => {
    const path = new URL(request.url).pathname;
    if (path === '/logout') {
      await session.destroy();
      return Response.redirect('https://app.test/', 303);
    }
    if (path === '/big') session.set('big', 'z'.repeat(7000));
    if (path === '/huge') session.set('big', 'z'.repeat(50_000));
    if (path === '/peek') return Response.json({ visits: session.get('visits') ?? 0 });
    session.set('visits', (session.get('visits') ?? 0) + 1);
    return Response.json({ visits: session.get('visits') });
  });
}

async function send(handler: (r: Request) => Promise<Response>, jar: CookieJar, path: string) {
  const headers = new Headers();
  const cookie = jar.header();
  if (cookie) headers.set('cookie', cookie);
  const response = await handler(new Request(`https://app.test${path}`, { headers }));
  jar.apply(response.headers.getSetCookie());
  return response;
}

describe('latchkey/fetch withSession', () => {
  test('counts visits across requests through the cookie', async () => {
    const handler = counter();
    const jar = new CookieJar();
    for (const expected of [1, 2, 3]) {
      const response = await send(handler, jar, '/');
      assert.deepEqual(await response.json(), { visits: expected });
    }
  });

  test('checklist #57: a response that sets the cookie says Cache-Control: no-store and Vary: Cookie', async () => {
    const response = await counter()(new Request('https://app.test/'));
    assert.equal(response.headers.getSetCookie().length, 1);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(response.headers.get('vary'), 'Cookie');
    const untouched = await counter()(new Request('https://app.test/peek'));
    assert.deepEqual(untouched.headers.getSetCookie(), []);
    assert.equal(untouched.headers.get('cache-control'), null, 'no cookie, no cache override');
  });

  test('checklist #60: several Set-Cookie lines stay separate header lines', async () => {
    const handler = counter();
    const jar = new CookieJar();
    const response = await send(handler, jar, '/big');
    const lines = response.headers.getSetCookie();
    assert.equal(lines.length, 3);
    assert.ok(lines.every((line) => !line.includes(', __Host-lk')));
    assert.deepEqual(await (await send(handler, jar, '/peek')).json(), { visits: 1 });
  });

  test('an immutable redirect response still gets the cookie deletion', async () => {
    const handler = counter();
    const jar = new CookieJar();
    await send(handler, jar, '/');
    const response = await send(handler, jar, '/logout');
    assert.equal(response.status, 303);
    assert.match(response.headers.getSetCookie()[0] ?? '', /^__Host-lk=; .*Max-Age=0/);
    assert.equal(jar.header(), undefined);
  });

  test('checklist #48: a session too large for its cookies gives a plain 500, no stack trace', async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const response = await counter()(new Request('https://app.test/huge'));
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
    assert.deepEqual(response.headers.getSetCookie(), []);
    assert.match(String(logged.mock.calls[0]?.arguments[0]), /ERR_LATCHKEY_TOO_LARGE/);
  });

  test('checklist #7: a session id in the URL, a body field or a custom header is ignored', async () => {
    const handler = counter();
    const jar = new CookieJar();
    await send(handler, jar, '/');
    const value = jar.get('__Host-lk')!;
    const response = await handler(
      new Request(`https://app.test/peek?sid=${value}&__Host-lk=${value}`, {
        method: 'POST',
        headers: { 'x-session-id': value, authorization: `Bearer ${value}` },
        body: new URLSearchParams({ '__Host-lk': value, sid: value }),
      }),
    );
    assert.deepEqual(await response.json(), { visits: 0 });
  });
});

test('checklist #22: two Cookie headers on a Request read like one joined header', async () => {
  const handler = counter();
  const jar = new CookieJar();
  await send(handler, jar, '/');
  const pair = `__Host-lk=${jar.get('__Host-lk')}`;
  for (const headers of [
    new Headers([
      ['cookie', 'theme=dark'],
      ['cookie', pair],
    ]),
    new Headers([['cookie', `theme=dark; ${pair}`]]),
  ]) {
    const response = await handler(new Request('https://app.test/peek', { headers }));
    assert.deepEqual(await response.json(), { visits: 1 });
  }
});

describe('latchkey/fetch as Hono middleware', () => {
  test('a handler that throws commits nothing', async () => {
    const sessions = createSessions<Data>({ keys });
    const app = new Hono<{ Variables: { session: Session<Data> } }>();
    app.use(sessionMiddleware(sessions));
    app.get('/boom', (c) => {
      c.get('session').set('visits', 1);
      throw new Error('half-done');
    });
    app.onError((_error, c) => c.text('failed', 500));
    const response = await app.request('https://app.test/boom');
    assert.equal(response.status, 500);
    assert.deepEqual(response.headers.getSetCookie(), []);
  });

  test('checklist #22: two Cookie headers read like one in Hono too', async () => {
    const sessions = createSessions<Data>({ keys });
    const app = new Hono<{ Variables: { session: Session<Data> } }>();
    app.use(sessionMiddleware(sessions));
    app.get('/', (c) => {
      c.get('session').set('visits', (c.get('session').get('visits') ?? 0) + 1);
      return c.json({ visits: c.get('session').get('visits') });
    });
    const first = await app.request('https://app.test/');
    const pair = first.headers.getSetCookie()[0]!.split(';')[0]!;
    const second = await app.request('https://app.test/', {
      headers: new Headers([
        ['cookie', 'theme=dark'],
        ['cookie', pair],
      ]),
    });
    assert.deepEqual(await second.json(), { visits: 2 });
  });

  test('c.get("session") in handlers; cookie and cache headers on the response', async () => {
    const sessions = createSessions<Data>({ keys });
    const app = new Hono<{ Variables: { session: Session<Data> } }>();
    app.use(sessionMiddleware(sessions));
    app.get('/', (c) => {
      const session = c.get('session');
      session.set('visits', (session.get('visits') ?? 0) + 1);
      return c.json({ visits: session.get('visits') });
    });
    app.get('/away', (c) => {
      c.get('session').set('visits', 99);
      return c.redirect('/');
    });
    const jar = new CookieJar();
    const call = async (path: string) => {
      const cookie = jar.header();
      const response = await app.request(`https://app.test${path}`, { headers: cookie ? { cookie } : {} });
      jar.apply(response.headers.getSetCookie());
      return response;
    };
    assert.deepEqual(await (await call('/')).json(), { visits: 1 });
    const second = await call('/');
    assert.deepEqual(await second.json(), { visits: 2 });
    assert.equal(second.headers.get('cache-control'), 'no-store');
    assert.equal(second.headers.get('vary'), 'Cookie');
    const redirect = await call('/away');
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.getSetCookie().length, 1);
    assert.deepEqual(await (await call('/')).json(), { visits: 100 });
  });
});

describe('latchkey/fetch getSession (iron-session style)', () => {
  const request = (jar: CookieJar) => {
    const cookie = jar.header();
    return new Request('https://app.test/', cookie === undefined ? {} : { headers: { cookie } });
  };

  for (const mode of ['cookie', 'store'] as const) {
    test(`${mode} mode: data as properties, written by save(), read back; destroy() signs out`, async () => {
      const sessions = createSessions({ keys, ...(mode === 'store' ? { store: memoryStore() } : {}) });
      const jar = new CookieJar();
      const headers = new Headers();
      const session = await getSession(sessions, request(jar), headers);
      session.user = 'ada';
      assert.deepEqual(headers.getSetCookie(), [], 'nothing is sent before save()');
      await session.save();
      assert.equal(headers.getSetCookie().length, 1);
      assert.equal(headers.get('cache-control'), 'no-store');
      jar.apply(headers.getSetCookie());
      const signedIn = jar.header();

      const next = await getSession(sessions, request(jar), new Headers());
      assert.equal(next.user, 'ada');
      assert.deepEqual(next.toJSON(), { user: 'ada' });

      const response = new Response(null);
      const out = await getSession(sessions, request(jar), response);
      await out.destroy();
      const lines = response.headers.getSetCookie();
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /Max-Age=0/);
      jar.apply(lines);
      assert.equal((await getSession(sessions, request(jar), new Headers())).user, undefined);
      if (mode === 'store') {
        // The record went with destroy(): the old cookie does not sign in any more.
        const replayed = new Request('https://app.test/', { headers: { cookie: signedIn! } });
        assert.equal((await getSession(sessions, replayed, new Headers())).user, undefined);
      }
    });
  }

  test('writes not saved are not sent (as iron-session); a second save replaces the first line', async () => {
    const sessions = createSessions({ keys });
    const headers = new Headers();
    headers.append('set-cookie', 'app=1; Path=/');
    const session = await getSession(sessions, request(new CookieJar()), headers);
    session.step = 1;
    await session.save();
    session.step = 2;
    await session.save();
    const lines = headers.getSetCookie();
    assert.equal(lines.length, 2, `the app's cookie and one session line: ${lines}`);
    assert.equal(lines[0], 'app=1; Path=/');
    const jar = new CookieJar().apply(lines);
    assert.equal((await getSession(sessions, request(jar), new Headers())).step, 2);

    const unsaved = await getSession(sessions, request(jar), new Headers());
    unsaved.step = 3;
    assert.equal((await getSession(sessions, request(jar), new Headers())).step, 2);
  });

  test('a value the session cannot keep throws ERR_LATCHKEY_VALUE, updateConfig ERR_LATCHKEY_UNSUPPORTED; bad arguments a TypeError', async () => {
    const sessions = createSessions({ keys });
    const session = await getSession(sessions, request(new CookieJar()), new Headers());
    assert.throws(
      () => {
        session.when = new Date();
      },
      { code: 'ERR_LATCHKEY_VALUE' },
    );
    assert.throws(
      () => {
        (session as unknown as { save: number }).save = 1;
      },
      { code: 'ERR_LATCHKEY_VALUE' },
    );
    await assert.rejects(getSession(sessions, request(new CookieJar()), {} as Headers), TypeError);
  });
});
