import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, CookieError, isLatchkeyError, SessionTooLarge } from '../errors.ts';
import { assembleCandidates, presentChunkNames, splitIntoCookies } from './chunk.ts';
import { readCookie } from './parse.ts';
import type { SetCookieAttributes } from './serialize.ts';
import { serializeSetCookie } from './serialize.ts';

const NAME = '__Host-lk';
/** A persistent cookie with every attribute: the longest suffix the core writes. */
const ATTRIBUTES: SetCookieAttributes = {
  path: '/',
  maxAge: 34_560_000,
  expires: new Date(Date.UTC(2030, 0, 1)),
  secure: true,
  httpOnly: true,
  sameSite: 'lax',
  partitioned: true,
  priority: 'high',
};
const SUFFIX = serializeSetCookie('x', '', ATTRIBUTES).slice('x='.length);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A deterministic base64url-looking string (an LCG; fast-check picks the length and seed). */
function sealedLike(length: number, seed: number): string {
  let state = seed >>> 0;
  let out = '';
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out += BASE64URL[state >>> 26];
  }
  return out;
}

/** A request with this Cookie header, as readValues for assembleCandidates (10 chunks pass 32 KB). */
function requestWith(header: string) {
  return (cookieName: string) => readCookie(header, cookieName, { maxHeaderBytes: 64 * 1024 });
}

test('one cookie is enough: the value is returned unchanged', () => {
  assert.deepEqual(splitIntoCookies(NAME, 'v1.k1.abc', SUFFIX.length, 3), [
    { name: NAME, value: 'v1.k1.abc' },
  ]);
  const fits = 'a'.repeat(4096 - SUFFIX.length - NAME.length - 1);
  assert.equal(splitIntoCookies(NAME, fits, SUFFIX.length, 1).length, 1);
  assert.equal(splitIntoCookies(NAME, `${fits}a`, SUFFIX.length, 2).length, 2);
});

test('checklist #12 (property): split → assemble round-trips 1 B..40 KB; every line ≤ 4096 bytes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 * 1024 }),
      fc.integer(),
      fc.integer({ min: 1, max: 10 }),
      (length, seed, maxChunks) => {
        const value = sealedLike(length, seed);
        // Each cookie spends at most name + '.9=' + '10~' + suffix on overhead.
        const surelyFits = maxChunks * (4096 - SUFFIX.length - NAME.length - 6);
        let parts: ReturnType<typeof splitIntoCookies>;
        try {
          parts = splitIntoCookies(NAME, value, SUFFIX.length, maxChunks);
        } catch (err) {
          assert.ok(err instanceof SessionTooLarge && length > surelyFits, String(err));
          return;
        }
        assert.ok(parts.length <= maxChunks);
        for (const part of parts) {
          const line = serializeSetCookie(part.name, part.value, ATTRIBUTES);
          assert.ok(Buffer.byteLength(line) <= 4096, `${line.length}`);
          assert.equal(line, `${part.name}=${part.value}${SUFFIX}`);
        }
        const request = requestWith(
          parts
            .map((p) => `${p.name}=${p.value}`)
            .reverse()
            .join('; '),
        );
        assert.deepEqual(assembleCandidates(NAME, request, maxChunks), [value]);
      },
    ),
    { numRuns: 300 },
  );
});

test('chunk layout: n~ header first, then name.1 … name.(n-1), no empty part, fewest cookies', () => {
  const value = sealedLike(9000, 1);
  const parts = splitIntoCookies('lk', value, 40, 5);
  assert.deepEqual(
    parts.map((p) => p.name),
    ['lk', 'lk.1', 'lk.2'],
  );
  assert.ok(parts[0]?.value.startsWith('3~'));
  assert.ok(parts.every((p) => p.value.length > 0));
  assert.equal(
    parts[0]?.value.slice(2) +
      parts
        .slice(1)
        .map((p) => p.value)
        .join(''),
    value,
  );
  const ten = splitIntoCookies('lk', sealedLike(39_000, 2), 40, 10);
  assert.equal(ten.length, 10);
  assert.ok(ten[0]?.value.startsWith('10~'));
  assert.equal(ten[9]?.name, 'lk.9');
});

test('DESIGN §4: overflow throws SessionTooLarge (ERR_LATCHKEY_TOO_LARGE) with size and limit', () => {
  assert.throws(
    () => splitIntoCookies(NAME, sealedLike(20_000, 3), SUFFIX.length, 3),
    (err: unknown) =>
      err instanceof SessionTooLarge &&
      isLatchkeyError(err, 'ERR_LATCHKEY_TOO_LARGE') &&
      /20000 bytes/.test(err.message) &&
      /at most \d+ bytes fit in 3 cookie/.test(err.message),
  );
  assert.throws(() => splitIntoCookies(NAME, sealedLike(5000, 3), SUFFIX.length, 1), SessionTooLarge);
  assert.throws(() => splitIntoCookies(NAME, 'abc', 5000, 3), SessionTooLarge);
});

test('checklist #11: the chunker refuses names, values and numbers that cannot be serialized', () => {
  assert.throws(() => splitIntoCookies('a;b', 'v', 0, 3), CookieError);
  for (const value of ['a b', 'a;b', 'é', '2~abc', '12~x', '0~']) {
    assert.throws(() => splitIntoCookies('lk', value, 0, 3), CookieError, value);
  }
  assert.throws(() => splitIntoCookies('lk', 'v', -1, 3), CookieError);
  assert.throws(() => splitIntoCookies('lk', 'v', 1.5, 3), CookieError);
  for (const maxChunks of [0, 11, 2.5])
    assert.throws(() => splitIntoCookies('lk', 'v', 0, maxChunks), ConfigError);
  assert.deepEqual(splitIntoCookies('lk', '~abc', 0, 3), [{ name: 'lk', value: '~abc' }]);
});

test('tampered chunk headers give no candidate', () => {
  const cases = [
    'lk=0~abc',
    'lk=1~abc; lk.1=x',
    'lk=11~abc; lk.1=x',
    'lk=2~abc',
    'lk=02~abc; lk.1=x',
    'lk=2~; lk.1=x',
    'lk=2~abc; lk.1=',
    'lk=2~abc; lk.1="x"',
    'lk=3~abc; lk.1=x',
    'lk=4~abc; lk.1=x; lk.2=y',
    'lk=99999999999999999999~abc; lk.1=x',
  ];
  for (const header of cases) assert.deepEqual(assembleCandidates('lk', requestWith(header), 3), [], header);
  const elevenOfTen = ['lk=11~a', ...Array.from({ length: 10 }, (_, i) => `lk.${i + 1}=p`)].join('; ');
  assert.deepEqual(assembleCandidates('lk', requestWith(elevenOfTen), 10), []);
});

test('checklist #17: duplicates of any part give every combination, capped at maxCandidates', () => {
  assert.deepEqual(assembleCandidates('lk', requestWith('lk=2~A; lk.1=B; lk.1=C'), 3), ['AB', 'AC']);
  const mixed = requestWith('lk=plain; lk=2~A; lk.1=B; lk=2~D; lk.1=C');
  assert.deepEqual(assembleCandidates('lk', mixed, 3), ['plain', 'AB', 'AC', 'DB', 'DC']);
  assert.deepEqual(assembleCandidates('lk', mixed, 3, 4), []);
  const nine = requestWith('lk=2~A; lk=2~B; lk=2~C; lk.1=1; lk.1=2; lk.1=3');
  assert.deepEqual(assembleCandidates('lk', nine, 3), []);
  assert.equal(assembleCandidates('lk', nine, 3, 9).length, 9);
  assert.deepEqual(assembleCandidates('lk', requestWith('lk=x; lk=x'), 3), ['x']);
  assert.deepEqual(assembleCandidates('lk', requestWith(''), 3), []);
  assert.deepEqual(assembleCandidates('lk', requestWith('lk=~abc'), 3), ['~abc']);
});

test('presentChunkNames lists name.1 … name.9 present in the request, whatever maxChunks is now', () => {
  const request = requestWith('lk=2~A; lk.1=B; lk.3=C; lk.9=D; lk.10=E; lk.01=F; LK.2=G; lk.4=');
  assert.deepEqual(presentChunkNames('lk', request, 3), ['lk.1', 'lk.3', 'lk.4', 'lk.9']);
  assert.deepEqual(presentChunkNames('lk', requestWith('lk=x'), 3), []);
});
