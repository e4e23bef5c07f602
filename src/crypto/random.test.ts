import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBase64url } from './base64url.ts';
import { newNonce, newToken, randomBytes } from './random.ts';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

// Upper critical value of chi-squared with 255 degrees of freedom at p = 1e-6 is about 377 (Wilson-Hilferty);
// 400 puts a false alarm far below one in a million runs, while a biased generator (one byte value
// 1% too common over 32e6 bytes) scores in the thousands.
const CHI_SQUARED_BOUND = 400;

test('checklist #1: 10^6 tokens: 43 chars of [A-Za-z0-9_-], no duplicates, bytes pass a chi-squared test', () => {
  const count = 1_000_000;
  const seen = new Set<string>();
  const histogram = new Float64Array(256);
  for (let i = 0; i < count; i++) {
    const token = newToken();
    if (!TOKEN.test(token)) assert.fail(`token ${i} has the wrong length or alphabet: ${token}`);
    seen.add(token);
    const bytes = decodeBase64url(token);
    if (bytes === null || bytes.length !== 32) assert.fail(`token ${i} does not decode to 32 bytes`);
    for (let j = 0; j < 32; j++) histogram[bytes[j]!]!++;
  }
  assert.equal(seen.size, count, 'a token repeated');
  const expected = (count * 32) / 256;
  let chiSquared = 0;
  for (const observed of histogram) chiSquared += (observed - expected) ** 2 / expected;
  assert.ok(chiSquared < CHI_SQUARED_BOUND, `chi-squared ${chiSquared.toFixed(1)} over 255 d.o.f.`);
});

test('checklist #37: 10^6 nonces from newNonce() are 24 bytes and all distinct', () => {
  const count = 1_000_000;
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const nonce = newNonce();
    if (nonce.length !== 24) assert.fail('nonce is not 24 bytes');
    // fromCharCode rather than a Buffer view: viewing a small on-heap array's .buffer is slow.
    seen.add(String.fromCharCode.apply(null, nonce as unknown as number[]));
  }
  assert.equal(seen.size, count, 'a nonce repeated');
});

test('randomBytes returns fresh arrays of the requested size and refuses bad sizes', () => {
  assert.equal(randomBytes(0).length, 0);
  const a = randomBytes(64);
  const b = randomBytes(64);
  assert.equal(a.length, 64);
  assert.equal(a.buffer.byteLength, 64); // not a view into a shared pool
  assert.notDeepEqual(a, b);
  for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '8' as unknown as number]) {
    assert.throws(() => randomBytes(n), TypeError);
  }
});

test('checklist #2: tokens carry no shared prefix or structure', () => {
  const tokens = Array.from({ length: 64 }, () => newToken());
  const prefixes = new Set(tokens.map((token) => token.slice(0, 4)));
  assert.ok(prefixes.size > 60, 'random 4-char prefixes should almost never collide');
});
