import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieJar } from '../../test/support/cookies.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { applyToHeaders, clearSiteDataFor, createSessions, type SessionEvent } from './index.ts';
import type { SessionsOptions } from './options.ts';

const KEYS = generateKeyLine('k1');

function setup(options: SessionsOptions = {}) {
  const clock = createFakeClock();
  const events: Array<SessionEvent & { at: number }> = [];
  const sessions = createSessions<{ visits: number; name: string; list: number[] }>({
    keys: KEYS,
    clock,
    onEvent: (event) => events.push(event),
    ...options,
  });
  const jar = new CookieJar();
  /** One request with the jar's cookies; `act` runs against the session, then the jar takes the response. */
  const request = async (
    act: (session: Awaited<ReturnType<typeof sessions.load>>) => void | Promise<void> = () => {},
  ) => {
    const session = await sessions.load(jar.header());
    await act(session);
    const setCookie = await sessions.commit(session);
    jar.apply(setCookie);
    return { session, setCookie };
  };
  return { clock, events, sessions, jar, request };
}

describe('cookie mode lifecycle', () => {
  test('checklist #8: the default Set-Cookie is __Host-lk; Path=/; Secure; HttpOnly; SameSite=Lax, a session cookie', async () => {
    const { request } = setup();
    const { setCookie } = await request((s) => s.set('visits', 1));
    assert.equal(setCookie.length, 1);
    assert.match(
      setCookie[0]!,
      /^__Host-lk=v1\.k1\.[A-Za-z0-9_-]+; Path=\/; Secure; HttpOnly; SameSite=Lax$/,
    );
    assert.doesNotMatch(setCookie[0]!, /Domain|Max-Age|Expires/);
  });

  test('checklist #35: an anonymous request that sets nothing writes nothing', async () => {
    const { request, events } = setup();
    const { session, setCookie } = await request((s) => {
      assert.equal(s.get('visits'), undefined);
    });
    assert.equal(session.isNew, true);
    assert.deepEqual(setCookie, []);
    assert.deepEqual(events, []);
  });

  test('set, then read on the next request; an unmodified request writes nothing until touchAfter', async () => {
    const { request, clock } = setup({ touchAfter: '5m' });
    await request((s) => s.set('visits', 1));
    const second = await request((s) => {
      assert.equal(s.isNew, false);
      assert.equal(s.get('visits'), 1);
    });
    assert.deepEqual(second.setCookie, [], 'nothing changed, nothing written');
    clock.advance('5m');
    const third = await request();
    assert.equal(third.setCookie.length, 1, 'rolling renewal after touchAfter');
    assert.equal(third.session.lastActiveAt, clock.now());
  });

  test('changes made in place in session.data are found and written', async () => {
    const { request } = setup();
    await request((s) => s.set('list', [1]));
    await request((s) => {
      s.data.list?.push(2);
    });
    await request((s) => assert.deepEqual([...(s.get('list') ?? [])], [1, 2]));
  });

  test('checklist #24: idle timeout: idle − 1 s is accepted, idle + 1 s is refused and the cookie cleared', async () => {
    const { request, clock, events } = setup({ idleTimeout: '30m', touchAfter: '1m' });
    await request((s) => s.set('visits', 1));
    clock.advance(30 * 60_000 - 1000);
    const alive = await request();
    assert.equal(alive.session.isNew, false);
    clock.advance(30 * 60_000 + 1000);
    const expired = await request();
    assert.equal(expired.session.isNew, true);
    assert.equal(expired.session.get('visits'), undefined);
    assert.match(expired.setCookie[0] ?? '', /^__Host-lk=; .*Max-Age=0/);
    assert.deepEqual(
      events.filter((e) => e.type === 'expired').map((e) => e.type === 'expired' && e.reason),
      ['idle'],
    );
  });

  test('checklist #25: the absolute timeout holds however active the session is', async () => {
    const { request, clock } = setup({ idleTimeout: '10m', absoluteTimeout: '2h', touchAfter: '1m' });
    const start = clock.now();
    await request((s) => s.set('visits', 0));
    while (clock.now() < start + 2 * 3600_000 - 60_000) {
      clock.advance('1m');
      const { session } = await request((s) => s.set('visits', (s.get('visits') ?? 0) + 1));
      assert.equal(session.isNew, false, `alive at +${(clock.now() - start) / 60_000} min`);
    }
    clock.advance('1m');
    const { session } = await request();
    assert.equal(session.isNew, true, 'refused at createdAt + absoluteTimeout despite activity every minute');
  });

  test('checklist #28: expiry comes from the sealed clocks, not from Max-Age: a kept cookie is still refused', async () => {
    const { sessions, request, clock } = setup({ cookie: { persistent: true } });
    const { setCookie } = await request((s) => s.set('visits', 1));
    const value = setCookie[0]!.split(';')[0]!;
    clock.advance('25h');
    const replayed = await sessions.load(value); // a client that ignored Max-Age
    assert.equal(replayed.isNew, true);
  });

  test('checklist #40: the deadline sealed inside the value holds even if the server is reconfigured longer', async () => {
    const short = setup({ idleTimeout: '1h', absoluteTimeout: '2h' });
    const { setCookie } = await short.request((s) => s.set('visits', 1));
    const value = setCookie[0]!.split(';')[0]!;
    const long = createSessions({
      keys: KEYS,
      clock: short.clock,
      idleTimeout: '1h',
      absoluteTimeout: '48h',
    });
    short.clock.advance('50m');
    assert.equal((await long.load(value)).isNew, false);
    short.clock.advance('50m');
    const renewed = await long.load(value);
    assert.equal(renewed.isNew, true, 'the embedded lastActive puts it past idle');
    // Keep it active past the sealed absolute deadline (2 h) under a 48 h configuration: still refused.
    const jar = new CookieJar();
    short.clock.set(createFakeClock().now());
    const fresh = await short.sessions.load(undefined);
    fresh.set('visits', 1);
    jar.apply(await short.sessions.commit(fresh));
    for (let minutes = 0; minutes < 150; minutes += 30) {
      short.clock.advance('30m');
      const session = await long.load(jar.header());
      session.touch();
      jar.apply(await long.commit(session));
      if (minutes + 30 >= 120) assert.equal(session.isNew, true, `refused at +${minutes + 30} min`);
      else assert.equal(session.isNew, false, `alive at +${minutes + 30} min`);
    }
  });

  test('checklist #29: timestamps ahead by more than the skew allowance are refused; within it, accepted', async () => {
    const ahead = setup({ clockSkew: '30s' });
    const behind = setup({ clockSkew: '30s' });
    ahead.clock.advance(29_000);
    const within = await ahead.request((s) => s.set('visits', 1));
    assert.equal((await behind.sessions.load(within.setCookie[0]!.split(';')[0])).isNew, false);
    ahead.clock.advance(2_000);
    const beyond = await ahead.request((s) => s.set('visits', 2));
    const refused = await behind.sessions.load(beyond.setCookie[0]!.split(';')[0]);
    assert.equal(refused.isNew, true);
    assert.ok(behind.events.some((e) => e.type === 'invalid' && e.reason === 'future'));
    assert.throws(() => createSessions({ keys: KEYS, clockSkew: '61s' }), { code: 'ERR_LATCHKEY_CONFIG' });
  });

  test('checklist #30: destroy() clears the cookie (and every chunk) with Max-Age=0 and an epoch Expires', async () => {
    const { request, jar } = setup();
    await request((s) => s.set('name', 'x'.repeat(4000)));
    assert.deepEqual(jar.names().sort(), ['__Host-lk', '__Host-lk.1']);
    const { setCookie, session } = await request((s) => s.destroy());
    assert.equal(session.isNew, true);
    assert.deepEqual(setCookie, [
      '__Host-lk=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax',
      '__Host-lk.1=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax',
    ]);
    assert.deepEqual(jar.names(), []);
    assert.equal((await request()).session.isNew, true);
  });

  test('a session that shrinks to one cookie deletes the chunks the request carried, and only those', async () => {
    const { request, jar, sessions } = setup();
    await request((s) => s.set('name', 'x'.repeat(7000)));
    assert.deepEqual(jar.names().sort(), ['__Host-lk', '__Host-lk.1', '__Host-lk.2']);
    const deletion = (name: string) =>
      `${name}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax`;
    // A chunk left by a larger maxChunks (name.9) is found too; look-alike names are not ours to delete.
    const header = `${jar.header()}; __Host-lk.9=old; __Host-lkx.2=a; x.__Host-lk.3=b`;
    const session = await sessions.load(header);
    session.set('name', 'short');
    const setCookie = await sessions.commit(session);
    assert.equal(setCookie.length, 4);
    assert.match(setCookie[0]!, /^__Host-lk=v1\./);
    assert.deepEqual(setCookie.slice(1), [
      deletion('__Host-lk.1'),
      deletion('__Host-lk.2'),
      deletion('__Host-lk.9'),
    ]);
    jar.apply(setCookie);
    // Without chunk cookies a write is the one line.
    assert.equal((await request((s) => s.set('visits', 1))).setCookie.length, 1);
  });

  test('checklist #14: the deletion mirrors a custom name and Path exactly', async () => {
    const { request } = setup({ cookie: { name: 'app_session', path: '/app', sameSite: 'strict' } });
    await request((s) => s.set('visits', 1));
    const { setCookie } = await request((s) => s.destroy());
    assert.deepEqual(setCookie, [
      'app_session=; Path=/app; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Strict',
    ]);
  });

  test('checklist #13: a persistent cookie gets Max-Age and Expires from one timestamp, within the session life', async () => {
    const { request, clock } = setup({
      cookie: { persistent: true },
      idleTimeout: '1h',
      absoluteTimeout: '90m',
    });
    const first = await request((s) => s.set('visits', 1));
    const expires = new Date(clock.now() + 3600_000).toUTCString();
    assert.match(first.setCookie[0]!, new RegExp(`; Max-Age=3600; Expires=${expires}; `));
    clock.advance('50m');
    const later = await request((s) => s.set('visits', 2));
    // Idle would allow 60 more minutes, but the absolute deadline is 40 minutes away.
    assert.match(later.setCookie[0]!, /; Max-Age=2400; /);
  });

  test('a flash value stays until takeFlash reads it, then it is gone', async () => {
    const { request } = setup();
    await request((s) => s.flash('notice', 'saved'));
    await request((s) => assert.equal(s.get('visits'), undefined));
    await request((s) => assert.equal(s.takeFlash('notice'), 'saved'));
    await request((s) => assert.equal(s.takeFlash('notice'), undefined));
  });

  test('checklist #29: a server whose clock lags, or steps back, still writes values that open', async () => {
    const { request, clock, events } = setup({ clockSkew: '30s' });
    await request((s) => s.set('visits', 1));
    clock.set(clock.now() - 20_000);
    const lagging = await request((s) => s.set('visits', 2));
    assert.equal(lagging.session.isNew, false);
    const after = await request();
    assert.equal(after.session.get('visits'), 2, 'the value sealed by the lagging clock opens');
    assert.deepEqual(
      events.filter((e) => e.type === 'invalid'),
      [],
    );
  });

  test('commit is idempotent: a second commit of an unchanged session writes nothing', async () => {
    const { sessions } = setup();
    const session = await sessions.load(undefined);
    session.set('visits', 1);
    assert.equal((await sessions.commit(session)).length, 1);
    assert.deepEqual(await sessions.commit(session), []);
    session.set('visits', 2);
    assert.equal((await sessions.commit(session)).length, 1, 'a later change is written');
    await session.destroy();
    assert.equal((await sessions.commit(session)).length, 1);
    assert.deepEqual(await sessions.commit(session), [], 'one deletion is enough');
  });

  test('login() and regenerate() report a regenerated event; destroy() a destroyed one', async () => {
    const { request, events } = setup();
    await request((s) => s.set('visits', 1));
    await request((s) => s.login('u1'));
    await request((s) => s.regenerate());
    await request((s) => s.destroy());
    assert.deepEqual(
      events.map((e) => e.type),
      ['created', 'regenerated', 'regenerated', 'destroyed'],
    );
  });

  test('checklist #13: Max-Age never exceeds 400 days, whatever the timeouts', async () => {
    const { request, clock } = setup({
      cookie: { persistent: true },
      idleTimeout: '500d',
      absoluteTimeout: '500d',
    });
    const { setCookie } = await request((s) => s.set('visits', 1));
    const cap = 400 * 86_400;
    assert.match(
      setCookie[0]!,
      new RegExp(`; Max-Age=${cap}; Expires=${new Date(clock.now() + cap * 1000).toUTCString()}; `),
    );
  });

  test('checklist #23: login() restarts both clocks and binds the user; the cookie value changes', async () => {
    const { request, clock, jar } = setup();
    await request((s) => s.set('visits', 3));
    const before = jar.get('__Host-lk');
    clock.advance('10m');
    const { session } = await request((s) => s.login('alice'));
    assert.equal(session.userId, 'alice');
    assert.equal(session.createdAt, clock.now());
    assert.equal(session.get('visits'), 3, 'data is kept');
    assert.notEqual(jar.get('__Host-lk'), before);
    const after = await request();
    assert.equal(after.session.userId, 'alice');
  });

  test('login() refuses user ids that a store could not keep apart (NUL, lone surrogates, empty, too long)', async () => {
    const { request } = setup();
    await request(async (s) => {
      for (const bad of ['', 'a\0b', 'a\uD800', '\uDC00', 'x'.repeat(257)]) {
        await assert.rejects(s.login(bad), TypeError, JSON.stringify(bad));
      }
      await s.login('ユーザー😀');
      assert.equal(s.userId, 'ユーザー😀');
    });
  });

  test('regenerate() writes a fresh value with the same data', async () => {
    const { request, jar } = setup();
    await request((s) => s.set('visits', 1));
    const before = jar.get('__Host-lk');
    const { setCookie } = await request((s) => s.regenerate());
    assert.equal(setCookie.length, 1);
    assert.notEqual(jar.get('__Host-lk'), before);
    assert.equal((await request()).session.get('visits'), 1);
  });

  test('values JSON cannot round-trip, and polluting keys, are refused at set()', async () => {
    const { request } = setup();
    await request((s) => {
      const loose = s as unknown as { set(key: string, value: unknown): void };
      assert.throws(() => loose.set('when', new Date()), TypeError);
      assert.throws(() => loose.set('n', 10n), TypeError);
      assert.throws(() => loose.set('m', new Map()), TypeError);
      assert.throws(() => loose.set('x', Number.NaN), TypeError);
      assert.throws(() => loose.set('__proto__', { admin: true }), TypeError);
      assert.throws(
        () => loose.set('o', JSON.parse('{"constructor":{"prototype":{"admin":true}}}')),
        TypeError,
      );
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      assert.throws(() => loose.set('c', cyclic), TypeError);
    });
  });
});

describe('configuration', () => {
  test('checklist #43: a missing, placeholder or short key throws ERR_LATCHKEY_KEY at construction', () => {
    const saved = process.env.LATCHKEY_KEYS;
    delete process.env.LATCHKEY_KEYS;
    try {
      assert.throws(() => createSessions(), { code: 'ERR_LATCHKEY_KEY' });
      assert.throws(() => createSessions({ keys: 'secret' }), { code: 'ERR_LATCHKEY_KEY' });
      assert.throws(() => createSessions({ keys: `k1:${Buffer.alloc(16, 7).toString('base64url')}` }), {
        code: 'ERR_LATCHKEY_KEY',
      });
      process.env.LATCHKEY_KEYS = KEYS;
      assert.equal(createSessions().cookieName, '__Host-lk', 'LATCHKEY_KEYS is the default source');
    } finally {
      if (saved === undefined) delete process.env.LATCHKEY_KEYS;
      else process.env.LATCHKEY_KEYS = saved;
    }
  });

  test('checklist #9: Secure=false outside development mode, and development in production, throw', () => {
    assert.throws(() => createSessions({ keys: KEYS, cookie: { secure: false } }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      assert.throws(() => createSessions({ keys: KEYS, development: true }), { code: 'ERR_LATCHKEY_CONFIG' });
    } finally {
      if (saved === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = saved;
    }
    const dev = createSessions({ keys: KEYS, development: true });
    assert.equal(dev.cookieName, 'lk');
  });

  test('unknown options and bad timeouts are coded configuration errors', () => {
    assert.throws(() => createSessions({ keys: KEYS, idleTimout: '1h' } as never), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
    assert.throws(() => createSessions({ keys: KEYS, idleTimeout: '2d', absoluteTimeout: '1d' }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
    assert.throws(() => createSessions({ keys: KEYS, idleTimeout: 'soon' as never }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
    assert.throws(() => createSessions({ keys: KEYS, preset: 'aal9' as never }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
    assert.throws(() => createSessions({ keys: KEYS, cookie: { samesite: 'strict' } as never }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
  });

  test('the presets follow NIST SP 800-63B-4', () => {
    assert.deepEqual(
      ['aal1', 'aal2', 'aal3'].map((preset) => {
        const { idleTimeout, absoluteTimeout } = createSessions({
          keys: KEYS,
          preset: preset as 'aal1',
        }).policy;
        return [idleTimeout / 60_000, absoluteTimeout / 3600_000];
      }),
      [
        [30 * 24 * 60, 30 * 24],
        [60, 24],
        [15, 12],
      ],
    );
  });
});

describe('checklist #58: Clear-Site-Data on sign-out', () => {
  test('only a sign-out with clearSiteData on asks for it; off by default; the option is a boolean', async () => {
    const signOutLines = async (options: SessionsOptions) => {
      const sessions = createSessions({ keys: KEYS, ...options });
      const first = await sessions.load(undefined);
      await first.login('alice');
      const [line] = await sessions.commit(first);
      const loaded = await sessions.load(line!.slice(0, line!.indexOf(';')));
      const touched = await sessions.commit(loaded);
      await loaded.destroy();
      return { touched, signedOut: await sessions.commit(loaded) };
    };
    const on = await signOutLines({ clearSiteData: true });
    assert.equal(on.signedOut.length, 1);
    assert.equal(clearSiteDataFor(on.signedOut), '"cookies"');
    assert.equal(clearSiteDataFor(on.touched), undefined);
    const headers = new Headers();
    applyToHeaders(headers, on.signedOut);
    assert.equal(headers.get('clear-site-data'), '"cookies"');
    assert.equal(clearSiteDataFor((await signOutLines({})).signedOut), undefined);
    assert.throws(() => createSessions({ keys: KEYS, clearSiteData: 'yes' as never }), {
      code: 'ERR_LATCHKEY_CONFIG',
    });
  });
});
