import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { deriveSubkey, hkdfSha256 } from './hkdf.ts';

const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const utf8 = new TextEncoder();

/** RFC 5869 written out with HMAC, as an independent reference for node's hkdfSync. */
function referenceHkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = createHmac('sha256', salt.length > 0 ? salt : new Uint8Array(32))
    .update(ikm)
    .digest();
  const out = new Uint8Array(length);
  let block = new Uint8Array(0);
  for (let i = 1, filled = 0; filled < length; i++) {
    block = createHmac('sha256', prk)
      .update(block)
      .update(info)
      .update(new Uint8Array([i]))
      .digest();
    out.set(block.subarray(0, length - filled), filled);
    filled += block.length;
  }
  return out;
}

test('checklist #44: RFC 5869 test cases 1 and 3', () => {
  assert.deepEqual(
    hkdfSha256(
      fromHex('0b'.repeat(22)),
      fromHex('000102030405060708090a0b0c'),
      fromHex('f0f1f2f3f4f5f6f7f8f9'),
      42,
    ),
    fromHex('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865'),
  );
  assert.deepEqual(
    hkdfSha256(fromHex('0b'.repeat(22)), new Uint8Array(0), new Uint8Array(0), 42),
    fromHex('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8'),
  );
});

test('checklist #44: property: hkdfSha256 agrees with a reference RFC 5869 implementation', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 80 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 80 }),
      fc.integer({ min: 1, max: 600 }),
      (ikm, salt, info, length) => {
        assert.deepEqual(hkdfSha256(ikm, salt, info, length), referenceHkdf(ikm, salt, info, length));
      },
    ),
    { numRuns: 100 },
  );
});

test('output length must be an integer from 1 to 8160', () => {
  const ikm = new Uint8Array(32).fill(9);
  assert.equal(hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 8160).length, 8160);
  for (const length of [0, -1, 8161, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), length),
      TypeError,
      `${length}`,
    );
  }
});

test('checklist #44: deriveSubkey is HKDF(ikm=master, salt=empty, info="latchkey/v1/<purpose>", 32)', () => {
  const master = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  for (const purpose of ['cookie', 'store', 'csrf']) {
    const expected = referenceHkdf(master, new Uint8Array(0), utf8.encode(`latchkey/v1/${purpose}`), 32);
    assert.deepEqual(deriveSubkey(master, purpose), expected);
  }
});

test('checklist #44: keys differ per purpose and per master key', () => {
  const master = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  const other = master.slice();
  other[31]! ^= 1;
  const purposes = ['cookie', 'store', 'csrf', 'cookie-cache', 'a', 'z9-'];
  const keys = purposes.flatMap((purpose) => [deriveSubkey(master, purpose), deriveSubkey(other, purpose)]);
  const distinct = new Set(keys.map((key) => Buffer.from(key).toString('hex')));
  assert.equal(distinct.size, keys.length);
  for (const key of keys) assert.equal(key.length, 32);
});

test('deriveSubkey refuses malformed purposes and short master keys with TypeError', () => {
  const master = new Uint8Array(32).map((_, i) => i);
  const bad = ['', 'Cookie', '1cookie', '-x', 'cookie/v2', 'a|b', 'cookie ', 'x'.repeat(33), 'caf\u00e9'];
  for (const purpose of bad) assert.throws(() => deriveSubkey(master, purpose), TypeError, purpose);
  assert.throws(() => deriveSubkey(master, undefined as unknown as string), TypeError);
  assert.equal(deriveSubkey(master, 'x'.repeat(32)).length, 32);
  assert.throws(() => deriveSubkey(new Uint8Array(16), 'cookie'), TypeError);
  assert.throws(() => deriveSubkey('k'.repeat(32) as unknown as Uint8Array, 'cookie'), TypeError);
});
