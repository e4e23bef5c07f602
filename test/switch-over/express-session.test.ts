/**
 * express-session + connect-redis → latchkey/express, over real HTTP (issue 12's acceptance): an
 * Express app with Passport (passport-local), a "remember me" `req.session.cookie.maxAge` and
 * `secure: 'auto'` behind a proxy. Store mode: the same source with only its import line changed —
 * express-session's `secret` and the connect-redis store it passes read the old `connect.sid` cookies.
 * Cookie mode: the same source with the import changed to `latchkey/express/cookie` (the store is read,
 * never written), and the migration guide's explicit variant (the store moves into `legacy`). Either way a user signed
 * in before the switch is still signed in after it, with their data, in one response.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { RedisStore } from 'connect-redis';
import express, { type RequestHandler } from 'express';
import { generateKeyLine } from 'latchkey/crypto';
import latchkeySession from 'latchkey/express';
import latchkeyCookieSession from 'latchkey/express/cookie';
import { expressSession as expressSessionReader } from 'latchkey/legacy';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { createClient } from 'redis';
import { CookieJar, copyOf, expires, listen, type Running, setLine, tampered } from './support.ts';

// The deploy sets LATCHKEY_KEYS (migration guide, step 2); the app's code does not mention keys.
process.env.LATCHKEY_KEYS ??= generateKeyLine('k1');

/** express-session's middleware factory, as the old app imported it (no types: @types/express-session is not installed). */
type SessionFactory = (options: Record<string, unknown>) => RequestHandler;
const { default: expressSession } = (await import('express-session' as string)) as {
  default: SessionFactory;
};

const SECRET = 'the old express-session secret, kept as it was';
const THIRTY_DAYS = 30 * 24 * 3600 * 1000;
const PROXY = { 'x-forwarded-proto': 'https' }; // the TLS-terminating proxy in front of the app

const client = createClient({ url: 'redis://127.0.0.1:6379' });
await client.connect();
const prefix = `es-switch-${randomBytes(6).toString('hex')}:`;
after(async () => {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(keys);
  await client.quit();
});

/** The app, exactly as written for express-session: `session` is whatever the import line gave. */
function startApp(session: SessionFactory, options: Record<string, unknown>): Promise<Running> {
  const authenticator = new passport.Passport();
  authenticator.use(
    new LocalStrategy((username, password, done) =>
      done(null, username === 'ada' && password === 'correct horse' ? { id: '42', name: 'Ada' } : false),
    ),
  );
  authenticator.serializeUser((user, done) => done(null, (user as { id: string }).id));
  authenticator.deserializeUser((id: string, done) => done(null, id === '42' ? { id, name: 'Ada' } : false));
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use(express.urlencoded({ extended: false }));
  app.use(session(options));
  app.use(authenticator.session());
  app.post('/login', authenticator.authenticate('local'), (req, res) => {
    const current = req.session as unknown as Record<string, unknown> & { cookie: { maxAge: number } };
    if (req.body.remember === 'on') current.cookie.maxAge = THIRTY_DAYS; // "remember me"
    current.theme = 'dark';
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    const current = req.session as unknown as Record<string, unknown> | undefined;
    res.json({
      user: (req.user as { name?: string } | undefined)?.name ?? null,
      theme: current?.theme ?? null,
    });
  });
  app.post('/logout', (req, res, next) =>
    req.logout((error) => (error ? next(error) : res.json({ ok: true }))),
  );
  return listen(app);
}

/** The app's own session options: express-session's, with connect-redis. */
function appOptions(): Record<string, unknown> {
  return {
    secret: SECRET,
    store: new RedisStore({ client, prefix }),
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 86_400_000, secure: 'auto', sameSite: 'lax' },
  };
}

/** A request through "the proxy", with the jar's cookies; the jar keeps what the response sets. */
async function send(base: string, path: string, jar: CookieJar, body?: Record<string, string>) {
  const cookie = jar.header();
  const response = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    redirect: 'manual',
    headers: { ...PROXY, ...(cookie === undefined ? {} : { cookie }) },
    ...(body === undefined ? {} : { body: new URLSearchParams(body) }),
  });
  const setCookie = response.headers.getSetCookie();
  jar.apply(setCookie);
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text, setCookie };
}

const SIGNED_IN = { user: 'Ada', theme: 'dark' };
const SIGNED_OUT = { user: null, theme: null };

/** Sign in on express-session (remember me), check it there, stop it: the browser's jar. */
async function signedInOnExpressSession(): Promise<CookieJar> {
  const old = await startApp(expressSession, appOptions());
  const jar = new CookieJar();
  try {
    const login = await send(old.url, '/login', jar, {
      username: 'ada',
      password: 'correct horse',
      remember: 'on',
    });
    assert.equal(login.status, 200);
    const line = setLine(login.setCookie, 'connect.sid') ?? '';
    assert.match(line, /; Secure/, 'secure: auto behind the proxy gave a Secure cookie');
    assert.match(line, /Expires=/, 'remember me: a persistent cookie');
    assert.deepEqual((await send(old.url, '/me', copyOf(jar))).body, SIGNED_IN);
  } finally {
    await old.close();
  }
  return jar;
}

const variants = {
  // Only the import line changed: `import session from 'latchkey/express'`.
  store: () => startApp(latchkeySession as unknown as SessionFactory, appOptions()),
  // Only the import line changed: `import session from 'latchkey/express/cookie'` (cookie mode; the
  // connect-redis store is read for the old sessions and never written).
  cookie: () => startApp(latchkeyCookieSession as unknown as SessionFactory, appOptions()),
  // The migration guide's explicit cookie-mode variant: no store, the old one read through `legacy`.
  'cookie (explicit legacy)': () => {
    const { store, ...rest } = appOptions();
    return startApp(latchkeySession as unknown as SessionFactory, {
      ...rest,
      legacy: [expressSessionReader({ secret: SECRET, store: store as never })],
      legacyUntil: '2099-01-01',
    });
  },
};

describe('switch-over: express-session + connect-redis + Passport → latchkey/express', () => {
  for (const [mode, start] of Object.entries(variants)) {
    test(`${mode} mode: still signed in with the data, Latchkey's cookie set and connect.sid expired in one response`, async () => {
      const jar = await signedInOnExpressSession();
      const recordsBefore = (await client.keys(`${prefix}*`)).length;
      const app = await start();
      try {
        const first = await send(app.url, '/me', jar);
        assert.equal(first.status, 200);
        assert.deepEqual(first.body, SIGNED_IN, 'still signed in, with their data');
        const line = setLine(first.setCookie, '__Host-lk');
        assert.ok(line, `Latchkey's cookie set: ${first.setCookie}`);
        assert.match(line, /; Secure/);
        assert.ok(expires(first.setCookie, 'connect.sid'), `connect.sid expired: ${first.setCookie}`);
        assert.deepEqual(jar.names(), ['__Host-lk'], 'the browser holds only the new cookie');

        const second = await send(app.url, '/me', jar);
        assert.deepEqual(second.body, SIGNED_IN, 'signed in with only the new cookie');

        // A new sign-in on Latchkey, with remember me: the same app code works on.
        const fresh = new CookieJar();
        await send(app.url, '/login', fresh, { username: 'ada', password: 'correct horse', remember: 'on' });
        assert.deepEqual((await send(app.url, '/me', fresh)).body, SIGNED_IN);
        const recordsAfter = (await client.keys(`${prefix}*`)).length;
        if (mode === 'store')
          assert.ok(recordsAfter > recordsBefore, 'store mode writes to the connect store');
        else assert.equal(recordsAfter, recordsBefore, 'cookie mode writes nothing to the old store');

        await send(app.url, '/logout', jar, {});
        assert.deepEqual((await send(app.url, '/me', jar)).body, SIGNED_OUT, 'signing out still works');
      } finally {
        await app.close();
      }
    });

    test(`${mode} mode: a tampered connect.sid gets no session`, async () => {
      const jar = await signedInOnExpressSession();
      const app = await start();
      try {
        const reply = await send(app.url, '/me', tampered(jar, 'connect.sid'));
        assert.deepEqual(reply.body, SIGNED_OUT);
        assert.equal(setLine(reply.setCookie, '__Host-lk'), undefined, 'no Latchkey cookie');
        assert.deepEqual((await send(app.url, '/me', jar)).body, SIGNED_IN, 'the real cookie still moves');
      } finally {
        await app.close();
      }
    });
  }
});
