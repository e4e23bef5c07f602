import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeBase64url } from './base64url.ts';
import { constantTimeEqual, hmacSha256, sha256, sha256Base64url } from './hmac.ts';

const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const utf8 = new TextEncoder();

test('RFC 4231 test case 2', () => {
  assert.deepEqual(
    hmacSha256(utf8.encode('Jefe'), utf8.encode('what do ya want for nothing?')),
    fromHex('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'),
  );
});

test('checklist #45: a length mismatch returns false and never throws', () => {
  const mac = hmacSha256(new Uint8Array(32), utf8.encode('m'));
  assert.equal(constantTimeEqual(mac, mac.subarray(0, 31)), false);
  assert.equal(constantTimeEqual(mac.subarray(0, 16), mac), false);
  assert.equal(constantTimeEqual(mac, new Uint8Array(0)), false);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
  assert.equal(constantTimeEqual(mac, mac.slice()), true);
});

test('checklist #45: non-bytes at runtime compare as false, never throw', () => {
  const mac = hmacSha256(new Uint8Array(32), utf8.encode('m'));
  for (const value of [undefined, null, 'abc', 42, {}, [1, 2], Buffer.from(mac).toString('hex')]) {
    assert.equal(constantTimeEqual(mac, value as unknown as Uint8Array), false);
    assert.equal(constantTimeEqual(value as unknown as Uint8Array, mac), false);
  }
});

test('checklist #45: property: constantTimeEqual agrees with byte-wise equality', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
      assert.equal(constantTimeEqual(a, b), Buffer.from(a).equals(Buffer.from(b)));
      assert.equal(constantTimeEqual(a, a.slice()), true);
    }),
  );
});

test('checklist #45: a MAC with any single flipped bit does not verify', () => {
  const key = new Uint8Array(32).fill(3);
  const mac = hmacSha256(key, utf8.encode('session'));
  for (let bit = 0; bit < 256; bit++) {
    const flipped = mac.slice();
    flipped[bit >>> 3]! ^= 1 << (bit & 7);
    assert.equal(constantTimeEqual(mac, flipped), false);
  }
});

test('sha256Base64url: the store-key digest, one-shot where node:crypto has hash(), equal to the two-step form', () => {
  // FIPS 180-2 "abc": ba7816bf…f20015ad.
  assert.equal(sha256Base64url('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  for (const text of ['', 'x'.repeat(1000), 'é€😀', 'a\u0000b']) {
    assert.equal(sha256Base64url(text), encodeBase64url(sha256(text)), JSON.stringify(text).slice(0, 20));
  }
});
