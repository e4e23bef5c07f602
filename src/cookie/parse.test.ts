import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCookieHeader, readCookie } from './parse.ts';

test('readCookie: absent headers and odd inputs give [] and never throw', () => {
  for (const header of [undefined, null, '', [], [''], ['', '']])
    assert.deepEqual(readCookie(header, 'sid'), []);
  assert.deepEqual(readCookie([42, 'sid=a', null] as never, 'sid'), ['a']);
  assert.deepEqual(readCookie({ cookie: 'sid=a' } as never, 'sid'), []);
  assert.deepEqual(readCookie(42 as never, 'sid'), []);
});

test('checklist #19: readCookie with a name that is not a token reads nothing', () => {
  assert.deepEqual(readCookie('=a', ''), []);
  assert.deepEqual(readCookie('a b=x', 'a b'), []);
  assert.deepEqual(readCookie('\u00a0sid=x', '\u00a0sid'), []);
  assert.deepEqual(readCookie('sid=x', undefined as never), []);
});

test('checklist #17: up to maxMatches duplicates come back; more is ambiguous and gives []', () => {
  const eight = Array.from({ length: 8 }, (_, i) => `sid=v${i}`).join('; ');
  assert.deepEqual(readCookie(eight, 'sid'), ['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']);
  assert.deepEqual(readCookie(`${eight}; sid=v8`, 'sid'), []);
  assert.deepEqual(readCookie(`${eight}; sid=v8`, 'sid', { maxMatches: 9 }).length, 9);
  assert.deepEqual(readCookie('sid=a; sid=b', 'sid', { maxMatches: 1 }), []);
  // Invalid or oversized values are not matches, so they cannot push a genuine value out.
  assert.deepEqual(readCookie(`${'sid="x"; '.repeat(20)}sid=ok`, 'sid'), ['ok']);
});

test('checklist #21: invalid limits fall back to the defaults', () => {
  const limits = {
    maxHeaderBytes: Number.NaN,
    maxPairs: -1,
    maxValueBytes: 'x',
    maxMatches: undefined,
  } as never;
  assert.deepEqual(readCookie('sid=a', 'sid', limits), ['a']);
  assert.deepEqual(readCookie('sid=a', 'sid', { maxHeaderBytes: 4 }), []);
  assert.deepEqual(readCookie('sid=abc', 'sid', { maxValueBytes: 2 }), []);
  assert.deepEqual(readCookie('a=1; sid=abc', 'sid', { maxPairs: 1 }), []);
});

test('checklist #16: parseCookieHeader returns a null-prototype record; __proto__ cannot pollute', () => {
  const record = parseCookieHeader('__proto__=x; constructor=y; prototype=z; toString=t; hasOwnProperty=h');
  assert.equal(Object.getPrototypeOf(record), null);
  assert.deepEqual(Object.entries(record), [
    ['__proto__', 'x'],
    ['constructor', 'y'],
    ['prototype', 'z'],
    ['toString', 't'],
    ['hasOwnProperty', 'h'],
  ]);
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
  assert.equal(typeof ({} as { toString: unknown }).toString, 'function');
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.equal(Object.getPrototypeOf(parseCookieHeader(undefined)), null);
});

test('checklist #16 / #19: parseCookieHeader keeps the first occurrence and skips nameless pairs', () => {
  assert.deepEqual({ ...parseCookieHeader('a=1; a=2; =3; =a=4; b=; c') }, { a: '1', b: '' });
  assert.deepEqual({ ...parseCookieHeader(['a=1', 'a=2; b=2']) }, { a: '1', b: '2' });
  assert.deepEqual({ ...parseCookieHeader('x=a, y=b') }, { x: 'a, y=b' });
  assert.deepEqual({ ...parseCookieHeader('\u2000sid=a') }, { '\u2000sid': 'a' });
});

test('parseCookieHeader decodes like jshttp/cookie v2 unless decode: false', () => {
  const header = 'a=%20%3B; b=%ZZ; c=%E0%A4%A; d=%253B; e="q"; f=%00';
  assert.deepEqual(
    { ...parseCookieHeader(header) },
    { a: ' ;', b: '%ZZ', c: '%E0%A4%A', d: '%3B', e: '"q"', f: '\0' },
  );
  assert.deepEqual(
    { ...parseCookieHeader(header, { decode: false }) },
    { a: '%20%3B', b: '%ZZ', c: '%E0%A4%A', d: '%253B', e: '"q"', f: '%00' },
  );
});

test('checklist #21: parseCookieHeader limits: header size, pair count, value size', () => {
  assert.deepEqual({ ...parseCookieHeader(`a=1; b=${'x'.repeat(64 * 1024)}`) }, {});
  assert.deepEqual(
    { ...parseCookieHeader('a=1; b=2; c=3', { limits: { maxPairs: 2 } }) },
    { a: '1', b: '2' },
  );
  assert.deepEqual({ ...parseCookieHeader(`a=${'x'.repeat(4097)}; a=ok; b=é`) }, { a: 'ok', b: 'é' });
  // Value size counts UTF-8 bytes: two-byte 'é' × 3 is 6 bytes.
  assert.deepEqual({ ...parseCookieHeader('a=ééé; b=ok', { limits: { maxValueBytes: 5 } }) }, { b: 'ok' });
  assert.deepEqual({ ...parseCookieHeader('a=1', { limits: { maxHeaderBytes: 2 } }) }, {});
  // Three-byte '€': the UTF-16 length alone (3 units) would let 9 bytes through a limit of 8.
  assert.deepEqual({ ...parseCookieHeader('a=€€€; b=ok', { limits: { maxValueBytes: 8 } }) }, { b: 'ok' });
  assert.deepEqual(
    { ...parseCookieHeader('a=€€€; b=ok', { limits: { maxValueBytes: 9 } }) },
    { a: '€€€', b: 'ok' },
  );
});

test('checklist #21: the header limit counts UTF-8 bytes, up to 3 per UTF-16 unit (4 per pair)', () => {
  // 'a=€€€' is 5 units and 11 bytes, 'a=€€€; sid=x' 18; '😀' is 2 units and 4 bytes.
  assert.deepEqual({ ...parseCookieHeader('a=€€€', { limits: { maxHeaderBytes: 10 } }) }, {});
  assert.deepEqual({ ...parseCookieHeader('a=€€€', { limits: { maxHeaderBytes: 11 } }) }, { a: '€€€' });
  assert.deepEqual({ ...parseCookieHeader('a=😀😀', { limits: { maxHeaderBytes: 9 } }) }, {});
  assert.deepEqual({ ...parseCookieHeader('a=😀😀', { limits: { maxHeaderBytes: 10 } }) }, { a: '😀😀' });
  // Plain ASCII under a third of the limit is never measured, and is never refused.
  assert.deepEqual(
    { ...parseCookieHeader('a=1; b=2', { limits: { maxHeaderBytes: 24 } }) },
    { a: '1', b: '2' },
  );
  assert.equal(readCookie('a=€€€; sid=x', 'sid', { maxHeaderBytes: 17 }).length, 0);
  assert.deepEqual(readCookie('a=€€€; sid=x', 'sid', { maxHeaderBytes: 18 }), ['x']);
});
