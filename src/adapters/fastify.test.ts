import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { openMemorySqlite } from '../../test/support/sqlite.ts';
import type { Session } from '../core/session.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createCsrf } from '../csrf/index.ts';
import { LatchkeyError } from '../errors.ts';
import { sqliteStore } from '../stores/sqlite.ts';
import latchkey, { csrfProtection, type LatchkeyFastifyOptions, latchkeySession } from './fastify.ts';

type Data = { visits: number; blob: string };
const keys = generateKeyLine('k1');
const dev = { keys, development: true } as const;
// Apps may augment SessionData; these tests use their own data type.
const sessionOf = (request: { session: unknown }) => request.session as Session<Data>;

function lines(response: LightMyRequestResponse): string[] {
  const value = response.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function cookieOf(response: LightMyRequestResponse): string {
  const line = lines(response).find((l) => l.startsWith('lk='));
  assert.ok(line, `a session cookie in ${JSON.stringify(lines(response))}`);
  return line.slice(0, line.indexOf(';'));
}

async function counterApp(options: LatchkeyFastifyOptions = dev, logs?: string[]): Promise<FastifyInstance> {
  const app = Fastify(
    logs ? { logger: { level: 'error', stream: { write: (l: string) => logs.push(l) } } } : {},
  );
  await app.register(latchkey, options);
  app.get('/', async (request) => {
    const session = sessionOf(request);
    session.set('visits', (session.get('visits') ?? 0) + 1);
    return { visits: session.get('visits') };
  });
  app.get('/peek', async (request) => ({ visits: sessionOf(request).get('visits') ?? 0 }));
  app.get('/huge', async (request, reply) => {
    sessionOf(request).set('blob', 'q'.repeat(60_000));
    reply.header('x-app', 'yes').header('location', '/elsewhere').header('set-cookie', 'theme=dark');
    return 'never sent';
  });
  app.get('/set-then-throw', async (request) => {
    sessionOf(request).set('visits', 1000);
    throw new Error('half-done');
  });
  return app;
}

describe('latchkey/fastify', () => {
  test('registered with session options: a counter over two requests, app.sessions decorated', async () => {
    const app = await counterApp();
    const first = await app.inject('/');
    assert.deepEqual(first.json(), { visits: 1 });
    assert.match(lines(first)[0] ?? '', /^lk=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.equal(first.headers['cache-control'], 'no-store');
    assert.equal(first.headers.vary, 'Cookie');
    const second = await app.inject({ url: '/', headers: { cookie: cookieOf(first) } });
    assert.deepEqual(second.json(), { visits: 2 });
    const peek = await app.inject({ url: '/peek', headers: { cookie: cookieOf(second) } });
    assert.deepEqual(peek.json(), { visits: 2 });
    assert.deepEqual(lines(peek), [], 'an unchanged session is not rewritten');
    assert.equal(app.sessions.mode, 'cookie');
    assert.equal(latchkeySession, latchkey);
  });

  test('registered with a session manager: app.sessions is that manager, routes in child plugins see sessions', async () => {
    const sessions = createSessions<Data>(dev);
    const app = Fastify();
    await app.register(latchkey, { sessions });
    await app.register(async (child) => {
      child.get('/child', async (request) => {
        sessionOf(request).set('visits', 9);
        return 'ok';
      });
    });
    assert.equal(app.sessions, sessions);
    const reply = await app.inject('/child');
    assert.equal(reply.statusCode, 200);
    const session = await sessions.load(cookieOf(reply));
    assert.equal(session.get('visits'), 9);
  });

  test('bad options are a coded ERR_LATCHKEY_CONFIG at register time', async () => {
    const sessions = createSessions(dev);
    const bad: unknown[] = [
      { sessions, keys },
      { sessions: {} },
      { ...dev, onError: 'log' },
      { ...dev, kees: keys },
      { ...dev, csrf: { fieldName: 'a b' } },
    ];
    for (const options of bad) {
      const app = Fastify();
      await assert.rejects(
        async () => {
          await app.register(latchkey, options as LatchkeyFastifyOptions);
          await app.ready();
        },
        (error: unknown) => error instanceof LatchkeyError && error.code === 'ERR_LATCHKEY_CONFIG',
        JSON.stringify(options, (key, value) => (key === 'sessions' ? typeof value : value)),
      );
    }
    assert.throws(() => csrfProtection({} as never), { code: 'ERR_LATCHKEY_CONFIG' });
  });

  test("the app's Set-Cookie lines stay separate; Cache-Control and Vary are adjusted", async () => {
    const app = Fastify();
    await app.register(latchkey, dev);
    app.get('/', async (request, reply) => {
      sessionOf(request).set('visits', 1);
      reply.header('set-cookie', 'a=1').header('set-cookie', 'b=2');
      reply.header('cache-control', 'public, max-age=60').header('vary', 'Accept');
      return 'ok';
    });
    app.get('/raw', async (request, reply) => {
      sessionOf(request).set('visits', 1);
      reply.raw.setHeader('set-cookie', ['c=3']);
      reply.header('cache-control', 'no-store, private');
      return 'ok';
    });
    const reply = await app.inject('/');
    assert.deepEqual(
      lines(reply).map((l) => l.split('=')[0]),
      ['a', 'b', 'lk'],
    );
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.equal(reply.headers.vary, 'Accept, Cookie');
    const raw = await app.inject('/raw');
    assert.deepEqual(
      lines(raw).map((l) => l.split('=')[0]),
      ['c', 'lk'],
    );
    assert.equal(raw.headers['cache-control'], 'no-store, private');
  });

  test('a session too large: a bare 500, logged, without the cookie or any of the handler headers', async () => {
    const logs: string[] = [];
    const app = await counterApp(dev, logs);
    const reply = await app.inject('/huge');
    assert.equal(reply.statusCode, 500);
    assert.equal(reply.body, 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    assert.deepEqual(lines(reply), []);
    assert.equal(reply.headers['x-app'], undefined);
    assert.equal(reply.headers.location, undefined);
    assert.match(logs.join(''), /ERR_LATCHKEY_TOO_LARGE/);
  });

  test('onError answers a failure: its status, headers and body (an object becomes JSON)', async () => {
    const app = await counterApp({
      ...dev,
      onError: (error, _request, reply) => {
        reply.code(507).header('x-handled', 'yes');
        return { code: (error as LatchkeyError).code };
      },
    });
    const reply = await app.inject('/huge');
    assert.equal(reply.statusCode, 507);
    assert.deepEqual(reply.json(), { code: 'ERR_LATCHKEY_TOO_LARGE' });
    assert.equal(reply.headers['x-handled'], 'yes');
    assert.equal(reply.headers['x-app'], undefined);
    assert.deepEqual(lines(reply), []);
  });

  test('an onError that throws falls back to the bare 500', async () => {
    const logs: string[] = [];
    const app = await counterApp(
      {
        ...dev,
        onError: (_error, _request, reply) => {
          reply.header('x-half', 'made');
          throw new TypeError('onError bug');
        },
      },
      logs,
    );
    const reply = await app.inject('/huge');
    assert.equal(reply.statusCode, 500);
    assert.equal(reply.body, 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
    assert.equal(reply.headers['x-half'], undefined);
    assert.match(logs.join(''), /onError bug/);
  });

  test('a handler that threw commits nothing: the 500 carries no cookie and the old session stands', async () => {
    const app = await counterApp();
    const cookie = cookieOf(await app.inject('/'));
    const failed = await app.inject({ url: '/set-then-throw', headers: { cookie } });
    assert.equal(failed.statusCode, 500);
    assert.deepEqual(lines(failed), []);
    assert.deepEqual((await app.inject({ url: '/peek', headers: { cookie } })).json(), { visits: 1 });
  });

  test('a store outage answers 503: while loading (closed database) and at commit', async () => {
    const db = await openMemorySqlite();
    const app = await counterApp({ keys, development: true, store: sqliteStore({ db }) });
    const first = await app.inject('/');
    assert.deepEqual(first.json(), { visits: 1 });
    db.close();
    const loading = await app.inject({ url: '/peek', headers: { cookie: cookieOf(first) } });
    assert.equal(loading.statusCode, 503);
    assert.equal(loading.body, 'Service Unavailable');
    const committing = await app.inject('/');
    assert.equal(committing.statusCode, 503, 'an anonymous request loads without the store');
    assert.deepEqual(lines(committing), []);
  });

  test('a stream reply is committed before its headers go out', async () => {
    const app = Fastify();
    await app.register(latchkey, dev);
    app.get('/stream', (request, reply) => {
      sessionOf(request).set('visits', 5);
      reply.type('text/plain').send(Readable.from(['part one, ', 'part two']));
    });
    const reply = await app.inject('/stream');
    assert.equal(reply.body, 'part one, part two');
    const session = await app.sessions.load(cookieOf(reply));
    assert.equal(session.get('visits' as never), 5);
  });

  test('a change after the commit (in onResponse) throws ERR_LATCHKEY_STATE', async () => {
    const app = await counterApp();
    let late: unknown;
    app.addHook('onResponse', async (request) => {
      try {
        sessionOf(request).set('visits', 99);
      } catch (error) {
        late = error;
      }
    });
    await app.inject('/peek');
    assert.ok(late instanceof LatchkeyError);
    assert.equal(late.code, 'ERR_LATCHKEY_STATE');
  });

  test("a Secure cookie goes out over HTTPS as Fastify's trustProxy sees it, never over plain HTTP", async () => {
    const strict = { keys };
    const direct = await counterApp(strict);
    // A non-loopback Host: inject's default, localhost from 127.0.0.1, is local development there.
    const plain = await direct.inject({ url: '/', headers: { host: 'app.example' } });
    assert.deepEqual(lines(plain), [], 'no Secure cookie over plain HTTP');
    assert.equal(lines(await direct.inject('/')).length, 1, 'http://localhost from loopback gets it');
    const proxied = Fastify({ trustProxy: true });
    await proxied.register(latchkey, strict);
    proxied.get('/', async (request) => {
      sessionOf(request).set('visits', 1);
      return 'ok';
    });
    const reply = await proxied.inject({ url: '/', headers: { 'x-forwarded-proto': 'https' } });
    assert.match(lines(reply)[0] ?? '', /^__Host-lk=[^;]+; Path=\/; Secure; HttpOnly; SameSite=Lax$/);
  });
});

describe('latchkey/fastify CSRF', () => {
  async function csrfApp(): Promise<FastifyInstance> {
    const app = Fastify();
    await app.register(formbody);
    await app.register(latchkey, { ...dev, csrf: true });
    app.get('/form', async (request) => request.csrfToken());
    app.post('/transfer', async () => 'moved');
    app.post('/hook', { config: { csrf: false } }, async () => 'hooked');
    return app;
  }

  async function tokenAndCookie(app: FastifyInstance): Promise<{ token: string; cookie: string }> {
    const form = await app.inject('/form');
    return { token: form.body, cookie: cookieOf(form) };
  }

  const formPost = (cookie: string, body: string, headers: Record<string, string> = {}) => ({
    method: 'POST' as const,
    url: '/transfer',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: body,
  });

  test('a POST without a token is refused with 403 and the coded reason', async () => {
    const app = await csrfApp();
    const { cookie } = await tokenAndCookie(app);
    const reply = await app.inject(formPost(cookie, 'amount=1'));
    assert.equal(reply.statusCode, 403);
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(reply.body, 'Forbidden: ERR_LATCHKEY_CSRF (token-missing)\n');
  });

  test('a valid token passes, in the form field or the header; each render gives a new token', async () => {
    const app = await csrfApp();
    const { token, cookie } = await tokenAndCookie(app);
    const again = await app.inject({ url: '/form', headers: { cookie } });
    assert.notEqual(again.body, token);
    const form = await app.inject(formPost(cookie, `amount=1&_csrf=${token}`));
    assert.equal(form.statusCode, 200, form.body);
    assert.equal(form.body, 'moved');
    const header = await app.inject({
      method: 'POST',
      url: '/transfer',
      headers: { cookie, 'x-csrf-token': again.body },
      payload: { amount: 1 },
    });
    assert.equal(header.statusCode, 200, header.body);
  });

  test('a cross-origin Origin is refused even with a valid token', async () => {
    const app = await csrfApp();
    const { token, cookie } = await tokenAndCookie(app);
    const reply = await app.inject(formPost(cookie, `_csrf=${token}`, { origin: 'https://evil.example' }));
    assert.equal(reply.statusCode, 403);
    assert.match(reply.body, /ERR_LATCHKEY_CSRF \(cross-origin\)/);
    const same = await app.inject(formPost(cookie, `_csrf=${token}`, { origin: 'http://localhost' }));
    assert.equal(same.statusCode, 200, same.body);
  });

  test("another session's token is refused; safe methods and exempt routes are not checked", async () => {
    const app = await csrfApp();
    const mine = await tokenAndCookie(app);
    const theirs = await tokenAndCookie(app);
    const reply = await app.inject(formPost(mine.cookie, `_csrf=${theirs.token}`));
    assert.equal(reply.statusCode, 403);
    assert.match(reply.body, /\(token-invalid\)/);
    assert.equal((await app.inject({ method: 'POST', url: '/hook' })).body, 'hooked');
    assert.equal((await app.inject('/form')).statusCode, 200);
  });

  test('csrfProtection(csrf) guards one route of an app registered without the csrf option', async () => {
    const csrf = createCsrf();
    const app = Fastify();
    await app.register(latchkey, dev);
    app.get('/form', async (request) => csrf.token(request.session));
    app.get('/token', async (request) => request.csrfToken());
    app.post('/guarded', { preHandler: csrfProtection(csrf) }, async () => 'ok');
    app.post('/open', async () => 'open');
    const { token, cookie } = await tokenAndCookie(app);
    const post = (url: string, headers: Record<string, string>) =>
      app.inject({ method: 'POST', url, headers });
    assert.equal((await post('/guarded', { cookie })).statusCode, 403);
    assert.equal((await post('/guarded', { cookie, 'x-csrf-token': token })).statusCode, 200);
    assert.equal((await post('/open', {})).statusCode, 200);
    assert.equal((await app.inject('/token')).statusCode, 500, 'csrfToken() needs the csrf option');
  });
});
