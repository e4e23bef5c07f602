/**
 * The shortcuts cookie mode takes on every request must give exactly what the general code gives:
 * the payload text, the Set-Cookie line, the single-candidate read, and change detection from one
 * JSON text per commit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assembleCandidates } from '../cookie/chunk.ts';
import { resolveCookieOptions } from '../cookie/options.ts';
import { attributesOf, serializeSetCookie } from '../cookie/serialize.ts';
import { decodeBase64url, decodePublicBase64url, encodeBase64url } from '../crypto/base64url.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import {
  decodePayload,
  decodeStorePayload,
  encodePayload,
  encodeStorePayload,
  type SessionState,
} from './payload.ts';
import { createSessions } from './sessions.ts';

const KEYS = generateKeyLine('k1');

function state(extra: Partial<SessionState> = {}): SessionState {
  return {
    createdAt: 1_700_000_000_000,
    lastActiveAt: 1_700_000_000_500,
    absoluteDeadline: 1_700_086_400_000,
    userId: undefined,
    data: { n: 1, list: [1, 'two', { three: null }], nested: { a: true } },
    flash: undefined,
    ...extra,
  };
}

describe('encodePayload', () => {
  const cases: Array<[string, SessionState]> = [
    ['bare', state()],
    ['signed in', state({ userId: 'user "7" \\ ü' })],
    ['with flash', state({ flash: { notice: 'Saved ✓' } })],
    ['with an empty flash', state({ flash: {} })],
    ['with a CSRF secret', state({ csrfSecret: 'a'.repeat(43) })],
    ['everything', state({ userId: 'u1', flash: { x: [1] }, csrfSecret: 'b'.repeat(43), data: {} })],
  ];
  for (const [name, given] of cases) {
    test(`${name}: the same text JSON.stringify makes of the payload object, and it decodes back`, () => {
      const object: Record<string, unknown> = {
        v: 1,
        c: given.createdAt,
        a: given.lastActiveAt,
        x: given.absoluteDeadline,
        d: given.data,
      };
      if (given.userId !== undefined) object.u = given.userId;
      if (given.flash !== undefined && Object.keys(given.flash).length > 0) object.f = given.flash;
      if (given.csrfSecret !== undefined) object.k = given.csrfSecret;
      const text = encodePayload(given);
      assert.equal(text, JSON.stringify(object));
      const decoded = decodePayload(new TextEncoder().encode(text));
      assert.ok(decoded);
      assert.equal(JSON.stringify(decoded.data), JSON.stringify(given.data));
      assert.equal(decoded.userId, given.userId);
      assert.equal(decoded.csrfSecret, given.csrfSecret);
    });
  }

  test('a timestamp that is not a safe integer is written as JSON.stringify writes it', () => {
    assert.equal(
      encodePayload(state({ lastActiveAt: 1.5 })),
      JSON.stringify({ v: 1, c: 1_700_000_000_000, a: 1.5, x: 1_700_086_400_000, d: state().data }),
    );
  });
});

describe('encodeStorePayload', () => {
  test('the same text JSON.stringify makes of the store payload object, extra fields last, and it decodes back', () => {
    const given = state({ userId: 'u1', flash: { x: 1 }, csrfSecret: 'c'.repeat(43) });
    const text = encodeStorePayload(given, 7, { a: 1_700_000_000_900, t: 1_700_000_001_000 });
    const object = {
      v: 1,
      n: 7,
      c: given.createdAt,
      x: given.absoluteDeadline,
      d: given.data,
      u: 'u1',
      f: { x: 1 },
      k: 'c'.repeat(43),
      a: 1_700_000_000_900,
      t: 1_700_000_001_000,
    };
    assert.equal(text, JSON.stringify(object));
    const decoded = decodeStorePayload(new TextEncoder().encode(text), ['a', 't']);
    assert.equal(decoded?.version, 7);
    assert.deepEqual(decoded?.extra, { a: 1_700_000_000_900, t: 1_700_000_001_000 });
  });
});

describe('the one-cookie Set-Cookie line', () => {
  for (const development of [false, true]) {
    test(`equals serializeSetCookie with the resolved attributes (development: ${development})`, async () => {
      const sessions = createSessions<{ n: number }>({ keys: KEYS, development });
      const session = await sessions.load(undefined);
      session.set('n', 1);
      const [line, ...rest] = await sessions.commit(session);
      assert.equal(rest.length, 0);
      const value = line!.slice(sessions.cookieName.length + 1, line!.indexOf(';'));
      const attributes = attributesOf(resolveCookieOptions({}, { development }));
      assert.equal(line, serializeSetCookie(sessions.cookieName, value, attributes));
    });
  }

  test('chunk cookies the request carried are still deleted after a one-cookie write', async () => {
    const sessions = createSessions<{ big: string; n: number }>({ keys: KEYS, development: true });
    const first = await sessions.load(undefined);
    first.set('big', 'x'.repeat(6000));
    const chunked = await sessions.commit(first);
    assert.ok(chunked.length >= 2, 'the large session spans several cookies');
    const header = chunked.map((line) => line.slice(0, line.indexOf(';'))).join('; ');
    const second = await sessions.load(header);
    assert.equal(second.get('big')?.length, 6000);
    second.delete('big');
    second.set('n', 1);
    const lines = await sessions.commit(second);
    assert.equal(lines.length, chunked.length, 'one cookie plus a deletion per chunk');
    assert.match(lines[0]!, /^lk=v1\./);
    for (const deletion of lines.slice(1)) assert.match(deletion, /^lk\.\d=; .*Max-Age=0/);
  });
});

describe('reading one cookie value', () => {
  test('assembleCandidates: a lone plain value is the one candidate; a lone chunk header without its parts is none', () => {
    const only = (value: string) => (name: string) => (name === 'lk' ? [value] : []);
    assert.deepEqual(assembleCandidates('lk', only('v1.k1.abc'), 3), ['v1.k1.abc']);
    assert.deepEqual(assembleCandidates('lk', only('2~abc'), 3), []);
    assert.deepEqual(assembleCandidates('lk', only('v1.k1.abc'), 3, 0), [], 'maxCandidates 0 still refuses');
  });

  test('two values for the session cookie, one valid: the valid one is used', async () => {
    const sessions = createSessions<{ n: number }>({ keys: KEYS, development: true });
    const session = await sessions.load(undefined);
    session.set('n', 5);
    const [line] = await sessions.commit(session);
    const cookie = line!.slice(0, line!.indexOf(';'));
    assert.equal((await sessions.load(`lk=junk; ${cookie}`)).get('n'), 5);
    assert.equal((await sessions.load(`${cookie}; lk=junk`)).get('n'), 5);
  });
});

describe('change detection from the JSON text', () => {
  test('an unchanged session writes nothing; an in-place change inside a value is found', async () => {
    const clock = createFakeClock();
    const sessions = createSessions<{ cart: number[] }>({ keys: KEYS, development: true, clock });
    const first = await sessions.load(undefined);
    first.set('cart', [1]);
    const [line] = await sessions.commit(first);
    const cookie = line!.slice(0, line!.indexOf(';'));
    const unchanged = await sessions.load(cookie);
    assert.deepEqual(await sessions.commit(unchanged), []);
    const changed = await sessions.load(cookie);
    changed.data.cart?.push(2);
    assert.equal((await sessions.commit(changed)).length, 1);
    assert.deepEqual(await sessions.commit(changed), [], 'a second commit of the same state is a no-op');
  });
});

describe('decodePublicBase64url', () => {
  test('accepts and refuses exactly what decodeBase64url does, with the same bytes', () => {
    const samples = [
      '',
      'AA',
      'AB',
      'AAA',
      'AAB',
      'QUJD',
      'QUJDRA',
      '-_8',
      '-_9',
      'a+b',
      'a=',
      ' AA',
      'A',
      'AAAAA',
    ];
    for (let length = 0; length < 40; length++) {
      const bytes = new Uint8Array(length).map((_, i) => (i * 37 + length) & 0xff);
      samples.push(encodeBase64url(bytes));
    }
    for (const text of samples) {
      const strict = decodeBase64url(text);
      const shared = decodePublicBase64url(text);
      assert.equal(shared === null, strict === null, JSON.stringify(text));
      if (strict && shared) assert.deepEqual([...shared], [...strict]);
    }
  });
});
