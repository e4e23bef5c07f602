import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readCookie } from './parse.ts';

/**
 * SECURITY-CHECKLIST.md "Bad inputs / Cookie header parser", each against `readCookie(h, '__Host-sid')` and
 * `readCookie(h, 'sid')`. A row is [header(s), values for __Host-sid, values for sid].
 */
type Row = readonly [string | readonly string[], readonly string[], readonly string[]];

function check(rows: readonly Row[]): void {
  for (const [header, host, plain] of rows) {
    assert.deepEqual(readCookie(header, '__Host-sid'), host, `__Host-sid in ${JSON.stringify(header)}`);
    assert.deepEqual(readCookie(header, 'sid'), plain, `sid in ${JSON.stringify(header)}`);
  }
}

test('checklist #19: degenerate headers; a nameless pair never becomes a name', () => {
  check([
    ['', [], []],
    [';;;', [], []],
    ['=', [], []],
    ['==', [], []],
    ['sid', [], []],
    ['__Host-sid', [], []],
    ['=v', [], []],
    ['=__Host-sid=x', [], []],
    ['=sid=x', [], []],
    [' =__Host-sid=evil; =sid=evil', [], []],
    ['sid=', [], ['']],
    ['__Host-sid=', [''], []],
    ['; sid=a', [], ['a']],
    ['sid=a;;sid=b', [], ['a', 'b']],
    [';__Host-sid=a;', ['a'], []],
  ]);
});

test('checklist #17 / #22: duplicates come back in order, also across several Cookie headers', () => {
  check([
    ['sid=a; sid=b', [], ['a', 'b']],
    ['sid=b; sid=a', [], ['b', 'a']],
    [['sid=a', 'sid=b'], [], ['a', 'b']],
    [['sid=b', 'sid=a'], [], ['b', 'a']],
    [['x=1; __Host-sid=good', '', '__Host-sid=evil; y=2'], ['good', 'evil'], []],
    // A path-scoped cookie tossed from a sibling subdomain is sent first (longer path): both come back.
    ['__Host-sid=evil; __Host-sid=good', ['evil', 'good'], []],
  ]);
  assert.deepEqual(readCookie(['sid=a; sid=b'], 'sid'), readCookie(['sid=a', 'sid=b'], 'sid'));
});

test('checklist #18: names are exact and case-sensitive', () => {
  check([
    ['SID=a; Sid=b; sId=c', [], []],
    ['__Host-sid=a; __HOST-sid=b; __host-sid=c; __Secure-sid=d', ['a'], []],
    ['__HOST-sid=b; __host-sid=c', [], []],
    ['__Secure-sid=d; Host-sid=e; _Host-sid=f', [], []],
  ]);
});

test('checklist #18: SP and HTAB are trimmed; Unicode whitespace stays in the name, never matches', () => {
  check([
    ['sid =a', [], ['a']],
    ['sid= a', [], ['a']],
    ['\tsid\t=\ta\t', [], ['a']],
    ['  __Host-sid  =  a  ', ['a'], []],
  ]);
  const unicodeSpaces = ['\u00a0', '\u0085', '\u1680', '\u2028', '\u3000', '\ufeff', '\u000b', '\u000c'];
  for (let unit = 0x2000; unit <= 0x200a; unit++) unicodeSpaces.push(String.fromCharCode(unit));
  for (const space of unicodeSpaces) {
    check([
      [`${space}sid=a; ${space}__Host-sid=a`, [], []],
      [`sid${space}=a; __Host-sid${space}=a`, [], []],
      [`sid=${space}a; __Host-sid=a${space}`, [], []],
      [`${space}sid=a; sid=b; ${space}__Host-sid=evil; __Host-sid=good`, ['good'], ['b']],
    ]);
  }
});

test('checklist #20: no RFC 2109 legacy parsing; quotes and commas are never unescaped or split', () => {
  check([
    ['sid="a;b"', [], []],
    ['sid="a\\"b"', [], []],
    ['sid="x"; __Host-sid="x"', [], []],
    ['$Version=1; sid=x; $Path=/', [], ['x']],
    ['$Version=1; __Host-sid=x; $Path=/', ['x'], []],
    ['$Version=1; sid="a;b"', [], []],
    // PortSwigger "Cookie Chaos": a quoted value hiding a second cookie.
    ['$Version=1; sid="a; __Host-sid=evil"', [], []],
    ['sid=a, x=b', [], []],
    ['sid=a,__Host-sid=b', [], []],
  ]);
});

test('checklist #11 / #20: CTLs, DEL, non-ASCII, invalid UTF-8 and lone surrogates yield nothing', () => {
  const latin1InvalidUtf8 = Buffer.from([0xc3, 0x28, 0xff]).toString('latin1');
  for (const bad of [
    '\0',
    '\r',
    '\n',
    '\r\n',
    '\x7f',
    '\x80',
    '\xff',
    latin1InvalidUtf8,
    '\ufffd',
    '\ud800',
    '\udc00',
  ]) {
    check([
      [`sid=a${bad}b; __Host-sid=a${bad}b`, [], []],
      [`sid${bad}=a; __Host-sid${bad}=a`, [], []],
      [`${bad}sid=a; ${bad}__Host-sid=a`, [], []],
    ]);
  }
  check([['sid=a\r\nSet-Cookie: x=y', [], []]]);
});

test('percent escapes are returned as sent, never decoded (the sealed-value check rejects them)', () => {
  for (const escaped of ['%00', '%0d%0a', '%ZZ', '%E0%A4%A', '%253B', '%3B__Host-sid%3Devil']) {
    check([[`sid=${escaped}; __Host-sid=${escaped}`, [escaped], [escaped]]]);
  }
});

test('checklist #16: prototype keys are plain names', () => {
  const header = '__proto__=x; constructor=y; prototype=z; toString=t; hasOwnProperty=h; sid=a';
  check([[header, [], ['a']]]);
  assert.deepEqual(readCookie(header, '__proto__'), ['x']);
  assert.deepEqual(readCookie(header, 'hasOwnProperty'), ['h']);
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test('checklist #21: 8/16 KB headers are read, a 64 KB header is not read at all', () => {
  const filler = (bytes: number) => `pad=${'p'.repeat(bytes)}`;
  check([[`${filler(8 * 1024 - 40)}; sid=a; __Host-sid=b`, ['b'], ['a']]]);
  check([[`${filler(16 * 1024 - 40)}; sid=a; __Host-sid=b`, ['b'], ['a']]]);
  check([[`sid=a; __Host-sid=b; ${filler(64 * 1024)}`, [], []]]);
  check([[['sid=a; __Host-sid=b', filler(32 * 1024)], [], []]]);
  assert.deepEqual(readCookie(`sid=a; ${filler(64 * 1024)}`, 'sid', { maxHeaderBytes: 128 * 1024 }), ['a']);
});

test('checklist #21: 10k pairs or a 1 MB value yield nothing; the limits can be raised', () => {
  const tenThousandPairs = `${'a=;'.repeat(10_000)}sid=a; __Host-sid=b`;
  check([[tenThousandPairs, [], []]]);
  assert.deepEqual(readCookie(tenThousandPairs, 'sid', { maxPairs: 20_000 }), ['a']);
  const megabyte = 'v'.repeat(1024 * 1024);
  check([[`sid=${megabyte}; __Host-sid=${megabyte}`, [], []]]);
  const roomy = { maxHeaderBytes: 4 * 1024 * 1024 };
  assert.deepEqual(readCookie(`sid=${megabyte}; sid=ok`, 'sid', roomy), ['ok']);
  assert.deepEqual(readCookie(`sid=${megabyte}`, 'sid', { ...roomy, maxValueBytes: 2 * 1024 * 1024 }), [
    megabyte,
  ]);
});

test('checklist #12 / #21: value-size boundary and name+value of 4096 and 4097 bytes', () => {
  const name = '__Host-sid';
  const at4096 = 'a'.repeat(4096 - name.length);
  assert.deepEqual(readCookie(`${name}=${at4096}`, name), [at4096]);
  assert.deepEqual(readCookie(`${name}=${at4096}a`, name), [`${at4096}a`]);
  assert.deepEqual(readCookie(`sid=${'a'.repeat(4096)}`, 'sid'), ['a'.repeat(4096)]);
  assert.deepEqual(readCookie(`sid=${'a'.repeat(4097)}; sid=b`, 'sid'), ['b']);
});

test('checklist #21: ; and = runs (ReDoS shapes) give the right answer', () => {
  check([
    [';'.repeat(30_000), [], []],
    ['='.repeat(30_000), [], []],
    [';='.repeat(15_000), [], []],
    ['a;'.repeat(15_000), [], []],
    [`${' '.repeat(30_000)}sid=a`, [], ['a']],
    [`${'a;'.repeat(15_000)}sid=a`, [], ['a']],
  ]);
  assert.deepEqual(readCookie(`sid${'='.repeat(30_000)}`, 'sid'), []);
  assert.deepEqual(readCookie(`sid${'='.repeat(100)}`, 'sid'), ['='.repeat(99)]);
});
