// latchkey/next without `next build`: the cookie stores are Next's own classes from the installed
// `next` (the sealed read-only store a Server Component gets, the mutable one of a Server Action or
// Route Handler), and middleware runs on Next's real NextRequest / NextResponse.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sealData } from 'iron-session';
import { createClient } from 'redis';
import { expressSession } from '../compat/legacy/express-session.ts';
import { ironSession } from '../compat/legacy/iron-session.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { isLatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { redisStore } from '../stores/redis.ts';
import {
  applySessionCookies,
  getServerSideSession,
  getSession,
  type NextCookieStore,
  withSession,
} from './next.ts';
import { cookieFromLine } from './next-cookies.ts';

const require = createRequire(import.meta.url);
const adapters = require('next/dist/server/web/spec-extension/adapters/request-cookies.js') as {
  RequestCookiesAdapter: { seal(cookies: unknown): NextCookieStore };
  MutableRequestCookiesAdapter: { wrap(cookies: unknown): NextCookieStore & { toString(): string } };
};
const { RequestCookies, ResponseCookies } = require('next/dist/server/web/spec-extension/cookies.js') as {
  RequestCookies: new (headers: Headers) => unknown;
  ResponseCookies: new (headers: Headers) => { getAll(): Array<{ name: string; value: string }> };
};
const { NextRequest, NextResponse } = require('next/server.js') as typeof import('next/server.js');

const keys = generateKeyLine('k1');
type Data = { userName: string; visits: number; big: string };

/** The store Next gives a Server Component: reads the request's cookies, throws on set. */
function serverComponentCookies(cookie: string): NextCookieStore {
  return adapters.RequestCookiesAdapter.seal(new RequestCookies(new Headers({ cookie })));
}

/** The store Next gives a Server Action or Route Handler, and the Set-Cookie lines it would send. */
function actionCookies(cookie: string) {
  const store = adapters.MutableRequestCookiesAdapter.wrap(new RequestCookies(new Headers({ cookie })));
  return {
    store,
    /** The Cookie header the browser would send next, after applying what the action set. */
    next(): string {
      const headers = new Headers();
      const response = new ResponseCookies(headers);
      for (const c of store.getAll()) (response as unknown as NextCookieStore).set(c);
      return store
        .getAll()
        .filter((c) => c.value !== '')
        .map((c) => `${c.name}=${c.value}`)
        .join('; ');
    },
  };
}

const isStateError = (error: unknown) =>
  isLatchkeyError(error, 'ERR_LATCHKEY_STATE') && /Server Action/.test((error as Error).message);

describe('latchkey/next getSession', () => {
  test('a Server Action signs in and saves; the Server Component then reads the user', async () => {
    const sessions = createSessions<Data>({ keys });
    const action = actionCookies('theme=dark');
    const session = await getSession(sessions, action.store);
    assert.equal(session.writable, true);
    assert.equal(session.isNew, true);
    session.set('userName', 'ada');
    await session.login('u1');
    const cookie = action.next();
    assert.match(cookie, /theme=dark/, "the app's own cookie is kept");
    assert.match(cookie, /__Host-lk=v1\./);

    const page = await getSession(sessions, serverComponentCookies(cookie));
    assert.equal(page.writable, false);
    assert.equal(page.isNew, false);
    assert.equal(page.userId, 'u1');
    assert.equal(page.get('userName'), 'ada');
  });

  test('every write in a Server Component throws the coded error, and nothing is changed', async () => {
    const sessions = createSessions<Data>({ keys });
    const action = actionCookies('');
    const signedIn = await getSession(sessions, action.store);
    await signedIn.login('u1');
    const page = await getSession(sessions, serverComponentCookies(action.next()));
    const writes: Array<() => unknown> = [
      () => page.set('visits', 1),
      () => page.delete('userName'),
      () => page.flash('notice', 'hi'),
      () => page.takeFlash('notice'),
      () => page.touch(),
    ];
    for (const write of writes) assert.throws(write, isStateError);
    for (const write of [
      () => page.save(),
      () => page.login('u2'),
      () => page.destroy(),
      () => page.regenerate(),
    ]) {
      await assert.rejects(write(), isStateError);
    }
    assert.equal(page.userId, 'u1');
    assert.equal(page.get('visits'), undefined);
  });

  test('a store that refuses set() only at save time still gives the coded error', async () => {
    const sessions = createSessions<Data>({ keys });
    // Takes the probe (reads its name) but refuses the real write: the late refusal is converted too.
    const store: NextCookieStore = {
      getAll: () => [],
      set(cookie) {
        throw new RangeError(`read-only: ${cookie.name}`);
      },
    };
    const session = await getSession(sessions, store);
    assert.equal(session.writable, true);
    session.set('visits', 1);
    await assert.rejects(
      session.save(),
      (error: unknown) => isStateError(error) && (error as Error).cause instanceof RangeError,
    );
  });

  test('save() writes again after more changes, and nothing when nothing changed', async () => {
    const sessions = createSessions<Data>({ keys });
    const action = actionCookies('');
    const session = await getSession(sessions, action.store);
    session.set('visits', 1);
    await session.save();
    const first = action.next();
    session.set('visits', 2);
    await session.save();
    const second = action.next();
    assert.notEqual(first, second);
    const reread = await getSession(sessions, serverComponentCookies(second));
    assert.equal(reread.get('visits'), 2);

    const idle = actionCookies(second);
    const untouched = await getSession(sessions, idle.store);
    await untouched.save();
    assert.deepEqual(
      idle.store.getAll().map((c) => c.name),
      ['__Host-lk'],
      'the request cookie only: no Set-Cookie for an unchanged session',
    );
  });

  test('sign-out through destroy() clears the cookie; a large session is chunked and read back', async () => {
    const sessions = createSessions<Data>({ keys });
    const action = actionCookies('');
    const session = await getSession(sessions, action.store);
    session.set('big', 'z'.repeat(7000));
    await session.save();
    const chunked = action.next();
    assert.match(chunked, /__Host-lk\.1=/);
    const read = await getSession(sessions, serverComponentCookies(chunked));
    assert.equal(read.get('big')?.length, 7000);

    const out = actionCookies(chunked);
    await (await getSession(sessions, out.store)).destroy();
    assert.equal(out.next(), '', 'every chunk is deleted');
  });

  test("other cookies' values never reach the session parser", async () => {
    const sessions = createSessions<Data>({ keys });
    const action = actionCookies('');
    const session = await getSession(sessions, action.store);
    session.set('visits', 5);
    await session.save();
    const good = action.next();
    // A cookie whose decoded value carries '; __Host-lk=…' must not be read as a second session cookie.
    const tossed = `x=${encodeURIComponent('a; __Host-lk=junk')}; ${good}`;
    const page = await getSession(sessions, serverComponentCookies(tossed));
    assert.equal(page.get('visits'), 5);
  });

  test('the cookie objects keep every attribute of the line', () => {
    const cookie = cookieFromLine(
      '__Host-lk=v1.k1.abc; Path=/; Max-Age=60; Expires=Thu, 01 Jan 2099 00:00:00 GMT; Secure; HttpOnly; SameSite=Strict; Partitioned; Priority=High',
    );
    assert.deepEqual(cookie, {
      name: '__Host-lk',
      value: 'v1.k1.abc',
      path: '/',
      maxAge: 60,
      expires: new Date('2099-01-01T00:00:00Z'),
      secure: true,
      httpOnly: true,
      sameSite: 'strict',
      partitioned: true,
      priority: 'high',
    });
    assert.throws(
      () => cookieFromLine('a=b%c; Path=/'),
      (e: unknown) => isLatchkeyError(e, 'ERR_LATCHKEY_COOKIE'),
    );
    assert.throws(
      () => cookieFromLine('a=b; Weird=1'),
      (e: unknown) => isLatchkeyError(e, 'ERR_LATCHKEY_COOKIE'),
    );
  });

  test('refuses something that is not a cookie store', async () => {
    const sessions = createSessions<Data>({ keys });
    await assert.rejects(getSession(sessions, {} as NextCookieStore), TypeError);
  });
});

describe('latchkey/next withSession (middleware / proxy)', () => {
  const signedInCookie = async (sessions: ReturnType<typeof createSessions<Data>>) => {
    const action = actionCookies('');
    await (await getSession(sessions, action.store)).login('u1');
    return action.next();
  };

  test('guards a route: no session, a redirect; a session, through', async () => {
    const sessions = createSessions<Data>({ keys });
    const proxy = withSession(sessions, (request: InstanceType<typeof NextRequest>, session) =>
      session.userId === undefined && request.nextUrl.pathname.startsWith('/account')
        ? NextResponse.redirect(new URL('/sign-in', request.url))
        : NextResponse.next(),
    );
    const anonymous = await proxy(new NextRequest('https://app.test/account'));
    assert.equal(anonymous.status, 307);
    assert.equal(anonymous.headers.get('location'), 'https://app.test/sign-in');
    const cookie = await signedInCookie(sessions);
    const member = await proxy(new NextRequest('https://app.test/account', { headers: { cookie } }));
    assert.equal(member.status, 200);
    assert.equal(member.headers.get('x-middleware-next'), '1');
  });

  test('refreshes a rolling session once touchAfter has passed, visibly to the page (x-middleware-set-cookie)', async () => {
    let now = Date.UTC(2026, 0, 1);
    const clock = { now: () => now };
    const sessions = createSessions<Data>({ keys, clock, touchAfter: '1m', idleTimeout: '10m' });
    const cookie = await signedInCookie(sessions);
    const proxy = withSession(sessions, () => NextResponse.next());
    const early = await proxy(new NextRequest('https://app.test/', { headers: { cookie } }));
    assert.deepEqual(early.headers.getSetCookie(), [], 'not due yet: no write');
    now += 2 * 60_000;
    const due = await proxy(new NextRequest('https://app.test/', { headers: { cookie } }));
    const [line] = due.headers.getSetCookie();
    assert.match(line ?? '', /^__Host-lk=v1\./);
    assert.match(due.headers.get('x-middleware-set-cookie') ?? '', /__Host-lk=v1\./);
    assert.equal(due.headers.get('cache-control'), 'no-store');
    const value = /^__Host-lk=([^;]+)/.exec(line ?? '')?.[1];
    now += 9 * 60_000; // past the old cookie's idle deadline, within the refreshed one
    const later = await getSession(sessions, serverComponentCookies(`__Host-lk=${value}`));
    assert.equal(later.userId, 'u1');
    const stale = await getSession(sessions, serverComponentCookies(cookie));
    assert.equal(stale.userId, undefined, 'the unrefreshed cookie has idled out');
  });

  test('a plain Response (a Route Handler) gets the lines as headers', async () => {
    const sessions = createSessions<Data>({ keys });
    const handler = withSession(sessions, (_request, session) => {
      session.set('visits', 1);
      return Response.redirect('https://app.test/', 303);
    });
    const response = await handler(new Request('https://app.test/'));
    assert.equal(response.status, 303);
    assert.equal(response.headers.getSetCookie().length, 1);
    assert.equal(applySessionCookies(response, []), response);
  });
});

describe('latchkey/next getServerSideSession (Pages Router)', () => {
  test('sets the cookie on context.res, beside the cookies the page set', async () => {
    // Behind a TLS proxy, as a deployed Next.js app usually is: plain HTTP would get no Secure cookie.
    const sessions = createSessions<Data>({ keys, trustProxy: true });
    const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('set-cookie', 'theme=dark; Path=/');
      const session = await getServerSideSession(sessions, { req, res });
      session.set('visits', (session.get('visits') ?? 0) + 1);
      await session.save();
      res.end(String(session.get('visits')));
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const https = { 'x-forwarded-proto': 'https' };
      const first = await fetch(url, { headers: https });
      const lines = first.headers.getSetCookie();
      assert.equal(lines[0], 'theme=dark; Path=/');
      assert.match(lines[1] ?? '', /^__Host-lk=/);
      assert.equal(first.headers.get('cache-control'), 'no-store');
      const cookie = (lines[1] ?? '').split(';')[0] ?? '';
      const second = await fetch(url, { headers: { ...https, cookie } });
      assert.equal(await second.text(), '2');
    } finally {
      server.close();
    }
  });
});

describe('latchkey/next store mode (Redis)', () => {
  const client = createClient({ url: 'redis://127.0.0.1:6379', disableOfflineQueue: true });
  client.on('error', () => {});
  const prefix = `lk-test:next:${randomBytes(6).toString('hex')}:`;
  before(() => client.connect());
  after(async () => {
    const found = await client.keys(`${prefix}*`);
    if (found.length > 0) await client.del(found);
    await client.quit();
  });

  test('sign in, read in a Server Component, a Server Component write changes nothing, sign out', async () => {
    const sessions = createSessions<Data>({ keys, store: redisStore({ client, prefix }) });
    const action = actionCookies('');
    const session = await getSession(sessions, action.store);
    session.set('userName', 'ada');
    await session.login('u1');
    const cookie = action.next();
    assert.doesNotMatch(cookie, /v1\./, 'store mode: only a token in the cookie');

    const page = await getSession(sessions, serverComponentCookies(cookie));
    assert.equal(page.get('userName'), 'ada');
    assert.throws(() => page.set('userName', 'eve'), isStateError);
    await assert.rejects(page.save(), isStateError);
    const again = await getSession(sessions, serverComponentCookies(cookie));
    assert.equal(again.get('userName'), 'ada', 'the store was not written');
    assert.equal((await sessions.listUserSessions('u1')).length, 1);

    const out = actionCookies(cookie);
    await (await getSession(sessions, out.store)).destroy();
    assert.equal(out.next(), '');
    assert.equal((await sessions.listUserSessions('u1')).length, 0);
    const gone = await getSession(sessions, serverComponentCookies(cookie));
    assert.equal(gone.userId, undefined);
  });
});

describe('latchkey/next getSession moves legacy cookies (iron-session)', () => {
  const password = {
    2: 'the iron-session password, 32+ characters',
    1: 'an older password of 32+ characters',
  };
  const legacy = () => ({
    legacy: [ironSession({ cookieName: 'app_session', password, ttl: 3600 })],
    legacyUntil: '2099-01-01',
  });
  /** An iron-session v8 cookie, sealed by iron-session itself (its current password, id 2). */
  const ironCookie = async (data: Record<string, unknown>) =>
    `app_session=${await sealData(data, { password, ttl: 3600 })}`;

  for (const mode of ['cookie', 'store'] as const) {
    test(`${mode} mode: a Server Action / Route Handler gets the old session; Latchkey's cookie is set and the old one expired`, async () => {
      const sessions = createSessions<Data>({
        keys,
        ...legacy(),
        ...(mode === 'store' ? { store: memoryStore() } : {}),
      });
      const action = actionCookies(`theme=dark; ${await ironCookie({ userName: 'ada', visits: 3 })}`);
      const session = await getSession(sessions, action.store);
      assert.equal(session.writable, true);
      assert.equal(session.get('userName'), 'ada');
      assert.equal(session.get('visits'), 3);
      // Without any save(): the move is already on the response.
      const expired = action.store.getAll().find((c) => c.name === 'app_session');
      assert.equal(expired?.value, '', 'the old cookie is expired through cookies().set');
      const cookie = action.next();
      assert.match(cookie, /__Host-lk=/);
      assert.doesNotMatch(cookie, /app_session/);
      assert.match(cookie, /theme=dark/);

      const page = await getSession(sessions, serverComponentCookies(cookie));
      assert.equal(page.isNew, false);
      assert.equal(page.get('userName'), 'ada');
      // Saving more after the move writes the Latchkey cookie only.
      session.set('visits', 4);
      await session.save();
      const later = await getSession(sessions, serverComponentCookies(action.next()));
      assert.equal(later.get('visits'), 4);
    });
  }

  test('a Server Component reads the old session; the move waits for the next writable call', async () => {
    const inner = memoryStore();
    let created = 0;
    const store = {
      ...inner,
      create: (...args: Parameters<typeof inner.create>) => {
        created++;
        return inner.create(...args);
      },
    };
    const sessions = createSessions<Data>({ keys, ...legacy(), store });
    const old = await ironCookie({ userName: 'ada' });
    const page = await getSession(sessions, serverComponentCookies(old));
    assert.equal(page.writable, false);
    assert.equal(page.get('userName'), 'ada');
    assert.throws(() => page.set('userName', 'eve'), isStateError);
    assert.equal(created, 0, 'nothing was written by the read-only render');

    const action = actionCookies(old);
    const moved = await getSession(sessions, action.store);
    assert.equal(moved.get('userName'), 'ada');
    assert.equal(created, 1, 'the writable call stored the moved session');
    assert.doesNotMatch(action.next(), /app_session/);
  });

  test('a tampered or wrong-password old cookie gets no session; nothing is set', async () => {
    const sessions = createSessions<Data>({ keys, ...legacy() });
    const good = await ironCookie({ userName: 'ada' });
    const flipped = good.replace(/.(~2)$/, (_, end) => `${good.at(-3) === 'A' ? 'B' : 'A'}${end}`);
    const other = `app_session=${await sealData({ userName: 'eve' }, { password: "someone else's password of 32+ chars" })}`;
    for (const cookie of [flipped, other, 'app_session=Fe26.2**garbage']) {
      const action = actionCookies(cookie);
      const session = await getSession(sessions, action.store);
      assert.equal(session.isNew, true, cookie.slice(0, 40));
      assert.equal(session.get('userName'), undefined);
      assert.doesNotMatch(action.next(), /__Host-lk/);
    }
  });

  test('without legacy readers, an old cookie is not even passed on', async () => {
    const sessions = createSessions<Data>({ keys });
    const action = actionCookies(await ironCookie({ userName: 'ada' }));
    const session = await getSession(sessions, action.store);
    assert.equal(session.get('userName'), undefined);
    assert.match(action.next(), /app_session=Fe26/);
  });
});

describe('latchkey/next getSession moves legacy cookies (express-session)', () => {
  test('an express-session cookie, which Next hands over percent-decoded, is passed on encoded again', async () => {
    const session = require('express-session') as { MemoryStore: new () => object };
    const { sign } = require('cookie-signature') as { sign(value: string, secret: string): string };
    const store = new session.MemoryStore() as {
      set(sid: string, data: object, cb: (error?: unknown) => void): void;
      get(sid: string, cb: (error: unknown, data?: unknown) => void): void;
    };
    // A sid (from the app's genid) with characters that cookies carry percent-encoded.
    const sid = 'odd sid; with, characters';
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    await new Promise<void>((resolve, reject) =>
      store.set(
        sid,
        { cookie: { originalMaxAge: 3_600_000, expires }, passport: { user: 'ada' } },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    const sessions = createSessions<Data>({
      keys,
      legacy: [expressSession({ secret: 'the old secret', store })],
      legacyUntil: '2099-01-01',
    });
    // What express-session sends: 's:' + cookie-signature, through encodeURIComponent (the cookie package).
    const cookie = `connect.sid=${encodeURIComponent(`s:${sign(sid, 'the old secret')}`)}`;
    const action = actionCookies(cookie);
    assert.match(
      action.store.getAll().find((c) => c.name === 'connect.sid')!.value,
      /^s:odd sid; with, /,
      'Next decodes it',
    );
    const moved = await getSession(sessions, action.store);
    assert.equal(moved.userId, 'ada');
    assert.doesNotMatch(action.next(), /connect\.sid/);
    const forged = actionCookies(cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    assert.equal((await getSession(sessions, forged.store)).userId, undefined);
  });
});
