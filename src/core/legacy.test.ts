import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, test } from 'node:test';
import { CookieJar } from '../../test/support/cookies.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { isLatchkeyError, StoreUnavailable } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions, type SessionEvent, type SessionsOptions } from './index.ts';
import type { LegacyReader } from './legacy.ts';

// The core's side of live migration, with a small signed-JSON reader written here; the readers for
// real libraries are tested against cookies those libraries make (src/compat/legacy/*.test.ts).
const KEYS = generateKeyLine('k1');
const OLD_SECRET = 'old-secret-of-the-app';
const sign = (body: string) => createHmac('sha256', OLD_SECRET).update(body).digest('base64url');
const oldCookie = (data: object) => {
  const body = Buffer.from(JSON.stringify(data)).toString('base64url');
  return `${body}.${sign(body)}`;
};

function signedJsonReader(options: { async?: boolean; calls?: string[] } = {}): LegacyReader {
  const read = (value: string | undefined) => {
    options.calls?.push('read');
    if (value === undefined) return undefined;
    const [body = '', signature = ''] = value.split('.');
    const expected = Buffer.from(sign(body));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const { user, ...data } = JSON.parse(Buffer.from(body, 'base64url').toString());
    return { data, userId: user };
  };
  return {
    name: 'signed-json',
    cookieNames: ['old.sid'],
    expire: [{ name: 'old.sid', path: '/app', domain: 'example.com' }],
    synchronous: !options.async,
    read: (request) => {
      const value = request.cookies('old.sid')[0];
      return options.async ? Promise.resolve().then(() => read(value)) : read(value);
    },
    migrated: () => {
      options.calls?.push('migrated');
    },
  };
}

function setup(mode: 'cookie' | 'store', options: SessionsOptions = {}) {
  const clock = createFakeClock();
  const events: SessionEvent[] = [];
  const sessions = createSessions({
    keys: KEYS,
    clock,
    legacyUntil: new Date(clock.now() + 86_400_000).toISOString(),
    onEvent: (event) => events.push(event),
    ...(mode === 'store' ? { store: memoryStore({ clock }) } : {}),
    ...options,
  });
  return { sessions, clock, events };
}

for (const mode of ['cookie', 'store'] as const) {
  for (const async of [false, true]) {
    describe(`legacy readers, ${mode} mode, ${async ? 'asynchronous' : 'synchronous'} reader`, () => {
      test('an old cookie becomes a Latchkey session, with the old cookie expired on the same response', async () => {
        const calls: string[] = [];
        const { sessions, events } = setup(mode, { legacy: [signedJsonReader({ async, calls })] });
        const value = oldCookie({ user: 'u-7', cart: [1, 2] });
        const session = await sessions.load({ headers: { cookie: `other=1; old.sid=${value}` } });
        assert.equal(session.userId, 'u-7');
        assert.deepEqual({ ...session.data }, { cart: [1, 2] });
        assert.equal(session.isNew, false);
        const lines = await sessions.commit(session);
        assert.equal(lines.length, 2);
        assert.match(lines[0]!, /^__Host-lk=/);
        assert.equal(
          lines[1],
          'old.sid=; Path=/app; Domain=example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
        );
        assert.deepEqual(calls, ['read', 'migrated']);
        assert.ok(events.some((event) => event.type === 'migrated' && event.from === 'signed-json'));

        // The next request, with only Latchkey's cookie, is the same user.
        const jar = new CookieJar().apply(lines);
        const next = await sessions.load({ headers: { cookie: jar.header()! } });
        assert.equal(next.userId, 'u-7');
        assert.deepEqual(next.data.cart, [1, 2]);
        assert.deepEqual(await sessions.commit(next), []);
      });

      test('a tampered old cookie gets no session and an invalid:legacy event', async () => {
        const { sessions, events } = setup(mode, { legacy: [signedJsonReader({ async })] });
        const value = oldCookie({ user: 'u-7' });
        const tampered = `${Buffer.from('{"user":"admin"}').toString('base64url')}.${value.split('.')[1]}`;
        const session = await sessions.load({ headers: { cookie: `old.sid=${tampered}` } });
        assert.equal(session.isNew, true);
        assert.equal(session.userId, undefined);
        assert.deepEqual(await sessions.commit(session), []);
        assert.ok(events.some((event) => event.type === 'invalid' && event.reason === 'legacy'));
      });

      test('after legacyUntil, old cookies are ignored: the reader is not even asked', async () => {
        const calls: string[] = [];
        const { sessions, clock } = setup(mode, { legacy: [signedJsonReader({ async, calls })] });
        clock.advance(86_400_000);
        const session = await sessions.load({ headers: { cookie: `old.sid=${oldCookie({ user: 'u' })}` } });
        assert.equal(session.userId, undefined);
        assert.deepEqual(calls, []);
      });

      test('a request with a Latchkey cookie never asks the readers', async () => {
        const calls: string[] = [];
        const { sessions } = setup(mode, { legacy: [signedJsonReader({ async, calls })] });
        const first = await sessions.load({ headers: {} });
        first.set('n', 1);
        const jar = new CookieJar().apply(await sessions.commit(first));
        const session = await sessions.load({
          headers: { cookie: `${jar.header()}; old.sid=${oldCookie({ user: 'u' })}` },
        });
        assert.equal(session.get('n'), 1);
        assert.equal(session.userId, undefined);
        assert.deepEqual(calls, []);
      });
    });
  }

  test(`${mode} mode: a reader that reports an old-store outage fails the request as a store outage`, async () => {
    const reader: LegacyReader = {
      ...signedJsonReader(),
      synchronous: false,
      read: async () => {
        throw new StoreUnavailable('old store down');
      },
    };
    const { sessions } = setup(mode, { legacy: [reader] });
    await assert.rejects(sessions.load({ headers: { cookie: 'old.sid=x' } }), (error) =>
      isLatchkeyError(error, 'ERR_LATCHKEY_STORE_UNAVAILABLE'),
    );
  });

  test(`${mode} mode: a reader that throws anything else, or returns junk, is a refused cookie`, async () => {
    for (const read of [
      () => {
        throw new TypeError('bug');
      },
      () => ({ data: { __proto__: { admin: true } }, userId: '' }),
      () => ({ data: [] as unknown as Record<string, unknown> }),
      () => ({ data: {}, expiresAt: 1 }),
    ]) {
      const { sessions, events } = setup(mode, { legacy: [{ ...signedJsonReader(), read }] });
      const session = await sessions.load({ headers: { cookie: 'old.sid=x' } });
      assert.equal(session.isNew, true);
      assert.equal(session.userId, undefined);
      assert.ok(events.some((event) => event.type === 'invalid' && event.reason === 'legacy'));
    }
  });
}

test('cookie mode keeps its synchronous path with synchronous readers only', () => {
  const sync = setup('cookie', { legacy: [signedJsonReader()] }).sessions as unknown as {
    synchronous: boolean;
  };
  const async = setup('cookie', { legacy: [signedJsonReader({ async: true })] }).sessions as unknown as {
    synchronous: boolean;
  };
  assert.equal(sync.synchronous, true);
  assert.equal(async.synchronous, false);
});

test('the session clock: an old sign-in time within the absolute timeout counts, the old end caps it', async () => {
  const clock = createFakeClock();
  const now = clock.now();
  const reader: LegacyReader = {
    ...signedJsonReader(),
    read: () => ({ data: { a: 1 }, createdAt: now - 3_600_000, expiresAt: now + 7_200_000 }),
  };
  const sessions = createSessions({ keys: KEYS, clock, legacy: [reader], legacyUntil: '2999-01-01' });
  const session = await sessions.load({ headers: { cookie: 'old.sid=x' } });
  assert.equal(session.createdAt, now - 3_600_000);
  assert.equal(session.absoluteDeadline, now + 7_200_000);
});

test('configuration: legacy needs legacyUntil, and readers must have the reader shape', () => {
  const code = (error: unknown) => isLatchkeyError(error, 'ERR_LATCHKEY_CONFIG');
  assert.throws(() => createSessions({ keys: KEYS, legacy: [signedJsonReader()] }), code);
  assert.throws(
    () => createSessions({ keys: KEYS, legacy: [signedJsonReader()], legacyUntil: 'soon' }),
    code,
  );
  assert.throws(() => createSessions({ keys: KEYS, legacyUntil: '2999-01-01' }), code);
  assert.throws(() => createSessions({ keys: KEYS, legacy: [], legacyUntil: '2999-01-01' }), code);
  assert.throws(
    () => createSessions({ keys: KEYS, legacy: [{} as LegacyReader], legacyUntil: '2999-01-01' }),
    code,
  );
  assert.throws(
    () =>
      createSessions({
        keys: KEYS,
        legacy: [{ ...signedJsonReader(), expire: [{ name: 'bad;name' }] }],
        legacyUntil: '2999-01-01',
      }),
    code,
  );
});
