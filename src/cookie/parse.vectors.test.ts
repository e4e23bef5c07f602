import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseCookieHeader } from './parse.ts';

/**
 * jshttp/cookie v2 `parseCookie` vectors (test/vectors/cookie/README.md) through `parseCookieHeader` with
 * `decode: true`. The `expected` field is v2's answer; `expected_v07` (quote stripping) is never ours
 * (checklist #20). Skipped vectors and why:
 */
const SKIPPED: ReadonlyMap<string, string> = new Map([
  [' = bar ', 'v2 keeps the nameless pair as the name ""; we skip it (checklist #19, CVE-2023-23934)'],
  ['   =   ', 'v2 keeps the nameless pair as the name ""; we skip it (checklist #19, CVE-2023-23934)'],
  ['__proto__=x; a=1', 'our own probe with no expected record; checked below as checklist #16'],
]);
/** `parseCookie_decodeOption` is skipped whole: it passes decoder functions; our `decode` is a boolean. */

interface ParseVector {
  input: string;
  expected: Record<string, string> | null;
}

const file = new URL('../../test/vectors/cookie/jshttp-cookie-vectors.json', import.meta.url);
const vectors = (JSON.parse(readFileSync(file, 'utf8')) as { parseCookie: ParseVector[] }).parseCookie;

test('checklist #16: jshttp/cookie v2 parseCookie vectors give the same record (first one wins)', () => {
  let run = 0;
  const skipped: string[] = [];
  for (const { input, expected } of vectors) {
    if (SKIPPED.has(input) || expected === null) {
      skipped.push(input);
      continue;
    }
    const record = parseCookieHeader(input, { decode: true });
    assert.equal(Object.getPrototypeOf(record), null);
    assert.deepEqual({ ...record }, expected, JSON.stringify(input));
    run++;
  }
  assert.deepEqual(skipped.sort(), [...SKIPPED.keys()].sort(), 'every skip is listed with its reason');
  assert.ok(run > 0);
  assert.equal(run, vectors.length - SKIPPED.size);
});

test('checklist #16: the __proto__ probe leaves Object.prototype untouched', () => {
  const record = parseCookieHeader('__proto__=x; a=1', { decode: true });
  assert.deepEqual(Object.entries(record), [
    ['__proto__', 'x'],
    ['a', '1'],
  ]);
  assert.equal(Object.getPrototypeOf(record), null);
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
});
