import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { CookieJar } from '../../test/support/cookies.ts';
import { countingStore } from '../../test/support/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { newToken } from '../crypto/random.ts';
import { memoryStore } from '../stores/memory.ts';
import type { SessionStore } from '../stores/types.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions, type SessionEvent, type SessionsOptions } from './index.ts';

const KEYS = generateKeyLine('k1');
const NAME = '__Host-lk';
type Data = Record<string, unknown>;

function setup(options: SessionsOptions = {}) {
  const clock = createFakeClock();
  const backing = memoryStore({ clock });
  const { store, calls } = countingStore(backing);
  const events: SessionEvent[] = [];
  const sessions = createSessions<Data>({
    keys: KEYS,
    clock,
    store,
    onEvent: (e) => events.push(e),
    ...options,
  });
  const browser = () => {
    const jar = new CookieJar();
    const request = async (
      act: (s: Awaited<ReturnType<typeof sessions.load>>) => unknown = () => {},
      userAgent?: string,
    ) => {
      const headers: Record<string, string> = {};
      const cookie = jar.header();
      if (cookie) headers.cookie = cookie;
      if (userAgent) headers['user-agent'] = userAgent;
      const session = await sessions.load({ headers });
      await act(session);
      const setCookie = await sessions.commit(session);
      jar.apply(setCookie);
      return { session, setCookie };
    };
    return { jar, request };
  };
  return { clock, store, backing, calls, events, sessions, browser };
}

const keyOf = (token: string) => createHash('sha256').update(token).digest('base64url');

describe('store mode', () => {
  test('checklist #35: anonymous requests, junk and unknown tokens write nothing to the store', async () => {
    const { sessions, calls, backing } = setup();
    for (let i = 0; i < 300; i++) {
      const header = i % 3 === 0 ? undefined : i % 3 === 1 ? `${NAME}=junk${i}` : `${NAME}=${newToken()}`;
      const session = await sessions.load(header);
      assert.deepEqual(await sessions.commit(session), []);
    }
    assert.deepEqual(
      calls.filter((call) => call !== 'get'),
      [],
    );
    assert.equal(await backing.purgeExpired?.(Number.MAX_SAFE_INTEGER), 0, 'the store is empty');
  });

  test('checklist #1, #2, #5, #54: the cookie holds an opaque 256-bit token; the store holds its hash and sealed data', async () => {
    const { browser, backing } = setup();
    const user = browser();
    const { setCookie } = await user.request((s) => s.set('secret', 'PLAINTEXT-MARKER'));
    assert.match(setCookie[0]!, /^__Host-lk=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax$/);
    const token = user.jar.get(NAME)!;
    assert.equal(await backing.get(token), null, 'the token is not a store key');
    const record = await backing.get(keyOf(token));
    assert.ok(record);
    assert.equal(record.sealed.includes('PLAINTEXT'), false);
    assert.equal(JSON.stringify(record).includes(token), false);
  });

  test('checklist #3: a well-formed unknown token is never adopted', async () => {
    const { sessions, backing, events } = setup();
    const attacker = newToken();
    const session = await sessions.load(`${NAME}=${attacker}`);
    assert.equal(session.isNew, true);
    session.set('a', 1);
    const [line] = await sessions.commit(session);
    const issued = line!.slice(NAME.length + 1, line!.indexOf(';'));
    assert.notEqual(issued, attacker);
    assert.equal(await backing.get(keyOf(attacker)), null);
    assert.notEqual(await backing.get(keyOf(issued)), null);
    assert.ok(events.some((e) => e.type === 'invalid' && e.reason === 'unknown-session'));
  });

  test('an unmodified request makes exactly one store round trip and no write', async () => {
    const { browser, calls } = setup();
    const user = browser();
    await user.request((s) => s.set('a', 1));
    calls.length = 0;
    const { setCookie, session } = await user.request();
    assert.equal(session.get('a'), 1);
    assert.deepEqual(calls, ['get']);
    assert.deepEqual(setCookie, []);
  });

  test('checklist #23: login() regenerates: the pre-login token is dead at once', async () => {
    const { browser, backing, sessions } = setup();
    const user = browser();
    await user.request((s) => s.set('cart', [1]));
    const before = user.jar.get(NAME)!;
    await user.request(async (s) => {
      await s.login('alice');
      assert.equal(await backing.get(keyOf(before)), null, 'deleted before the response is sent');
    });
    const after = user.jar.get(NAME)!;
    assert.notEqual(after, before);
    assert.equal(
      (await sessions.load(`${NAME}=${before}`)).isNew,
      true,
      "the attacker's fixed token is dead",
    );
    const { session } = await user.request();
    assert.equal(session.userId, 'alice');
    assert.deepEqual(session.get('cart'), [1]);
  });

  test('checklist #30: a token captured before logout is anonymous afterwards', async () => {
    const { browser, sessions } = setup();
    const user = browser();
    await user.request((s) => s.login('alice'));
    const captured = user.jar.get(NAME)!;
    const { setCookie } = await user.request((s) => s.destroy());
    assert.match(setCookie[0]!, /^__Host-lk=; .*Max-Age=0/);
    const replay = await sessions.load(`${NAME}=${captured}`);
    assert.equal(replay.isNew, true);
    assert.equal(replay.userId, undefined);
  });

  test('no lost updates: 50 concurrent requests each setting a different key all persist', async () => {
    const { browser, sessions } = setup();
    const user = browser();
    await user.request((s) => s.set('start', true));
    const header = user.jar.header()!;
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const session = await sessions.load(header);
        await new Promise((resolve) => setImmediate(resolve));
        session.set(`k${i}`, i);
        await sessions.commit(session);
      }),
    );
    const { session } = await user.request();
    for (let i = 0; i < 50; i++) assert.equal(session.get(`k${i}`), i, `k${i}`);
    assert.equal(session.get('start'), true);
  });

  test('a deletion is re-applied too; the same key is last-writer-wins', async () => {
    const { browser, sessions } = setup();
    const user = browser();
    await user.request((s) => {
      s.set('a', 1);
      s.set('b', 1);
    });
    const header = user.jar.header()!;
    const first = await sessions.load(header);
    const second = await sessions.load(header);
    first.delete('a');
    first.set('same', 'first');
    second.set('c', 3);
    second.set('same', 'second');
    await sessions.commit(first);
    await sessions.commit(second);
    const { session } = await user.request();
    assert.deepEqual({ ...session.data }, { b: 1, same: 'second', c: 3 });
  });

  test('checklist #31: a slow request that ends after logout neither revives the record nor sets a cookie', async () => {
    const { browser, sessions, backing } = setup();
    const user = browser();
    await user.request((s) => s.login('alice'));
    const token = user.jar.get(NAME)!;
    const slow = await sessions.load(`${NAME}=${token}`);
    await user.request((s) => s.destroy());
    slow.set('late', true);
    assert.deepEqual(await sessions.commit(slow), []);
    assert.equal(await backing.get(keyOf(token)), null);
  });

  test('checklist #24/#25: idle and absolute expiry from the sealed clocks destroy the record', async () => {
    const { browser, clock, backing } = setup({
      idleTimeout: '30m',
      absoluteTimeout: '2h',
      touchAfter: '1m',
    });
    const user = browser();
    await user.request((s) => s.set('a', 1));
    const token = user.jar.get(NAME)!;
    clock.advance('29m');
    assert.equal((await user.request()).session.isNew, false);
    clock.advance('31m');
    assert.equal((await user.request()).session.isNew, true);
    assert.equal(await backing.get(keyOf(token)), null);
    const busy = browser();
    await busy.request((s) => s.set('a', 1));
    for (let minute = 0; minute < 110; minute += 10) {
      clock.advance('10m');
      assert.equal((await busy.request()).session.isNew, false);
    }
    clock.advance('10m');
    assert.equal((await busy.request()).session.isNew, true, 'absolute timeout despite activity');
  });

  test('rolling renewal touches lastSeen without a new version, at most every touchAfter', async () => {
    const { browser, clock, calls } = setup({ touchAfter: '5m' });
    const user = browser();
    await user.request((s) => s.set('a', 1));
    calls.length = 0;
    clock.advance('4m');
    await user.request();
    assert.deepEqual(calls, ['get']);
    clock.advance('2m');
    await user.request();
    assert.deepEqual(calls, ['get', 'get', 'touch']);
  });

  test('checklist #33: list a user’s devices; revoke all but the current one', async () => {
    const { browser, sessions, clock } = setup();
    const laptop = browser();
    const phone = browser();
    const tablet = browser();
    await laptop.request(
      (s) => s.login('u1'),
      'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
    );
    clock.advance('1s');
    await phone.request(
      (s) => s.login('u1'),
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1',
    );
    clock.advance('1s');
    await tablet.request((s) => s.login('u1'));
    const { session: current } = await laptop.request();
    const devices = await sessions.listUserSessions('u1', { current });
    assert.deepEqual(
      devices.map((d) => [d.label, d.current]),
      [
        ['Firefox on Linux', true],
        ['Safari on iPhone', false],
        [undefined, false],
      ],
    );
    assert.ok(devices.every((d) => /^[A-Za-z0-9_-]{43}$/.test(d.id) && d.id !== laptop.jar.get(NAME)));
    assert.equal(await sessions.revokeUserSessions('u1', { except: current }), 2);
    assert.equal((await phone.request()).session.isNew, true);
    assert.equal((await tablet.request()).session.isNew, true);
    assert.equal((await laptop.request()).session.userId, 'u1');
  });

  test('revokeUserSession ends one device, and only the user’s own', async () => {
    const { browser, sessions } = setup();
    const mine = browser();
    const theirs = browser();
    await mine.request((s) => s.login('u1'));
    await theirs.request((s) => s.login('u2'));
    const [their] = await sessions.listUserSessions('u2');
    assert.equal(await sessions.revokeUserSession('u1', their!.id), false);
    assert.equal(await sessions.revokeUserSession('u1', 'not-an-id'), false);
    const [own] = await sessions.listUserSessions('u1');
    assert.equal(await sessions.revokeUserSession('u1', own!.id), true);
    assert.equal((await mine.request()).session.isNew, true);
    assert.equal((await theirs.request()).session.userId, 'u2');
  });

  test('checklist #4: when a new token collides, a fresh one is drawn and the existing session is untouched', async () => {
    const clock = createFakeClock();
    const backing = memoryStore({ clock });
    let collide = 2;
    const store: SessionStore = {
      ...backing,
      create: async (key, record) => (collide-- > 0 ? false : backing.create(key, record)),
    };
    const sessions = createSessions<Data>({ keys: KEYS, clock, store });
    const session = await sessions.load(undefined);
    session.set('a', 1);
    const [line] = await sessions.commit(session);
    assert.match(line ?? '', /^__Host-lk=[A-Za-z0-9_-]{43};/);
    const never = createSessions<Data>({
      keys: KEYS,
      clock,
      store: { ...backing, create: async () => false },
    });
    const doomed = await never.load(undefined);
    doomed.set('a', 1);
    await assert.rejects(never.commit(doomed), { code: 'ERR_LATCHKEY_CONFLICT' });
  });

  test('a record edited or moved in the store is no session (the sealed payload binds key, version, user)', async () => {
    const { browser, backing, sessions } = setup();
    const user = browser();
    await user.request((s) => s.login('alice'));
    const token = user.jar.get(NAME)!;
    const record = (await backing.get(keyOf(token)))!;
    const other = newToken();
    await backing.create(keyOf(other), record);
    assert.equal((await sessions.load(`${NAME}=${other}`)).isNew, true, 'moved to another key');
    assert.equal(await backing.update(keyOf(token), { ...record, userId: 'mallory', version: 2 }, 1), 'ok');
    assert.equal((await sessions.load(`${NAME}=${token}`)).isNew, true, 'user column edited');
  });

  test('checklist #42: a record sealed with an old key opens and is resealed with the current one', async () => {
    const clock = createFakeClock();
    const store = memoryStore({ clock });
    const old = createSessions<Data>({ keys: KEYS, clock, store });
    const s1 = await old.load(undefined);
    s1.set('a', 1);
    const [line] = await old.commit(s1);
    const token = line!.slice(NAME.length + 1, line!.indexOf(';'));
    const events: SessionEvent[] = [];
    const rotated = createSessions<Data>({
      keys: `${generateKeyLine('k2')},${KEYS}`,
      clock,
      store,
      onEvent: (e) => events.push(e),
    });
    const s2 = await rotated.load(`${NAME}=${token}`);
    assert.equal(s2.get('a'), 1);
    await rotated.commit(s2);
    assert.match((await store.get(keyOf(token)))!.sealed, /^v1\.k2\./);
    assert.deepEqual(
      events.filter((e) => e.type === 'rotated'),
      [{ type: 'rotated', fromKid: 'k1', toKid: 'k2', at: clock.now() }],
    );
  });

  test('cookie cache: reads skip the store while fresh; revocation takes effect within maxAge', async () => {
    const { browser, calls, clock, sessions } = setup({ cookieCache: { maxAge: '1m' } });
    const user = browser();
    const { setCookie } = await user.request((s) => s.login('alice'));
    assert.deepEqual(
      setCookie.map((l) => l.slice(0, l.indexOf('='))),
      ['__Host-lk', '__Host-lk.cache'],
    );
    calls.length = 0;
    for (let i = 0; i < 5; i++) assert.equal((await user.request()).session.userId, 'alice');
    assert.deepEqual(calls, [], 'no store round trip while the snapshot is fresh');
    await sessions.revokeUserSessions('alice');
    assert.equal((await user.request()).session.userId, 'alice', 'still cached: the documented trade-off');
    clock.advance('61s');
    assert.equal(
      (await user.request()).session.isNew,
      true,
      'revoked once the snapshot is older than maxAge',
    );
  });

  test('cookie cache: a write from a stale snapshot merges with the store, and a tampered cache is ignored', async () => {
    const { browser, sessions } = setup({ cookieCache: { maxAge: '1m' } });
    const user = browser();
    await user.request((s) => s.set('a', 1));
    const header = user.jar.header()!;
    const other = await sessions.load(header);
    other.set('b', 2);
    await sessions.commit(other);
    await user.request((s) => s.set('c', 3)); // from the old snapshot: version conflict, then merge
    const token = user.jar.get(NAME)!;
    const fresh = await sessions.load(`${NAME}=${token}`);
    assert.deepEqual({ ...fresh.data }, { a: 1, b: 2, c: 3 });
    const forged = await sessions.load(`${NAME}=${token}; ${NAME}.cache=v1.k1.${'A'.repeat(80)}`);
    assert.deepEqual({ ...forged.data }, { a: 1, b: 2, c: 3 }, 'read from the store instead');
  });

  test('checklist #48: a store outage rejects load with ERR_LATCHKEY_STORE_UNAVAILABLE, never a signed-out-looking session', async () => {
    const down: SessionStore = {
      ...memoryStore(),
      get: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      },
    };
    const sessions = createSessions<Data>({ keys: KEYS, store: down });
    await assert.rejects(sessions.load(`${NAME}=${newToken()}`), { code: 'ERR_LATCHKEY_STORE_UNAVAILABLE' });
    const anonymous = await sessions.load(undefined);
    assert.equal(anonymous.isNew, true, 'no cookie, no store call');
  });

  test('configuration: cookieCache needs a store; a store must have the whole contract; cookie mode has no device list', async () => {
    assert.throws(() => createSessions({ keys: KEYS, cookieCache: { maxAge: '1m' } }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
    assert.throws(() => createSessions({ keys: KEYS, store: { get: async () => null } as never }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
    await assert.rejects(createSessions({ keys: KEYS }).listUserSessions('u1'), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
  });
});
