import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieJar } from '../../test/support/cookies.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { isLatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import type { SessionStore, StoredRecord } from '../stores/types.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions } from './index.ts';
import type { SessionsOptions } from './options.ts';
import type { Session } from './session.ts';

const KEYS = generateKeyLine('k1');
const HOUR = 3600_000;
const DAY = 24 * HOUR;

function setup(options: SessionsOptions & { withStore?: boolean } = {}) {
  const { withStore, ...rest } = options;
  const clock = (rest.clock as ReturnType<typeof createFakeClock> | undefined) ?? createFakeClock();
  if (withStore) rest.store = memoryStore({ clock });
  options = rest;
  const sessions = createSessions<{ user: string }>({ keys: KEYS, ...options, clock });
  const jar = new CookieJar();
  const request = async (act: (session: Session<{ user: string }>) => void | Promise<void> = () => {}) => {
    const session = await sessions.load({ headers: { cookie: jar.header() } });
    await act(session);
    const setCookie = await sessions.commit(session);
    jar.apply(setCookie);
    return { session, setCookie };
  };
  return { clock, sessions, jar, request };
}

function maxAgeOf(line: string | undefined): number | undefined {
  const match = /; Max-Age=(\d+)/.exec(line ?? '');
  return match ? Number(match[1]) : undefined;
}

for (const mode of ['cookie', 'store'] as const) {
  const withMode = (options: SessionsOptions = {}) => setup({ ...options, withStore: mode === 'store' });

  describe(`per-session cookie options (${mode} mode)`, () => {
    test('remember me: maxAge makes this session persistent, and is kept with it', async () => {
      const { request, jar } = withMode({ absoluteTimeout: '30d' });
      const first = await request((s) => {
        s.set('user', 'ada');
        assert.deepEqual(s.cookieOptions({ maxAge: 7 * DAY }), { maxAge: 7 * DAY });
      });
      assert.equal(maxAgeOf(first.setCookie[0]), 7 * 24 * 3600);
      assert.match(first.setCookie[0]!, /; Expires=/);
      const second = await request((s) => {
        assert.deepEqual(s.cookieOptions(), { maxAge: 7 * DAY });
        assert.equal(s.get('user'), 'ada');
      });
      assert.deepEqual(second.setCookie, [], 'unchanged: nothing written');
      assert.ok(jar.header());
    });

    test("maxAge is this session's idle timeout: it outlives the configured one, and ends after its own", async () => {
      const { request, clock } = withMode({ idleTimeout: '1h', absoluteTimeout: '30d' });
      await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ maxAge: 2 * DAY });
      });
      clock.advance(3 * HOUR); // past the configured 1 h idle timeout
      const later = await request((s) => assert.equal(s.get('user'), 'ada'));
      assert.equal(later.session.isNew, false);
      // The renewal moved the idle deadline: 2 days from now, in the cookie too.
      assert.equal(maxAgeOf(later.setCookie[0]), 2 * 24 * 3600);
      clock.advance(2 * DAY + 1000);
      const gone = await request((s) => assert.equal(s.get('user'), undefined));
      assert.equal(gone.session.isNew, true);
    });

    test('maxAge never extends a session past the absolute timeout', async () => {
      const { request, clock } = withMode({ idleTimeout: '1h', absoluteTimeout: '2d' });
      const first = await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ maxAge: 30 * DAY });
      });
      assert.equal(maxAgeOf(first.setCookie[0]), 2 * 24 * 3600);
      clock.advance(HOUR * 20);
      await request((s) => s.set('user', 'bob'));
      clock.advance(HOUR * 20);
      await request((s) => s.set('user', 'cy'));
      clock.advance(HOUR * 9);
      const ended = await request((s) => assert.equal(s.get('user'), undefined));
      assert.equal(ended.session.isNew, true);
    });

    test('a shorter maxAge ends the session sooner, whatever the configured idle timeout', async () => {
      const { request, clock } = withMode({ idleTimeout: '1h' });
      await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ maxAge: 60_000 });
      });
      clock.advance(61_000);
      const ended = await request((s) => assert.equal(s.get('user'), undefined));
      assert.equal(ended.session.isNew, true);
    });

    test('maxAge: null gives a browser-session cookie even when the configuration is persistent', async () => {
      const { request } = withMode({ cookie: { persistent: true } });
      const first = await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ maxAge: null });
      });
      assert.doesNotMatch(first.setCookie[0]!, /Max-Age|Expires/);
      const back = await request((s) => {
        s.cookieOptions({ maxAge: undefined });
      });
      assert.match(
        back.setCookie[0]!,
        /; Max-Age=\d+; Expires=/,
        'undefined: back to the configured default',
      );
    });

    test('checklist #28: expires is a fixed end, checked on the server whatever the activity', async () => {
      const { request, clock } = withMode();
      const end = new Date(clock.now() + 30 * 60_000);
      const first = await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ expires: end });
      });
      assert.equal(maxAgeOf(first.setCookie[0]), 30 * 60);
      assert.deepEqual((await request()).session.cookieOptions(), { expires: end });
      clock.advance(20 * 60_000);
      await request((s) => s.set('user', 'bob'));
      clock.advance(10 * 60_000);
      const ended = await request((s) => assert.equal(s.get('user'), undefined));
      assert.equal(ended.session.isNew, true);
    });

    test('attributes are applied to its cookie; changing only them writes the cookie', async () => {
      const { request } = withMode({ cookie: { name: 'app' } });
      await request((s) => s.set('user', 'ada'));
      const changed = await request((s) => {
        s.cookieOptions({
          sameSite: 'Strict',
          httpOnly: false,
          priority: 'high',
          path: '/app',
          domain: 'example.com',
        });
      });
      const line = changed.setCookie.find((l) => l.includes('Path=/app'));
      assert.equal(changed.setCookie.at(-1), line, 'the deletion of the old place comes first');
      assert.ok(line, 'the cookie is sent again with its new attributes');
      assert.match(line, /; Path=\/app; Domain=example\.com;.*Secure; SameSite=Strict; Priority=High$/);
      assert.doesNotMatch(line, /HttpOnly/);
      // checklist #14: the cookie the browser had at Path=/ (no Domain) is ended, as it was set.
      assert.ok(
        changed.setCookie.some((l) => /^app=; Path=\/; Max-Age=0;/.test(l) && !l.includes('Domain')),
        'the old cookie at / is deleted',
      );
    });

    test('checklist #14: destroy() deletes the cookie with the Path and Domain it was sent with', async () => {
      const { request } = withMode({ cookie: { name: 'app' } });
      await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ path: '/app', domain: 'example.com' });
      });
      const out = await request((s) => s.destroy());
      assert.equal(out.setCookie.length >= 1, true);
      assert.match(
        out.setCookie[0]!,
        /^app=; Path=\/app; Domain=example\.com; Max-Age=0; Expires=Thu, 01 Jan 1970/,
      );
    });

    test('checklist #9: the same rules as the configuration; a refusal is a coded error', async () => {
      const { request } = withMode();
      await request((s) => {
        const refusals: Array<Record<string, unknown>> = [
          { secure: false }, // outside development
          { path: '/app' }, // __Host- needs Path=/
          { domain: 'example.com' }, // __Host- needs no Domain
          { path: '/;Domain=evil' }, // checklist #11
          { maxAge: -1 },
          { maxAge: 1.5 },
          { maxAge: 401 * DAY },
          { expires: new Date(Number.NaN) },
          { sameSite: 'auto' },
          { priority: 'urgent' },
          { maxAg: 1 },
        ];
        for (const changes of refusals) {
          assert.throws(
            () => s.cookieOptions(changes),
            (error: unknown) => isLatchkeyError(error, 'ERR_LATCHKEY_COOKIE'),
            JSON.stringify(changes),
          );
        }
        assert.deepEqual(s.cookieOptions(), {}, 'a refused change leaves the options as they were');
      });
    });

    test('development mode allows secure: false, but not SameSite=None or Partitioned without it', async () => {
      const { request } = withMode({ development: true });
      const out = await request((s) => {
        s.set('user', 'ada');
        assert.throws(() => s.cookieOptions({ secure: false, sameSite: 'none' }), /requires secure/);
        assert.throws(() => s.cookieOptions({ secure: false, partitioned: true }), /requires secure/);
        s.cookieOptions({ secure: false });
      });
      assert.doesNotMatch(out.setCookie[0]!, /Secure/);
    });

    test('destroy() forgets them: the next session starts from the configuration', async () => {
      const { request } = withMode({ absoluteTimeout: '30d' });
      await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ maxAge: 7 * DAY });
      });
      await request((s) => s.destroy());
      const fresh = await request((s) => s.set('user', 'bob'));
      assert.equal(maxAgeOf(fresh.setCookie[0]), undefined);
      assert.deepEqual(fresh.session.cookieOptions(), {});
    });

    test('regenerate() and login() keep them, as they keep the data', async () => {
      const { request } = withMode({ absoluteTimeout: '30d' });
      await request((s) => {
        s.set('user', 'ada');
        s.cookieOptions({ maxAge: 7 * DAY });
      });
      const out = await request((s) => s.login('ada'));
      assert.equal(maxAgeOf(out.setCookie[0]), 7 * 24 * 3600);
      assert.deepEqual(out.session.cookieOptions(), { maxAge: 7 * DAY });
    });
  });
}

describe('per-session cookie options at rest', () => {
  test('checklist #54: store mode keeps them in the sealed record, with its expiry', async () => {
    const clock = createFakeClock();
    const records: StoredRecord[] = [];
    const inner = memoryStore({ clock });
    const store: SessionStore = {
      ...inner,
      create: (key, record) => {
        records.push(record);
        return inner.create(key, record);
      },
      get: (key) => inner.get(key),
      update: (key, record, version) => inner.update(key, record, version),
      touch: (key, expiresAt, lastSeenAt) => inner.touch(key, expiresAt, lastSeenAt),
      delete: (key) => inner.delete(key),
      listByUser: (user) => inner.listByUser(user),
      deleteByUser: (user, except) => inner.deleteByUser(user, except),
    };
    const { request } = setup({ store, clock, absoluteTimeout: '30d' });
    await request((s) => {
      s.set('user', 'ada');
      s.cookieOptions({ maxAge: 7 * DAY, path: '/' });
    });
    assert.equal(records.length, 1);
    const record = records[0]!;
    assert.doesNotMatch(JSON.stringify(record), /maxAge/, 'the options are sealed');
    assert.equal(record.expiresAt, clock.now() + 7 * DAY, 'the record expires with the session');
  });

  test('cookie mode: they ride inside the sealed value, not in clear', async () => {
    const { request } = setup({ absoluteTimeout: '30d' });
    const out = await request((s) => {
      s.set('user', 'ada');
      s.cookieOptions({ maxAge: 7 * DAY });
    });
    const value = out.setCookie[0]!.split(';')[0]!.split('=')[1]!;
    assert.match(value, /^v1\.k1\./);
    assert.doesNotMatch(Buffer.from(value.slice(6), 'base64url').toString('latin1'), /maxAge/);
  });
});
