import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, describe, test } from 'node:test';
import express, { type Express } from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { listen } from '../../test/scenarios/apps/serve.ts';
import type { ScenarioApp } from '../../test/scenarios/suite.ts';
import { CookieJar } from '../../test/support/cookies.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import type { SessionStore } from '../stores/types.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { csrf, type ExpressSessionOptions, MemoryStore, session } from './express.ts';

const keys = generateKeyLine('k1');
/** What an Express error handler reads and calls on the response. */
type ServerResponseLike = { headersSent: boolean; status(code: number): { send(body: string): void } };
const apps: ScenarioApp[] = [];
after(() => Promise.all(apps.map((app) => app.close())));

async function serve(app: Express) {
  const running = await listen(app);
  apps.push(running);
  const jar = new CookieJar();
  return {
    jar,
    async call(path: string, method = 'GET', body?: Record<string, string>) {
      const cookie = jar.header();
      const response = await fetch(`${running.url}${path}`, {
        method,
        redirect: 'manual',
        headers: cookie ? { cookie } : {},
        ...(body ? { body: new URLSearchParams(body) } : {}),
      });
      jar.apply(response.headers.getSetCookie());
      return response;
    },
  };
}

/** req.session's own enumerable properties but `cookie` (express-session's, enumerable there too). */
function dataOf(value: object): Record<string, unknown> {
  const { cookie: _cookie, ...data } = value as Record<string, unknown>;
  return data;
}

function appWith(options: ExpressSessionOptions, routes: (app: Express) => void): Express {
  const app = express();
  app.use(session({ keys, development: true, ...options }));
  routes(app);
  return app;
}

describe('latchkey/express: express-session’s API', () => {
  test('a connect-style store plugs in unchanged: sealed, keyed by the hash, data kept across requests', async () => {
    const { default: expressSession } = (await import('express-session' as string)) as {
      default: { MemoryStore: new () => { sessions: Record<string, string> } };
    };
    for (const store of [new MemoryStore(), new expressSession.MemoryStore()]) {
      const client = await serve(
        appWith({ store: store as never }, (app) => {
          app.post('/login', async (req, res) => {
            req.session.views = 1;
            req.session.name = 'Ada';
            res.end();
          });
          app.get('/', (req, res) => {
            req.session.views = Number(req.session.views) + 1;
            res.json({ views: req.session.views, name: req.session.name });
          });
        }),
      );
      await client.call('/login', 'POST');
      assert.deepEqual(await (await client.call('/')).json(), { views: 2, name: 'Ada' });
      assert.deepEqual(await (await client.call('/')).json(), { views: 3, name: 'Ada' });
      const raw = JSON.stringify((store as unknown as { sessions: unknown }).sessions ?? {});
      if (raw !== '{}') assert.ok(!raw.includes('Ada'), 'the connect store holds only sealed values');
    }
  });

  test('property access: set, read back, delete, nested change in place, Date kept as JSON', async () => {
    const client = await serve(
      appWith({}, (app) => {
        app.post('/set', (req, res) => {
          req.session.views = 1;
          req.session.cart = ['apple'];
          req.session.when = new Date(Date.UTC(2026, 0, 2));
          res.end();
        });
        app.post('/push', (req, res) => {
          (req.session.cart as string[]).push('pear');
          delete req.session.views;
          res.end();
        });
        app.get('/', (req, res) => res.json(dataOf(req.session)));
      }),
    );
    await client.call('/set', 'POST');
    assert.deepEqual(await (await client.call('/')).json(), {
      views: 1,
      cart: ['apple'],
      when: '2026-01-02T00:00:00.000Z',
    });
    const push = await client.call('/push', 'POST');
    assert.equal(push.headers.getSetCookie().length, 1, 'an in-place change is written');
    assert.deepEqual(await (await client.call('/')).json(), {
      cart: ['apple', 'pear'],
      when: '2026-01-02T00:00:00.000Z',
    });
    assert.deepEqual((await client.call('/')).headers.getSetCookie(), [], 'a read writes nothing');
  });

  test('regenerate (callback and promise) issues a new token, empties the data and kills the old token', async () => {
    const client = await serve(
      appWith({ store: memoryStore() }, (app) => {
        app.post('/set', (req, res) => {
          req.session.secret = 'x';
          res.end();
        });
        app.post('/regenerate-callback', (req, res, next) => {
          const returned = req.session.regenerate((error) => {
            if (error) return next(error);
            const after = dataOf(req.session);
            req.session.step = 1;
            res.json({ after, chained: returned === before });
          });
          const before = req.session;
        });
        app.post('/regenerate-promise', async (req, res) => {
          await req.session.regenerate();
          req.session.fresh = true;
          res.end();
        });
        app.get('/', (req, res) =>
          res.json({ ...dataOf(req.session), id: req.session.id, sessionID: req.sessionID }),
        );
      }),
    );
    await client.call('/set', 'POST');
    const first = client.jar.get('lk');
    const viewed = await (await client.call('/')).json();
    assert.match(viewed.id, /^[A-Za-z0-9_-]{43}$/, 'the store key: not the token');
    assert.notEqual(viewed.id, first);
    assert.equal(viewed.sessionID, viewed.id);
    const regenerated = await client.call('/regenerate-callback', 'POST');
    assert.deepEqual(await regenerated.json(), { after: {}, chained: true });
    const second = client.jar.get('lk');
    assert.ok(second && second !== first);
    await client.call('/regenerate-promise', 'POST');
    assert.notEqual(client.jar.get('lk'), second);
    assert.deepEqual((await (await client.call('/')).json()).fresh, true);
    const replay = await fetch(`${apps.at(-1)!.url}/`, { headers: { cookie: `lk=${first}` } });
    assert.equal((await replay.json()).secret, undefined, 'the old token opens nothing');
  });

  test('destroy clears the cookie and leaves req.session undefined; save() before a redirect is written', async () => {
    const client = await serve(
      appWith({}, (app) => {
        app.post('/login', (req, res, next) => {
          req.session.user = 'ada';
          req.session.save((error) => (error ? next(error) : res.redirect(303, '/')));
        });
        app.post('/logout', (req, res, next) => {
          req.session.destroy((error) => {
            if (error) return next(error);
            res.json({ session: req.session === undefined ? 'gone' : 'still there' });
          });
        });
        app.get('/', (req, res) => res.json({ user: req.session.user ?? null }));
      }),
    );
    const login = await client.call('/login', 'POST');
    assert.equal(login.status, 303);
    assert.equal(login.headers.getSetCookie().length, 1);
    assert.deepEqual(await (await client.call('/')).json(), { user: 'ada' });
    const logout = await client.call('/logout', 'POST');
    assert.deepEqual(await logout.json(), { session: 'gone' });
    assert.match(logout.headers.getSetCookie()[0] ?? '', /^lk=; .*Max-Age=0/);
    assert.deepEqual(await (await client.call('/')).json(), { user: null });
  });

  test('reload drops this request’s changes; touch renews an unchanged session', async () => {
    const client = await serve(
      appWith({}, (app) => {
        app.post('/set', (req, res) => {
          req.session.n = 1;
          res.end();
        });
        app.post('/reload', async (req, res) => {
          req.session.n = 99;
          await req.session.reload();
          res.json({ n: req.session.n });
        });
        app.post('/touch', (req, res) => {
          res.json({ chained: req.session.touch() === req.session });
        });
      }),
    );
    await client.call('/set', 'POST');
    const reload = await client.call('/reload', 'POST');
    assert.deepEqual(await reload.json(), { n: 1 });
    assert.deepEqual(reload.headers.getSetCookie(), [], 'nothing changed after the reload');
    const touch = await client.call('/touch', 'POST');
    assert.deepEqual(await touch.json(), { chained: true });
    assert.equal(touch.headers.getSetCookie().length, 1, 'touch() renews the cookie');
  });

  test('req.session.cookie is mutable: a per-session maxAge ("remember me") is kept with the session', async () => {
    const client = await serve(
      appWith({ cookie: { maxAge: 600_000, sameSite: 'strict' }, absoluteTimeout: '30d' }, (app) => {
        app.post('/', (req, res) => {
          req.session.a = 1;
          const cookie = req.session.cookie;
          res.json({ ...cookie.toJSON(), maxAge: cookie.maxAge, keys: Object.keys(cookie) });
        });
        app.post('/remember', (req, res) => {
          req.session.cookie.maxAge = 7 * 864e5;
          res.end();
        });
        app.get('/', (req, res) => res.json({ originalMaxAge: req.session.cookie.originalMaxAge }));
      }),
    );
    const response = await client.call('/', 'POST');
    const view = await response.json();
    assert.ok(view.maxAge > 590_000 && view.maxAge <= 600_000, String(view.maxAge));
    assert.equal(view.originalMaxAge, 600_000);
    assert.equal(view.sameSite, 'strict');
    assert.equal(view.httpOnly, true);
    assert.ok(view.keys.includes('originalMaxAge') && view.keys.includes('path'), 'fields are enumerable');
    assert.match(response.headers.getSetCookie()[0] ?? '', /Max-Age=600; .*SameSite=Strict/);
    const remember = await client.call('/remember', 'POST');
    assert.deepEqual(remember.headers.getSetCookie().length, 1, 'one line: the cookie did not move');
    assert.match(remember.headers.getSetCookie()[0] ?? '', /Max-Age=604800;/);
    const later = await client.call('/');
    assert.deepEqual(await later.json(), { originalMaxAge: 7 * 864e5 }, 'kept with the session');
  });

  test('rolling renews on every response; resave writes an unchanged session; unset: destroy ends it', async () => {
    const routes = (app: Express) => {
      app.post('/set', (req, res) => {
        req.session.a = 1;
        res.end();
      });
      app.get('/', (_req, res) => res.end());
      app.post('/unset', (req, res) => {
        (req as { session?: unknown }).session = null;
        res.end();
      });
    };
    const rolling = await serve(appWith({ rolling: true }, routes));
    await rolling.call('/set', 'POST');
    assert.equal((await rolling.call('/')).headers.getSetCookie().length, 1, 'rolling');
    // resave is about the store: an unchanged session is written to it again (in cookie mode there is
    // nothing to save, see express-session-compat.test.ts).
    const store = new MemoryStore();
    const resave = await serve(appWith({ resave: true, store }, routes));
    await resave.call('/set', 'POST');
    let writes = 0;
    const set = store.set.bind(store);
    store.set = (...args: Parameters<typeof store.set>) => {
      writes += 1;
      set(...args);
    };
    await resave.call('/');
    assert.equal(writes, 1, 'resave');
    const keep = await serve(appWith({}, routes));
    await keep.call('/set', 'POST');
    assert.deepEqual((await keep.call('/unset', 'POST')).headers.getSetCookie(), [], "unset: 'keep'");
    const destroy = await serve(appWith({ unset: 'destroy' }, routes));
    await destroy.call('/set', 'POST');
    assert.match((await destroy.call('/unset', 'POST')).headers.getSetCookie()[0] ?? '', /Max-Age=0/);
  });

  test('express-session options that cannot mean the same are refused with a coded error', () => {
    const refused: ExpressSessionOptions[] = [
      { name: 'a', key: 'b' },
      { genid: () => 'x' } as unknown as ExpressSessionOptions,
      { saveUninitialized: 'yes' } as unknown as ExpressSessionOptions,
      { genid: 'bogus' } as unknown as ExpressSessionOptions,
      { cookie: { expires: new Date() } } as unknown as ExpressSessionOptions,
      { cookie: { sameSite: false } },
      { cookie: { maxAge: -1 } },
      { cookie: { maxAge: 1000 }, idleTimeout: '1h' },
      { unset: 'forget' } as unknown as ExpressSessionOptions,
      { sessions: createSessions({ keys }), name: 'x' },
    ];
    for (const options of refused) {
      assert.throws(() => session({ keys, development: true, ...options }), { code: 'ERR_LATCHKEY_CONFIG' });
    }
    // checklist #43: a weak secret never seals; a strong one does when no keys are configured.
    const saved = process.env.LATCHKEY_KEYS;
    delete process.env.LATCHKEY_KEYS;
    try {
      assert.throws(() => session({ secret: 'keyboard cat' }), { code: 'ERR_LATCHKEY_KEY' });
      assert.equal(session({ secret: 'q7V2m9XkL3pR8tY1wZ4nB6cH0jD5fG2s' }).sessions.mode, 'cookie');
    } finally {
      if (saved !== undefined) process.env.LATCHKEY_KEYS = saved;
    }
    // With keys, secret is kept for reading express-session cookies, and an explicit connect.sid is allowed.
    assert.equal(
      session({ keys, development: true, secret: 'keyboard cat', name: 'connect.sid' }).sessions.cookieName,
      'connect.sid',
    );
  });

  test('a store that is down: Express’s error handler answers 503', async () => {
    const down = memoryStore() as SessionStore;
    const broken = Object.create(down) as SessionStore;
    const app = express();
    const sessions = createSessions({ keys, development: true, store: down });
    app.use(session({ sessions }));
    app.post('/set', (req, res) => {
      req.session.a = 1;
      res.end();
    });
    const client = await serve(app);
    await client.call('/set', 'POST');
    broken.get = () => Promise.reject(new Error('connection refused'));
    const failing = express();
    failing.use(session({ keys, development: true, store: broken }));
    failing.get('/', (_req, res) => res.end('unreachable'));
    const failingClient = await serve(failing);
    failingClient.jar.apply([`lk=${client.jar.get('lk')}`]);
    const response = await failingClient.call('/');
    assert.equal(response.status, 503, 'StoreUnavailable carries status 503 for Express');
  });
});

describe('latchkey/express: mixing req.session properties with req.session.latchkey', () => {
  test('regenerate() starts a brand-new session: no user, no data, no device entry', async () => {
    const app = express();
    const middleware = session({ keys, development: true, store: memoryStore() });
    app.use(middleware);
    app.post('/login', async (req, res) => {
      await req.session.latchkey.login('ada');
      req.session.name = 'Ada';
      res.end();
    });
    app.post('/regenerate', async (req, res) => {
      await req.session.regenerate();
      req.session.anonymous = true;
      res.json({ userId: req.session.latchkey.userId ?? null, data: dataOf(req.session) });
    });
    const client = await serve(app);
    await client.call('/login', 'POST');
    assert.equal((await middleware.sessions.listUserSessions('ada')).length, 1);
    const regenerated = await client.call('/regenerate', 'POST');
    assert.deepEqual(await regenerated.json(), { userId: null, data: { anonymous: true } });
    assert.equal((await middleware.sessions.listUserSessions('ada')).length, 0, 'signed out everywhere');
  });

  test('changes made through req.session.latchkey are kept; names like `cookie` in the data never break a request', async () => {
    const client = await serve(
      appWith({}, (app) => {
        app.post('/latchkey', (req, res) => {
          req.session.latchkey.set('visits', 5);
          req.session.latchkey.set('cookie', 'a data key named like the API');
          req.session.other = 1;
          res.end();
        });
        app.post('/drop', (req, res) => {
          req.session.latchkey.delete('visits');
          res.end();
        });
        app.get('/', (req, res) =>
          res.json({ data: { ...req.session.latchkey.data }, own: Object.keys(req.session).sort() }),
        );
      }),
    );
    await client.call('/latchkey', 'POST');
    const read = await (await client.call('/')).json();
    assert.deepEqual(read.data, { visits: 5, cookie: 'a data key named like the API', other: 1 });
    assert.deepEqual(
      read.own,
      ['cookie', 'other', 'visits'],
      '`cookie` stays the API view (enumerable, as in express-session), not the data property',
    );
    await client.call('/drop', 'POST');
    assert.deepEqual((await (await client.call('/')).json()).data, {
      cookie: 'a data key named like the API',
      other: 1,
    });
  });

  test('with a ready `sessions`, its trustProxy decides; proxy is refused there', async () => {
    const sessions = createSessions({ keys, trustProxy: true });
    assert.throws(() => session({ sessions, proxy: true }), { code: 'ERR_LATCHKEY_CONFIG' });
    const app = express();
    app.use(session({ sessions }));
    app.post('/', (req, res) => {
      req.session.a = 1;
      res.end();
    });
    await serve(app);
    const running = apps.at(-1)!;
    // A non-loopback Host: http://localhost would get its Secure cookie (src/core/loopback.ts).
    const direct = await new Promise<string[]>((resolve, reject) => {
      const req = httpRequest(
        `${running.url}/`,
        { method: 'POST', headers: { host: 'app.example' } },
        (res) => {
          res.resume();
          resolve(res.headers['set-cookie'] ?? []);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(direct, [], 'no Secure cookie over plain HTTP');
    const proxied = await fetch(`${running.url}/`, {
      method: 'POST',
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.match(proxied.headers.getSetCookie()[0] ?? '', /^__Host-lk=.*; Secure/);
  });

  test('an onError that throws still answers the client', async () => {
    const app = express();
    app.use(
      session({
        keys,
        development: true,
        onError: () => {
          throw new TypeError('the error handler has a bug too');
        },
      }),
    );
    app.post('/', (req, res) => {
      req.session.big = 'x'.repeat(200_000);
      res.end('ok');
    });
    const client = await serve(app);
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (error: unknown) => errors.push(error);
    try {
      const response = await client.call('/', 'POST');
      assert.equal(response.status, 500);
      assert.equal(await response.text(), 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
      assert.match(String(errors[0]), /the error handler has a bug too/);
    } finally {
      console.error = original;
    }
  });
});

/**
 * An app with passport-local (user ada, id 7) on `session(options)`, Passport's user bound through the
 * userId option unless `options` says otherwise; returns the middleware's manager too.
 */
function passportApp(options: ExpressSessionOptions) {
  const users = new Map([['ada', { id: '7', username: 'ada', password: 'correct horse' }]]);
  const authenticator = new passport.Passport();
  authenticator.use(
    new LocalStrategy((username, password, done) => {
      const user = users.get(username);
      done(null, user && user.password === password ? user : false);
    }),
  );
  authenticator.serializeUser((user, done) => done(null, (user as { id: string }).id));
  authenticator.deserializeUser((id: string, done) =>
    done(null, [...users.values()].find((user) => user.id === id) ?? false),
  );
  const middleware = session({
    keys,
    development: true,
    userId: (data) => (data.passport as { user?: string } | undefined)?.user,
    ...options,
  });
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(middleware);
  app.use(authenticator.session());
  app.post(
    '/login',
    authenticator.authenticate('local', { successRedirect: '/', failureRedirect: '/login' }),
  );
  app.post('/logout', (req, res, next) => {
    req.logout((error) => (error ? next(error) : res.redirect(303, '/')));
  });
  app.get('/', (req, res) => {
    res.json({ user: (req.user as { username?: string } | undefined)?.username ?? null });
  });
  return { app, sessions: middleware.sessions };
}

describe('latchkey/express with Passport (passport-local)', () => {
  test('sign-in regenerates the session and keeps the user; sign-out regenerates it again', async () => {
    const { app } = passportApp({ store: memoryStore(), userId: undefined });
    const client = await serve(app);
    const visit = await client.call('/');
    assert.deepEqual(await visit.json(), { user: null });

    const wrong = await client.call('/login', 'POST', { username: 'ada', password: 'nope' });
    assert.equal(wrong.headers.get('location'), '/login');

    const login = await client.call('/login', 'POST', { username: 'ada', password: 'correct horse' });
    assert.equal(login.status, 302);
    assert.equal(login.headers.get('location'), '/');
    const signedInToken = client.jar.get('lk');
    assert.ok(signedInToken, 'the session cookie is set at sign-in');
    assert.deepEqual(await (await client.call('/')).json(), { user: 'ada' });

    const logout = await client.call('/logout', 'POST');
    assert.equal(logout.status, 303);
    assert.deepEqual(await (await client.call('/')).json(), { user: null });
    const replay = await fetch(`${apps.at(-1)!.url}/`, { headers: { cookie: `lk=${signedInToken}` } });
    assert.deepEqual(await replay.json(), { user: null }, 'the signed-in token died at sign-out');
  });
});

describe('latchkey/express userId option: Passport users under the user index and revocation', () => {
  test('store mode: a Passport sign-in is listed among the user’s devices, and sign-out removes it', async () => {
    const { app, sessions } = passportApp({ store: memoryStore() });
    const client = await serve(app);
    await client.call('/login', 'POST', { username: 'ada', password: 'correct horse' });
    assert.deepEqual(await (await client.call('/')).json(), { user: 'ada' });
    assert.equal((await sessions.listUserSessions('7')).length, 1);
    await client.call('/logout', 'POST');
    assert.equal((await sessions.listUserSessions('7')).length, 0);
  });

  test('cookie mode with revocation: a copy of the signed-in cookie is refused after Passport’s sign-out', async () => {
    const { app } = passportApp({ revocation: memoryStore() });
    const client = await serve(app);
    await client.call('/login', 'POST', { username: 'ada', password: 'correct horse' });
    const copy = client.jar.header()!;
    assert.deepEqual(await (await client.call('/')).json(), { user: 'ada' });
    await client.call('/logout', 'POST');
    const replay = await fetch(`${apps.at(-1)!.url}/`, { headers: { cookie: copy } });
    assert.deepEqual(await replay.json(), { user: null }, 'the copied cookie died at sign-out');
  });

  /** An app that keeps its user in req.session.user, with and without regenerating around it. */
  function ownFieldApp(options: ExpressSessionOptions) {
    const middleware = session({ keys, development: true, userId: (data) => data.user, ...options });
    /** What /privilege awaits between loading the session and regenerating it (a test sets it). */
    const hooks: { beforeRegenerate?: () => Promise<unknown> } = {};
    const app = express();
    app.use(middleware);
    app.post('/cart', (req, res) => {
      req.session.cart = [1];
      res.end();
    });
    app.post('/signin-bare', (req, res) => {
      req.session.user = '7'; // no regenerate: the userId option must rotate the session itself
      res.end();
    });
    app.post('/signout-bare', (req, res) => {
      delete req.session.user; // an express-session style sign-out: the field goes, nothing else
      res.end();
    });
    app.post('/privilege', async (req, res) => {
      const user = req.session.user; // a privilege change: regenerate, copy the user back
      await hooks.beforeRegenerate?.();
      await req.session.regenerate();
      req.session.user = user;
      res.end();
    });
    app.get('/me', (req, res) => {
      res.json({
        user: req.session.latchkey.userId ?? null,
        authenticatedAt: req.session.latchkey.authenticatedAt ?? null,
        absoluteDeadline: req.session.latchkey.absoluteDeadline,
      });
    });
    return { app, sessions: middleware.sessions, hooks };
  }

  // The race losers below once came back signed in afresh (a new authenticatedAt and absolute deadline):
  // the user put back into req.session was taken for a new sign-in.
  const racingModes: Array<[string, (clock: ReturnType<typeof createFakeClock>) => ExpressSessionOptions]> = [
    ['store mode', (clock) => ({ clock, store: memoryStore({ clock }) })],
    ['cookie mode with revocation', (clock) => ({ clock, revocation: memoryStore({ clock }) })],
  ];
  for (const [mode, options] of racingModes) {
    test(`${mode}: of two parallel privilege changes of one session, one goes through and the other sends no cookie (checklist #32)`, async () => {
      const clock = createFakeClock();
      const { app, sessions, hooks } = ownFieldApp(options(clock));
      const client = await serve(app);
      await client.call('/signin-bare', 'POST');
      const before = await (await client.call('/me')).json();
      clock.advance('10m');
      let arrived = 0;
      let bothLoaded!: () => void;
      const gate = new Promise<void>((resolve) => {
        bothLoaded = resolve;
      });
      hooks.beforeRegenerate = () => {
        if (++arrived === 2) bothLoaded();
        return gate;
      };
      const [a, b] = await Promise.all([
        client.call('/privilege', 'POST'),
        client.call('/privilege', 'POST'),
      ]);
      const issued = [a, b].map((r) => r.headers.getSetCookie().filter((l) => l.startsWith('lk=')));
      assert.deepEqual(
        issued.map((lines) => lines.length).sort(),
        [0, 1],
        'one new cookie, from one response',
      );
      const winner = issued.flat()[0]!.split(';')[0]!;
      const me = await (await fetch(`${apps.at(-1)!.url}/me`, { headers: { cookie: winner } })).json();
      assert.deepEqual(me, before, 'the one that went through keeps the sign-in time and deadline');
      if (mode === 'store mode') assert.equal((await sessions.listUserSessions('7')).length, 1, 'no orphan');
    });

    test(`${mode}: a sign-out everywhere that lands before the privilege change's regenerate leaves it signed out`, async () => {
      const clock = createFakeClock();
      const { app, sessions, hooks } = ownFieldApp(options(clock));
      const client = await serve(app);
      await client.call('/signin-bare', 'POST');
      clock.advance('10m');
      hooks.beforeRegenerate = () => sessions.revokeUserSessions('7');
      const response = await client.call('/privilege', 'POST');
      assert.deepEqual(
        response.headers.getSetCookie().filter((l) => l.startsWith('lk=') && !l.includes('Max-Age=0')),
        [],
      );
      assert.equal((await (await client.call('/me')).json()).user, null);
    });
  }

  test('a user put back after a privilege-change regenerate keeps its sign-in time and deadline', async () => {
    const clock = createFakeClock();
    const { app } = ownFieldApp({ clock });
    const client = await serve(app);
    await client.call('/signin-bare', 'POST');
    const before = await (await client.call('/me')).json();
    assert.equal(before.user, '7');
    clock.advance('10m');
    await client.call('/privilege', 'POST');
    const afterPrivilege = await (await client.call('/me')).json();
    assert.deepEqual(afterPrivilege, before, 'not a fresh authentication, and no longer a session');
  });

  test('a user bound without a regenerate is a full sign-in: a new token, and the session limit applies', async () => {
    const clock = createFakeClock();
    const { app, sessions } = ownFieldApp({ clock, store: memoryStore({ clock }), maxSessionsPerUser: 1 });
    const first = await serve(app);
    await first.call('/me');
    await first.call('/signin-bare', 'POST');
    const token = first.jar.get('lk');
    assert.ok(token);
    clock.advance('1s');
    const second = await serve(app);
    await second.call('/signin-bare', 'POST');
    assert.equal((await (await second.call('/me')).json()).user, '7');
    assert.equal((await (await first.call('/me')).json()).user, null, 'the older sign-in was ended');
    assert.equal((await sessions.listUserSessions('7')).length, 1);
  });

  for (const [mode, options] of [
    ['store mode', (clock: ReturnType<typeof createFakeClock>) => ({ clock, store: memoryStore({ clock }) })],
    [
      'cookie mode with revocation',
      (clock: ReturnType<typeof createFakeClock>) => ({ clock, revocation: memoryStore({ clock }) }),
    ],
  ] as const) {
    test(`${mode}: deleting the user field signs the user out: a new token, and the old one no longer signed in`, async () => {
      const clock = createFakeClock();
      const { app, sessions } = ownFieldApp(options(clock));
      const client = await serve(app);
      await client.call('/cart', 'POST');
      await client.call('/signin-bare', 'POST');
      const signedIn = client.jar.get('lk');
      clock.advance('1s');
      await client.call('/signout-bare', 'POST');
      assert.notEqual(client.jar.get('lk'), signedIn, 'a new token at sign-out');
      const me = await (await client.call('/me')).json();
      assert.equal(me.user, null, 'no longer bound to the user');
      const replay = await fetch(`${apps.at(-1)!.url}/me`, { headers: { cookie: `lk=${signedIn}` } });
      assert.equal((await replay.json()).user, null, 'a copy of the signed-in cookie is not signed in');
      if (mode === 'store mode') assert.deepEqual(await sessions.listUserSessions('7'), []);
    });
  }

  test('cookie mode with revocation: a bind after an earlier "sign out everywhere" stays signed in', async () => {
    const clock = createFakeClock();
    const { app, sessions } = ownFieldApp({ clock, revocation: memoryStore({ clock }) });
    const client = await serve(app);
    await client.call('/cart', 'POST'); // an anonymous session, begun before the revocation
    clock.advance('1s');
    await sessions.revokeUserSessions('7');
    clock.advance('1s');
    await client.call('/signin-bare', 'POST');
    assert.equal((await (await client.call('/me')).json()).user, '7');
  });

  test('userId must be a function', () => {
    assert.throws(() => session({ keys, development: true, userId: 'passport.user' as never }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
  });
});

describe('latchkey/express csrf() (checklist #59)', () => {
  test('a form post needs the page token and an Origin of this site; req.csrfToken() gives tokens', async () => {
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use(session({ keys, development: true }));
    app.use(csrf());
    app.get('/form', (req, res) => res.json({ token: req.csrfToken(), again: req.csrfToken() }));
    app.post('/transfer', (req, res) => {
      req.session.done = true;
      res.json({ ok: true });
    });
    app.post('/regenerate', async (req, res) => {
      await req.session.regenerate();
      req.session.fresh = true;
      res.json({ token: req.csrfToken() });
    });
    const client = await serve(app);
    const { token, again } = await (await client.call('/form')).json();
    assert.notEqual(token, again, 'masked afresh per render');
    const origin = apps.at(-1)!.url;
    const post = (headers: Record<string, string>, body?: Record<string, string>) =>
      fetch(`${origin}/transfer`, {
        method: 'POST',
        headers: { cookie: client.jar.header() ?? '', ...headers },
        ...(body ? { body: new URLSearchParams(body) } : {}),
      });
    const missing = await post({ origin });
    assert.equal(missing.status, 403);
    assert.equal(await missing.text(), 'Forbidden: ERR_LATCHKEY_CSRF (token-missing)\n');
    const forged = await post({ origin: 'https://evil.test' }, { _csrf: token });
    assert.equal(forged.status, 403);
    assert.match(await forged.text(), /cross-origin/);
    assert.equal((await post({ origin }, { _csrf: again })).status, 200);
    assert.equal((await post({ 'x-csrf-token': token })).status, 200, 'the header works without a form');
    const regenerated = await client.call('/regenerate', 'POST', { _csrf: token });
    assert.equal(regenerated.status, 200);
    const fresh = (await regenerated.json()).token;
    assert.equal((await post({ origin }, { _csrf: token })).status, 403, 'regenerate renews the secret');
    assert.equal((await post({ origin }, { _csrf: fresh })).status, 200);
  });
});

describe('latchkey/express in store mode: a response held for its commit behaves as sent', () => {
  // Each of these once crashed the process (an uncaught "Cannot remove headers after they are sent" or
  // "write after end") or sent a wrong status, where express-session and bare Express do neither.
  test('next() after send, a second send, and an error after a partial body', async (t) => {
    t.mock.method(console, 'error', () => {});
    const seen: unknown[] = [];
    const app = appWith({ store: memoryStore() }, (routes) => {
      routes.get('/send-next', (req, res, next) => {
        req.session.n = 1;
        res.send('ok');
        next(); // on to the 404 handler, which must see the response as sent
      });
      routes.get('/double', (req, res) => {
        req.session.n = 2;
        res.send('first');
        try {
          res.status(500).send('second');
        } catch (error) {
          seen.push((error as { code?: string }).code);
        }
      });
      routes.get('/write-throw', (req, res) => {
        req.session.n = 3;
        res.write('partial');
        throw new TypeError('boom');
      });
      routes.use((error: unknown, _req: unknown, res: ServerResponseLike, next: (e: unknown) => void) => {
        seen.push(res.headersSent);
        if (res.headersSent) return next(error);
        res.status(500).send('oops');
      });
    });
    const client = await serve(app);
    const a = await client.call('/send-next');
    assert.deepEqual([a.status, await a.text()], [200, 'ok']);
    const b = await client.call('/double');
    assert.deepEqual([b.status, await b.text()], [200, 'first'], 'the late status does not leak in');
    assert.deepEqual(seen, ['ERR_HTTP_HEADERS_SENT']);
    // As without a session, the connection is closed after the partial body.
    await client
      .call('/write-throw')
      .then((r) => r.text())
      .catch(() => undefined);
    assert.deepEqual(seen, ['ERR_HTTP_HEADERS_SENT', true], 'the error handler sees the headers as sent');
    const after = await client.call('/send-next');
    assert.equal(after.status, 200, 'and the process is still serving');
  });

  test('a save() nobody awaits after the response is reported, not an unhandled rejection', async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const app = appWith({ store: memoryStore() }, (routes) => {
      routes.get('/late-save', (req, res) => {
        res.send('ok');
        void req.session.save(); // fire and forget, as express-session allowed
      });
    });
    const client = await serve(app);
    assert.equal((await client.call('/late-save')).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(String(logged.mock.calls[0]?.arguments[0]), /ERR_LATCHKEY_STATE/);
  });
});

describe('latchkey/express beside other middleware that wraps the response', () => {
  test('a middleware that patched res.write and res.end first (as compression does) still gets the cookie and the body', async () => {
    const seen: string[] = [];
    const app = express();
    app.use((_req, res, next) => {
      // The compression pattern: own res.write/res.end that call the ones they replaced.
      const write = res.write;
      const end = res.end;
      res.write = function (this: typeof res, ...args: unknown[]) {
        seen.push('write');
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } as typeof res.write;
      res.end = function (this: typeof res, ...args: unknown[]) {
        seen.push('end');
        return (end as (...a: unknown[]) => typeof res).apply(this, args);
      } as typeof res.end;
      next();
    });
    app.use(session({ keys, development: true }));
    app.get('/', (req, res) => {
      req.session.n = ((req.session.n as number | undefined) ?? 0) + 1;
      res.send(`n=${req.session.n}`);
    });
    const client = await serve(app);
    assert.equal(await (await client.call('/')).text(), 'n=1');
    assert.equal(await (await client.call('/')).text(), 'n=2', 'the cookie went out and came back');
    assert.ok(seen.includes('end'), 'the earlier wrapper still ran');
  });
});
