/**
 * Cookie mode's per-user revocation (checklist #41): with `revocation`, a captured cookie is refused
 * after its sign-out or after the user is signed out everywhere (a password change).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countingStore, sessionBrowser } from '../../test/support/sessions.ts';
import { lockSession } from '../adapters/shared.ts';
import { createKeyring, generateKeyLine, parseKeyring } from '../crypto/keyring.ts';
import { randomBytes } from '../crypto/random.ts';
import { isLatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import type { SessionStore } from '../stores/types.ts';
import { createFakeClock, type FakeClock } from '../testing/fake-clock.ts';
import { createSessions, type SessionEvent, type Sessions, type SessionsOptions } from './index.ts';
import { MAX_DENIED_SESSIONS, revocationRecord } from './revocation.ts';

const KEYS = generateKeyLine('k1');
type Data = Record<string, unknown>;

function setup(options: SessionsOptions = {}) {
  const clock: FakeClock = createFakeClock();
  const backing = memoryStore({ clock });
  const { store, calls } = countingStore(backing);
  const events: SessionEvent['type'][] = [];
  const sessions = createSessions<Data>({
    keys: KEYS,
    clock,
    revocation: store,
    onEvent: (event) => events.push(event.type),
    ...options,
  });
  return { clock, backing, calls, events, sessions };
}

const browser = sessionBrowser;

async function signedIn(sessions: Sessions<Data>, userId: string) {
  const device = browser(sessions);
  await device.request((session) => session.login(userId));
  await device.request((session) => session.set('seen', true));
  return device;
}

describe('cookie-mode revocation', () => {
  test('a captured cookie is refused after its sign-out; the same user on another device stays in', async () => {
    const { sessions, events } = setup();
    const laptop = await signedIn(sessions, 'alice');
    const phone = await signedIn(sessions, 'alice');
    const captured = laptop.jar.header();
    assert.equal((await laptop.replay(captured)).userId, 'alice');

    await laptop.request((session) => session.destroy());
    const replayed = await laptop.replay(captured);
    assert.equal(replayed.isNew, true);
    assert.equal(replayed.userId, undefined);
    assert.ok(events.includes('revoked'));
    assert.equal((await phone.request()).userId, 'alice');
  });

  test('the revoked cookie is cleared on the response that refuses it', async () => {
    const { sessions } = setup();
    const laptop = await signedIn(sessions, 'alice');
    const captured = laptop.jar.header();
    await laptop.request((session) => session.destroy());
    const thief = browser(sessions);
    const session = await thief.replay(captured);
    const setCookie = await sessions.commit(session);
    assert.equal(setCookie.length, 1);
    assert.match(setCookie[0]!, /^__Host-lk=; /);
  });

  test('signing out everywhere but here (a password change) ends the other devices only', async () => {
    const { sessions, clock } = setup();
    const laptop = await signedIn(sessions, 'alice');
    const phone = await signedIn(sessions, 'alice');
    const bob = await signedIn(sessions, 'bob');
    const phoneCookie = phone.jar.header();

    await laptop.request((session) => sessions.revokeUserSessions('alice', { except: session }));
    assert.equal((await laptop.request()).userId, 'alice');
    assert.equal((await phone.replay(phoneCookie)).isNew, true);
    assert.equal((await bob.request()).userId, 'bob');
    // Signing in again after the revocation works, on the device that was signed out too.
    clock.advance('1ms');
    const again = await signedIn(sessions, 'alice');
    assert.equal((await again.request()).userId, 'alice');
  });

  test('revokeUserSessions without except ends every session the user had, this one included', async () => {
    const { sessions, clock } = setup();
    const laptop = await signedIn(sessions, 'alice');
    clock.advance('1s');
    await sessions.revokeUserSessions('alice');
    assert.equal((await laptop.request()).isNew, true);
  });

  test('a new sign-in over an old one ends the old cookie (fixation defence across the cookie value)', async () => {
    const { sessions } = setup();
    const laptop = await signedIn(sessions, 'alice');
    const before = laptop.jar.header();
    await laptop.request((session) => session.login('alice'));
    assert.equal((await laptop.replay(before)).isNew, true);
    assert.equal((await laptop.request()).userId, 'alice');

    const regenerated = laptop.jar.header();
    await laptop.request((session) => session.regenerate());
    assert.equal((await laptop.replay(regenerated)).isNew, true);
    assert.equal((await laptop.request()).userId, 'alice');
  });

  test('anonymous requests never touch the store; a signed-in request reads it once and writes nothing', async () => {
    const { sessions, calls } = setup();
    const visitor = browser(sessions);
    await visitor.request((session) => session.set('cart', [1]));
    await visitor.request((session) => session.set('cart', [1, 2]));
    assert.deepEqual(calls, []);

    const user = await signedIn(sessions, 'alice');
    calls.length = 0;
    await user.request((session) => session.set('n', 1));
    assert.deepEqual(calls, ['get']);
  });

  test('concurrent sign-outs of one user are all kept (compare-and-set on the record)', async () => {
    const { sessions } = setup();
    const devices = await Promise.all(Array.from({ length: 20 }, () => signedIn(sessions, 'alice')));
    const captured = devices.map((device) => device.jar.header());
    await Promise.all(devices.map((device) => device.request((session) => session.destroy())));
    for (const cookie of captured) assert.equal((await devices[0]!.replay(cookie)).isNew, true);
  });

  test('sign-ins made before revocation was configured: their sign-out and "everywhere" both end every copy', async () => {
    const clock = createFakeClock();
    const store = memoryStore({ clock });
    const plain = createSessions<Data>({ keys: KEYS, clock });
    const revoking = createSessions<Data>({ keys: KEYS, clock, revocation: store });
    const laptop = await signedIn(plain, 'alice');
    clock.advance('1s');
    const phone = await signedIn(plain, 'alice');
    const laptopCopy = laptop.jar.header();
    const phoneCopy = phone.jar.header();

    const device = browser(revoking);
    device.jar.apply([`__Host-lk=${laptop.jar.get('__Host-lk')}`]);
    assert.equal((await device.request((session) => session.set('x', 1))).userId, 'alice');
    await device.request((session) => session.destroy());
    assert.equal((await device.replay(laptopCopy)).isNew, true, 'the copy sealed before revocation');
    assert.equal((await device.replay(phoneCopy)).userId, 'alice', 'another sign-in of the same user');

    clock.advance('1s');
    await revoking.revokeUserSessions('alice');
    assert.equal((await device.replay(phoneCopy)).isNew, true, 'sign out everywhere, without except');
  });

  test('the session kept by "everywhere else" survives a regenerate after it; copies of its old cookie do not', async () => {
    const { sessions } = setup();
    const laptop = await signedIn(sessions, 'alice');
    const before = laptop.jar.header();
    await laptop.request(async (session) => {
      await sessions.revokeUserSessions('alice', { except: session });
      await session.regenerate();
    });
    assert.equal((await laptop.request()).userId, 'alice');
    assert.equal((await laptop.replay(before)).isNew, true);
  });

  test('a sign-in in the same millisecond as a revocation (a password reset) stays signed in', async () => {
    const { sessions } = setup();
    await signedIn(sessions, 'alice');
    const device = browser(sessions);
    await device.request(async (session) => {
      await sessions.revokeUserSessions('alice');
      await session.login('alice');
    });
    assert.equal((await device.request()).userId, 'alice');
  });

  test("another server's clock running ahead never stamps this server's sign-ins into the future", async () => {
    const clock = createFakeClock();
    const store = memoryStore({ clock });
    const ahead = createSessions<Data>({
      keys: KEYS,
      clock: { now: () => clock.now() + 25_000 },
      revocation: store,
    });
    const here = createSessions<Data>({ keys: KEYS, clock, revocation: store });
    await ahead.revokeUserSessions('bob');
    await here.revokeUserSessions('bob'); // reads and keeps the other server's later not-before time
    const attacker = await signedIn(here, 'alice');
    clock.advance('6s');
    await here.revokeUserSessions('alice');
    assert.equal((await attacker.request()).isNew, true);
  });

  test("a stolen cookie's request that regenerates after the owner signed out gets no signed-in cookie", async () => {
    const { sessions } = setup();
    const owner = await signedIn(sessions, 'alice');
    const stolen = await sessions.load({ headers: { cookie: owner.jar.header()! } }); // in flight
    await owner.request((session) => session.destroy());
    await stolen.regenerate();
    const thief = browser(sessions);
    thief.jar.apply(await sessions.commit(stolen));
    const next = await thief.request();
    assert.equal(next.userId, undefined);
    assert.equal(next.has('seen'), false, 'none of the signed-out session carried over');
  });

  test('the session whose regenerate overflows the record stays signed in when the store read takes time', async () => {
    const clock = createFakeClock();
    const backing = memoryStore({ clock });
    let slow = false;
    const store: SessionStore = {
      ...backing,
      get: async (key) => {
        const record = await backing.get(key);
        if (slow) clock.advance(1); // a real store: time passes during the read
        return record;
      },
    };
    const sessions = createSessions<Data>({ keys: KEYS, clock, revocation: store });
    const device = browser(sessions);
    await device.request((session) => session.login('alice'));
    for (let i = 0; i < MAX_DENIED_SESSIONS; i++) await device.request((session) => session.regenerate());
    slow = true;
    await device.request((session) => session.regenerate()); // one past the cap
    assert.equal((await device.request()).userId, 'alice');
  });

  test("the session kept by except keeps its stamp when another user's revocation runs meanwhile", async () => {
    const { sessions, clock } = setup();
    const alice = await signedIn(sessions, 'alice');
    await signedIn(sessions, 'bob');
    clock.advance(10);
    await alice.request(async (session) => {
      const kept = sessions.revokeUserSessions('alice', { except: session });
      clock.advance(1); // bob's "sign out everywhere" starts a millisecond later
      await Promise.all([kept, sessions.revokeUserSessions('bob')]);
    });
    clock.advance(5);
    assert.equal((await alice.request()).userId, 'alice');
  });

  test('except must be a session whose response has not gone out', async () => {
    const { sessions } = setup();
    const laptop = await signedIn(sessions, 'alice');
    const session = await laptop.request();
    lockSession(session); // as the adapters do once the response headers are out
    await assert.rejects(sessions.revokeUserSessions('alice', { except: session }), (err) =>
      isLatchkeyError(err, 'ERR_LATCHKEY_STATE'),
    );
  });

  test('a sign-out past the session deadline (a slow request) writes nothing and does not fail', async () => {
    const { sessions, calls, clock } = setup({ clockSkew: 0, absoluteTimeout: '1h', idleTimeout: '1h' });
    const laptop = await signedIn(sessions, 'alice');
    calls.length = 0;
    await laptop.request(async (session) => {
      clock.advance('1h'); // the request outlived the session
      await session.destroy();
    });
    assert.deepEqual(calls, ['get']);
  });

  test('a server whose clock lags within clockSkew still sees "everywhere" across a window boundary', async () => {
    const HOUR = 3_600_000;
    const clock = createFakeClock();
    const boundary = Math.ceil(clock.now() / HOUR) * HOUR + HOUR;
    const store = memoryStore({ clock });
    const options: SessionsOptions = {
      keys: KEYS,
      revocation: store,
      absoluteTimeout: '1h',
      idleTimeout: '1h',
      clockSkew: '30s',
    };
    const revoking = createSessions<Data>({ ...options, clock });
    const lagging = createSessions<Data>({ ...options, clock: { now: () => clock.now() - 20_000 } });
    clock.set(boundary - 10_000);
    const laptop = await signedIn(revoking, 'alice');
    const copy = laptop.jar.header();
    clock.set(boundary + HOUR + 5_000); // past the deadline here; 15 s before it on the lagging server
    assert.equal((await browser(lagging).replay(copy)).userId, 'alice');
    await revoking.revokeUserSessions('alice');
    assert.equal((await browser(lagging).replay(copy)).isNew, true);
  });

  test('a key held by a row that get() cannot read is a coded conflict, not an endless retry', async () => {
    const { sessions, backing, clock } = setup();
    const record = revocationRecord('alice', 24 * 3_600_000, clock.now());
    const planted = await backing.create(record.key, {
      sealed: 'not a sealed value',
      createdAt: 0,
      lastSeenAt: 0,
      expiresAt: clock.now() - 1, // expired, not purged: create() refuses to replace it
      absoluteAt: clock.now() - 1,
      version: 1,
    });
    assert.equal(planted, true);
    await assert.rejects(
      sessions.revokeUserSessions('alice'),
      (err) => isLatchkeyError(err, 'ERR_LATCHKEY_CONFLICT') && /unreadable or expired row/.test(err.message),
    );
  });

  test('expired sign-outs are dropped from the record; past the cap, the user is signed out everywhere', async () => {
    const { sessions, backing, clock } = setup({ absoluteTimeout: '1h', idleTimeout: '1h' });
    const HOUR = 3_600_000;
    const start = Math.ceil(clock.now() / HOUR) * HOUR + HOUR; // the start of a window of sign-in times
    clock.set(start);
    const first = await signedIn(sessions, 'alice');
    await first.request((session) => session.destroy());
    clock.advance('30m');
    const keeper = await signedIn(sessions, 'alice');
    const devices: Array<ReturnType<typeof browser>> = [];
    for (let i = 0; i <= MAX_DENIED_SESSIONS; i++) devices.push(await signedIn(sessions, 'alice'));
    clock.advance('31m'); // the first sign-out's cookie has expired by itself now
    for (const device of devices.slice(1)) await device.request((session) => session.destroy());
    assert.equal((await keeper.request()).userId, 'alice', 'at the cap, others are still listed one by one');
    await devices[0]!.request((session) => session.regenerate()); // which lists its old id
    assert.equal((await keeper.request()).isNew, true, 'one past the cap ends every older sign-in');
    assert.equal((await devices[0]!.request()).userId, 'alice', 'but not the session that went past it');
    const stored = await backing.get(revocationRecord('alice', HOUR, start).key);
    assert.ok(stored && stored.sealed.length < 1000, 'the record shrank when the list was dropped');
  });

  test('records follow windows of sign-in time: revocation reaches sessions signed in over two windows', async () => {
    const { sessions, clock } = setup({ absoluteTimeout: '1h', idleTimeout: '1h' });
    const HOUR = 3_600_000;
    clock.set(Math.ceil(clock.now() / HOUR) * HOUR + HOUR - 60_000); // one minute before a window ends
    const early = await signedIn(sessions, 'alice');
    const earlyCookie = early.jar.header();
    clock.advance('2m');
    const late = await signedIn(sessions, 'alice');
    clock.advance('10m');
    await early.request((session) => session.destroy()); // written to the earlier window's record
    assert.equal((await early.replay(earlyCookie)).isNew, true);
    assert.equal((await late.request()).userId, 'alice');
    const other = await signedIn(sessions, 'alice');
    const otherCookie = other.jar.header();
    clock.advance('1ms');
    await sessions.revokeUserSessions('alice', {});
    assert.equal((await late.request()).isNew, true);
    assert.equal((await other.replay(otherCookie)).isNew, true);
  });

  test('after absoluteTimeout changes, earlier sign-ins are still revoked, one by one and everywhere', async () => {
    const clock = createFakeClock();
    const store = memoryStore({ clock });
    const before = createSessions<Data>({ keys: KEYS, clock, revocation: store, absoluteTimeout: '24h' });
    const laptop = await signedIn(before, 'alice');
    const phone = await signedIn(before, 'alice');
    const laptopCookie = laptop.jar.header();
    await laptop.request((session) => session.destroy());
    clock.advance('30m');
    const after = createSessions<Data>({ keys: KEYS, clock, revocation: store, absoluteTimeout: '12h' });
    assert.equal((await browser(after).replay(laptopCookie)).isNew, true, 'the sign-out still holds');
    const phoneDevice = browser(after);
    phoneDevice.jar.apply([`__Host-lk=${phone.jar.get('__Host-lk')}`]);
    assert.equal((await phoneDevice.request()).userId, 'alice');
    await after.revokeUserSessions('alice');
    assert.equal((await phoneDevice.request()).isNew, true, 'revokeUserSessions under the new timeout');
  });

  test('a record that no longer opens (its key retired) fails closed as of its last write', async () => {
    const clock = createFakeClock();
    const store = memoryStore({ clock });
    const retired = createSessions<Data>({
      keys: createKeyring([{ kid: 'old', key: randomBytes(32) }]),
      clock,
      revocation: store,
    });
    const current = createSessions<Data>({
      keys: createKeyring([{ kid: 'new', key: randomBytes(32) }]),
      clock,
      revocation: store,
    });
    const early = await signedIn(current, 'alice');
    clock.advance('1s');
    const laptop = await signedIn(retired, 'alice');
    await laptop.request((session) => session.destroy()); // the record, sealed under 'old'
    clock.advance('1s');
    assert.equal((await early.request()).isNew, true, 'signed in before the unreadable record was written');
    const late = await signedIn(current, 'alice');
    assert.equal((await late.request()).userId, 'alice', 'signed in after it');
  });

  test('a revocation store outage is a coded ERR_LATCHKEY_STORE_UNAVAILABLE, never a signed-in request', async () => {
    const clock = createFakeClock();
    const store = memoryStore({ clock });
    let down = false;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')) : value.apply(target, args);
      },
    });
    const sessions = createSessions<Data>({ keys: KEYS, clock, revocation: flaky });
    const laptop = await signedIn(sessions, 'alice');
    down = true;
    await assert.rejects(laptop.request(), (err) => isLatchkeyError(err, 'ERR_LATCHKEY_STORE_UNAVAILABLE'));
    await assert.rejects(sessions.revokeUserSessions('alice'), (err) =>
      isLatchkeyError(err, 'ERR_LATCHKEY_STORE_UNAVAILABLE'),
    );
    const anonymous = await browser(sessions).request((session) => session.set('a', 1));
    assert.equal(anonymous.get('a'), 1, 'anonymous requests are still served');
    down = false;
    assert.equal((await laptop.request()).userId, 'alice');
  });

  test('configuration: revocation is a Latchkey store, for cookie mode only; cookie mode without it refuses', async () => {
    assert.throws(
      () => createSessions({ keys: KEYS, revocation: {} as SessionStore }),
      (err) => isLatchkeyError(err, 'ERR_LATCHKEY_CONFIG') && /revocation is missing/.test(err.message),
    );
    assert.throws(
      () => createSessions({ keys: KEYS, store: memoryStore(), revocation: memoryStore() }),
      (err) => isLatchkeyError(err, 'ERR_LATCHKEY_CONFIG') && /cookie mode/.test(err.message),
    );
    const plain = createSessions({ keys: parseKeyring(KEYS) });
    await assert.rejects(plain.revokeUserSessions('alice'), (err) =>
      isLatchkeyError(err, 'ERR_LATCHKEY_CONFIG'),
    );
    const { sessions } = setup();
    await assert.rejects(sessions.revokeUserSessions(''), TypeError);
    await assert.rejects(sessions.revokeUserSessions('alice', { except: 'some-id' }), TypeError);
  });
});
