/**
 * latchkey/express rotates the token when the signed-in identity on req.session changes (issue 14
 * item 5): Passport's req.session.passport.user or a userId field, by default; `userId: false` turns it
 * off (express-session's behaviour: the token is kept, which is session fixation).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import express, { type Express } from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { listen } from '../../test/scenarios/apps/serve.ts';
import type { ScenarioApp } from '../../test/scenarios/suite.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { type ExpressSessionOptions, session } from './express.ts';
import { signedInUser } from './express-options.ts';

const keys = generateKeyLine('k1');
const apps: ScenarioApp[] = [];
after(() => Promise.all(apps.map((app) => app.close())));

async function urlOf(app: Express): Promise<string> {
  const running = await listen(app);
  apps.push(running);
  return running.url;
}

/** A request with exactly this cookie; the session cookie it sets back, if any. */
async function call(url: string, cookie: string | undefined, init: RequestInit = {}) {
  const response = await fetch(url, {
    redirect: 'manual',
    ...init,
    headers: { ...(cookie ? { cookie } : {}), ...(init.headers as Record<string, string>) },
  });
  const line = response.headers.getSetCookie().find((value) => value.startsWith('lk='));
  return { response, cookie: line?.split(';', 1)[0] };
}

/** passport-local with user ada (id 7), on latchkey/express with `options` and no userId option. */
function passportApp(options: ExpressSessionOptions): {
  app: Express;
  sessions: ReturnType<typeof session>['sessions'];
} {
  const authenticator = new passport.Passport();
  authenticator.use(
    new LocalStrategy((username, password, done) =>
      done(null, username === 'ada' && password === 'correct horse' ? { id: '7', username } : false),
    ),
  );
  authenticator.serializeUser((user, done) => done(null, (user as { id: string }).id));
  authenticator.deserializeUser((id: string, done) =>
    done(null, id === '7' ? { id, username: 'ada' } : false),
  );
  const middleware = session({ keys, development: true, ...options });
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(middleware);
  app.use(authenticator.session());
  app.post('/cart', (req, res) => {
    req.session.cart = ['apple'];
    res.end();
  });
  app.post('/login', authenticator.authenticate('local', { successRedirect: '/' }));
  app.get('/', (req, res) => {
    res.json({
      user: (req.user as { username?: string } | undefined)?.username ?? null,
      cart: req.session.cart,
    });
  });
  return { app, sessions: middleware.sessions };
}

const form = (body: Record<string, string>): RequestInit => ({
  method: 'POST',
  body: new URLSearchParams(body),
});

describe('latchkey/express: a new token when the signed-in user changes', () => {
  for (const mode of ['cookie', 'store'] as const) {
    test(`Passport, no userId option (${mode} mode): the pre-login token stops working after login`, async () => {
      const store = mode === 'store' ? memoryStore() : undefined;
      const { app, sessions } = passportApp(store ? { store } : {});
      const url = await urlOf(app);
      const anonymous = (await call(`${url}/cart`, undefined, { method: 'POST' })).cookie;
      assert.ok(anonymous, 'a pre-login session');
      const login = await call(
        `${url}/login`,
        anonymous,
        form({ username: 'ada', password: 'correct horse' }),
      );
      assert.equal(login.response.status, 302);
      assert.ok(login.cookie && login.cookie !== anonymous, 'a new token at sign-in');
      assert.deepEqual(await (await call(url, login.cookie)).response.json(), { user: 'ada' });
      if (mode === 'store') {
        // The pre-login token is dead, and the session is bound to Passport's user by default.
        assert.deepEqual(await (await call(url, anonymous)).response.json(), { user: null });
        assert.equal((await sessions.listUserSessions('7')).length, 1);
      }
    });
  }

  test('a userId field set without a regenerate: a new token, and the old one no longer opens', async () => {
    const app = express();
    app.use(session({ keys, development: true, store: memoryStore() }));
    app.post('/visit', (req, res) => {
      req.session.visits = 1;
      res.end();
    });
    app.post('/login', (req, res) => {
      req.session.userId = 'ada';
      res.end();
    });
    app.get('/', (req, res) => res.json({ userId: req.session.userId ?? null, visits: req.session.visits }));
    const url = await urlOf(app);
    const before = (await call(`${url}/visit`, undefined, { method: 'POST' })).cookie;
    const login = await call(`${url}/login`, before, { method: 'POST' });
    assert.ok(login.cookie && login.cookie !== before, 'rotated at sign-in');
    assert.deepEqual(await (await call(url, login.cookie)).response.json(), { userId: 'ada', visits: 1 });
    assert.deepEqual(await (await call(url, before)).response.json(), { userId: null });
  });

  test('userId: false keeps express-session’s behaviour: the token survives the sign-in', async () => {
    const app = express();
    app.use(session({ keys, development: true, store: memoryStore(), userId: false }));
    app.post('/visit', (req, res) => {
      req.session.visits = 1;
      res.end();
    });
    app.post('/login', (req, res) => {
      req.session.userId = 'ada';
      res.end();
    });
    app.get('/', (req, res) => res.json({ userId: req.session.userId ?? null }));
    const url = await urlOf(app);
    const before = (await call(`${url}/visit`, undefined, { method: 'POST' })).cookie;
    const login = await call(`${url}/login`, before, { method: 'POST' });
    assert.equal(login.cookie, undefined, 'no new token');
    assert.deepEqual(await (await call(url, before)).response.json(), { userId: 'ada' });
  });

  test('a user bound through latchkey.login() with no userId field stays signed in', async () => {
    const app = express();
    const middleware = session({ keys, development: true, store: memoryStore() });
    app.use(middleware);
    app.post('/login', async (req, res) => {
      await req.session.latchkey.login('ada');
      req.session.name = 'Ada';
      res.end();
    });
    app.get('/', (req, res) => res.json({ user: req.session.latchkey.userId ?? null }));
    const url = await urlOf(app);
    const login = await call(`${url}/login`, undefined, { method: 'POST' });
    assert.deepEqual(await (await call(url, login.cookie)).response.json(), { user: 'ada' });
    assert.deepEqual(await (await call(url, login.cookie)).response.json(), { user: 'ada' });
  });

  test('the default reader: Passport first, then userId; numbers as strings; objects by their hash', () => {
    assert.equal(signedInUser({ passport: { user: 'p' }, userId: 'u' }), 'p');
    assert.equal(signedInUser({ passport: {}, userId: 'u' }), 'u');
    assert.equal(signedInUser({ userId: 7 }), '7');
    assert.equal(signedInUser({}), undefined);
    assert.equal(signedInUser({ userId: '' }), undefined);
    const hashed = signedInUser({ passport: { user: { id: 7, name: 'Ada' } } });
    assert.match(hashed ?? '', /^sha256:[\w-]{43}$/);
    assert.equal(signedInUser({ userId: 'x'.repeat(300) })?.startsWith('sha256:'), true);
  });

  test('userId must be a function or false', () => {
    assert.throws(() => session({ keys, userId: 'passport' as never }), { code: 'ERR_LATCHKEY_CONFIG' });
  });
});
