/**
 * express-session behaviours that latchkey/express keeps, each found by running expressjs/session's own
 * suite against it (scripts/upstream/express-session.mjs) and written here as this project's own test.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, describe, test } from 'node:test';
import { inherits } from 'node:util';
import express, { type Express } from 'express';
import { listen } from '../../test/scenarios/apps/serve.ts';
import type { ScenarioApp } from '../../test/scenarios/suite.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { Cookie, type ExpressSessionOptions, MemoryStore, Store, session } from './express.ts';

const keys = generateKeyLine('k1');
// cookie-parser ships no types (and @types/cookie-parser is not a devDependency).
const { default: cookieParser } = (await import('cookie-parser' as string)) as {
  default: () => express.RequestHandler;
};
const apps: ScenarioApp[] = [];
after(() => Promise.all(apps.map((app) => app.close())));

interface Reply {
  status: number;
  body: string;
  setCookie: string[];
}

/** One request with exactly these headers (no cookie jar: each test says what it sends). */
async function call(app: Express, path = '/', headers: Record<string, string> = {}): Promise<Reply> {
  const running = await listen(app);
  apps.push(running);
  const url = new URL(path, running.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] ?? [] }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function pair(reply: Reply): string {
  const line = reply.setCookie[0];
  assert.ok(line, 'a Set-Cookie line');
  return line.split(';', 1)[0] ?? '';
}

function appWith(
  options: ExpressSessionOptions,
  route: express.RequestHandler = (_req, res) => {
    res.end();
  },
  before?: express.RequestHandler[],
): Express {
  const app = express();
  for (const handler of before ?? []) app.use(handler);
  app.use(session({ keys, name: 'sid', ...options }));
  app.use(route);
  return app;
}

describe('latchkey/express keeps these express-session behaviours', () => {
  test('saveUninitialized: true gives a new, empty session its cookie; an unchanged one gets none after', async () => {
    const app = appWith({ saveUninitialized: true, development: true });
    const first = await call(app);
    assert.equal(first.setCookie.length, 1);
    const again = await call(app, '/', { cookie: pair(first) });
    assert.deepEqual(again.setCookie, []);
    // The default stays Latchkey's: no cookie for a session with nothing in it (checklist #35).
    assert.deepEqual((await call(appWith({ development: true }))).setCookie, []);
  });

  test('saveUninitialized: true in store mode writes the empty session to the store', async () => {
    const store = new MemoryStore();
    const first = await call(appWith({ saveUninitialized: true, development: true, store }));
    assert.equal(first.setCookie.length, 1);
    assert.equal(store.sessions.size, 1);
  });

  test('req.session.cookie is an enumerable property, and never saved as data', async () => {
    const app = appWith({ development: true }, (req, res) => {
      if (req.url === '/data') {
        res.end(JSON.stringify(req.session.latchkey.data));
        return;
      }
      req.session.a = 1;
      const keysNow = Object.keys(req.session).sort().join(',');
      const inLoop: string[] = [];
      for (const key in req.session) inLoop.push(key);
      res.end(`${keysNow}|${inLoop.sort().join(',')}`);
    });
    const first = await call(app);
    assert.equal(first.body, 'a,cookie|a,cookie');
    assert.equal((await call(app, '/data', { cookie: pair(first) })).body, '{"a":1}');
  });

  test('cookie.path scopes the session: a request outside it gets no req.session and no cookie', async () => {
    const app = appWith({ development: true, cookie: { path: '/admin' } }, (req, res) => {
      if (req.session) req.session.seen = true;
      res.end(typeof req.session);
    });
    const outside = await call(app, '/public');
    assert.equal(outside.body, 'undefined');
    assert.deepEqual(outside.setCookie, []);
    const inside = await call(app, '/admin/users?x=1');
    assert.equal(inside.body, 'object');
    assert.match(inside.setCookie[0] ?? '', /Path=\/admin/);
  });

  test('after cookie-parser, a session cookie it parsed is read even when the Cookie header was rewritten', async () => {
    const rewrite: express.RequestHandler = (req, _res, next) => {
      req.headers.cookie = 'other=1';
      next();
    };
    const app = appWith(
      { development: true },
      (req, res) => {
        req.session.count = Number(req.session.count ?? 0) + 1;
        res.end(String(req.session.count));
      },
      [cookieParser(), rewrite],
    );
    const first = await call(app);
    assert.equal(first.body, '1');
    assert.equal((await call(app, '/', { cookie: pair(first) })).body, '2');
    // A forged value is still refused: cookie-parser only hands over what the browser sent.
    assert.equal((await call(app, '/', { cookie: 'sid=v1.k1.forged' })).body, '1');
  });

  test('cookie.secure: true means HTTPS only, even from loopback in development mode', async () => {
    const set: express.RequestHandler = (req, res) => {
      req.session.user = 'ada';
      res.end();
    };
    // Without the app asking for Secure, loopback over plain HTTP gets its cookie (local development).
    assert.equal((await call(appWith({}, set))).setCookie.length, 1);
    assert.deepEqual((await call(appWith({ cookie: { secure: true } }, set))).setCookie, []);
    const proxied = appWith({ cookie: { secure: true }, proxy: true }, set);
    assert.deepEqual((await call(proxied, '/', { 'x-forwarded-proto': 'http' })).setCookie, []);
    assert.match((await call(proxied, '/', { 'x-forwarded-proto': 'https' })).setCookie[0] ?? '', /Secure/);
  });

  test("cookie.secure: 'auto' is accepted: a Secure cookie on HTTPS (behind a proxy), none on plain HTTP", async () => {
    const set: express.RequestHandler = (req, res) => {
      req.session.user = 'ada';
      res.end();
    };
    const app = appWith({ cookie: { secure: 'auto' }, proxy: true }, set);
    assert.match((await call(app, '/', { 'x-forwarded-proto': 'https' })).setCookie[0] ?? '', /; Secure/);
    assert.deepEqual((await call(app)).setCookie, []);
    // Express's own trust proxy decides when proxy is left out.
    const trusting = express();
    trusting.set('trust proxy', 'loopback');
    trusting.use(session({ keys, name: 'sid', cookie: { secure: 'auto' } }));
    trusting.use(set);
    assert.match((await call(trusting, '/', { 'x-forwarded-proto': 'https' })).setCookie[0] ?? '', /Secure/);
  });

  test('an app that puts something other than an id in req.sessionID gets nothing saved', async () => {
    const store = new MemoryStore();
    const app = appWith({ development: true, store }, (req, res) => {
      (req as unknown as { sessionID: unknown }).sessionID = () => {};
      req.session.a = 1;
      res.end();
    });
    assert.deepEqual((await call(app)).setCookie, []);
    assert.equal(store.sessions.size, 0);
  });

  test('destroy() on a request that carried no cookie sends no cookie deletion', async () => {
    for (const store of [undefined, new MemoryStore()]) {
      const app = appWith({ development: true, ...(store ? { store } : {}) }, (req, res) => {
        req.session.destroy(() => res.end(String(req.session)));
      });
      const reply = await call(app);
      assert.equal(reply.body, 'undefined');
      assert.deepEqual(reply.setCookie, []);
    }
  });

  test('resave: true in cookie mode sends no new cookie for an unchanged session (there is no store)', async () => {
    const app = appWith({ development: true, resave: true }, (req, res) => {
      if (req.url === '/set') req.session.a = 1;
      res.end();
    });
    const first = await call(app, '/set');
    assert.deepEqual((await call(app, '/', { cookie: pair(first) })).setCookie, []);
  });

  test("a cookie.maxAge under a second is that session's own idle timeout: it ends when the app said", async () => {
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    for (const store of [undefined, new MemoryStore()]) {
      let count = 0;
      const app = appWith({ development: true, cookie: { maxAge: 400 }, store }, (req, res) => {
        req.session.n ??= ++count;
        res.end(String(req.session.n));
      });
      const first = await call(app);
      assert.equal(first.body, '1');
      // Max-Age is in whole seconds: under one, the browser keeps the cookie no longer than the session.
      assert.match(first.setCookie[0] ?? '', /Max-Age=0;/);
      assert.equal((await call(app, '/', { cookie: pair(first) })).body, '1', 'within the 400 ms');
      await wait(600);
      const later = await call(app, '/', { cookie: pair(first) });
      assert.equal(
        later.body,
        '2',
        `a new session once idle for longer (${store ? 'store' : 'cookie'} mode)`,
      );
    }
    // Not refused: the configuration keeps its one-second floor; the short timeout is each session's own.
    assert.doesNotThrow(() => session({ keys, development: true, cookie: { maxAge: 5 } }));
  });

  test('cookie as a function of req (express-session 1.19): a new session takes what it answers', async () => {
    const seen: string[] = [];
    const app = appWith(
      {
        development: true,
        cookie: (req) => {
          seen.push(req.url ?? '');
          return req.headers['x-remember'] === '1'
            ? { maxAge: 30 * 864e5, sameSite: 'strict', priority: 'high' }
            : { maxAge: 60_000 };
        },
        absoluteTimeout: '31d',
      },
      (req, res) => {
        req.session.hits = ((req.session.hits as number | undefined) ?? 0) + 1;
        res.end(`${req.session.cookie.originalMaxAge}`);
      },
    );
    const remembered = await call(app, '/a', { 'x-remember': '1' });
    assert.equal(remembered.body, String(30 * 864e5));
    assert.match(remembered.setCookie[0] ?? '', /Max-Age=2592000;.*SameSite=Strict; Priority=High/);
    const plain = await call(app, '/b');
    assert.match(plain.setCookie[0] ?? '', /Max-Age=60;/);
    assert.deepEqual(seen, ['/a', '/b'], 'called with the request');
    // reload() of a session never written (a new one again) takes what cookie(req) answers as well.
    const reloading = appWith(
      { development: true, cookie: () => ({ maxAge: 120_000 }) },
      async (req, res) => {
        await req.session.reload();
        res.end(`${req.session.cookie.originalMaxAge}`);
      },
    );
    assert.equal((await call(reloading)).body, '120000');
    // A session keeps the options it started with, as express-session keeps the stored cookie.
    const again = await call(app, '/c', { cookie: pair(remembered) });
    assert.equal(again.body, String(30 * 864e5));
    assert.match(again.setCookie[0] ?? '', /Max-Age=2592000;/);
  });

  test('cookie(req) decides per request which paths get a session and whether it needs HTTPS', async () => {
    const app = appWith(
      {
        development: true,
        // Typed with Express's own Request, as an app writes it.
        cookie: (req: express.Request) =>
          req.get('x-tenant') === 'a' ? { path: '/a', secure: true } : { path: '/b', secure: req.secure },
      },
      (req, res) => {
        if (req.session) req.session.x = 1;
        res.end(typeof req.session);
      },
    );
    assert.equal((await call(app, '/b/page')).setCookie.length, 1);
    assert.match((await call(app, '/b/page')).setCookie[0] ?? '', /Path=\/b;/);
    assert.equal((await call(app, '/c')).body, 'undefined', 'outside the path: no session');
    // secure: true from the function: as express-session, no cookie over plain HTTP.
    const tenant = await call(app, '/a/page', { 'x-tenant': 'a' });
    assert.equal(tenant.body, 'object');
    assert.deepEqual(tenant.setCookie, []);
  });

  test('cookie(req) answering what cookie may not say is a coded error for that request', async () => {
    const codes: unknown[] = [];
    for (const answer of [
      { expires: new Date() },
      null,
      { sameSite: false },
      { maxAge: -1 },
      { secure: false },
    ]) {
      const app = express();
      app.use(session({ keys, name: 'sid', cookie: () => answer as never }));
      app.use((req, res) => {
        req.session.x = 1;
        res.end('served');
      });
      app.use((error: { code?: unknown }, _req: express.Request, res: express.Response, _next: unknown) => {
        codes.push(error.code);
        res.status(500).end('error');
      });
      const reply = await call(app);
      assert.equal(reply.body, 'error', JSON.stringify(answer));
      assert.deepEqual(reply.setCookie, []);
    }
    // secure: false outside development is the core's refusal (checklist #9), the rest the options'.
    assert.deepEqual(codes, [
      'ERR_LATCHKEY_CONFIG',
      'ERR_LATCHKEY_CONFIG',
      'ERR_LATCHKEY_CONFIG',
      'ERR_LATCHKEY_CONFIG',
      'ERR_LATCHKEY_COOKIE',
    ]);
  });

  test('genid: a value that is not a function says so', () => {
    assert.throws(
      () => session({ keys, genid: 'x' } as unknown as ExpressSessionOptions),
      /genid option must/,
    );
  });

  test('Store works as an old-style base: Store.call(this) with util.inherits', () => {
    function LegacyStore(this: InstanceType<typeof Store>) {
      Store.call(this);
    }
    inherits(LegacyStore, Store);
    const store = new (LegacyStore as unknown as new () => InstanceType<typeof Store>)();
    let heard = false;
    store.on('disconnect', () => {
      heard = true;
    });
    store.emit('disconnect');
    assert.ok(heard);
    assert.equal(typeof store.load, 'function');
  });

  test('Cookie.serialize writes an app cookie with the Cookie’s attributes', () => {
    assert.equal(new Cookie().serialize('previous', 'cookieValue'), 'previous=cookieValue; Path=/; HttpOnly');
    const cookie = new Cookie({ path: '/x', secure: true, sameSite: 'strict', httpOnly: false });
    assert.equal(cookie.serialize('a', 'b c'), 'a=b%20c; Path=/x; Secure; SameSite=Strict');
  });
});
