import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { DecryptError } from '../errors.ts';
import { randomBytes } from './random.ts';
import { xaes256gcm, xaesKey } from './xaes.ts';

const utf8 = new TextEncoder();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

// The spec's two vectors are in vectors.test.ts with the accumulated test; these cover the API.

test('property: open(seal(m)) = m through xaesKey and the one-shot API alike', () => {
  const rawKey = randomBytes(32);
  const key = xaesKey(rawKey);
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 24, maxLength: 24 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 40 }),
      (nonce, plaintext, aad) => {
        const sealed = key.seal(nonce, plaintext, aad);
        assert.equal(sealed.length, plaintext.length + 16);
        assert.deepEqual(xaes256gcm.seal(rawKey, nonce, plaintext, aad), sealed);
        assert.deepEqual(key.open(nonce, sealed, aad), plaintext);
        assert.deepEqual(xaes256gcm.open(rawKey, nonce, sealed, aad), plaintext);
      },
    ),
    { numRuns: 200 },
  );
});

test('a reused key gives the same result however calls interleave (the ECB cipher keeps no state)', () => {
  const rawKey = randomBytes(32);
  const key = xaesKey(rawKey);
  const nonces = Array.from({ length: 50 }, () => randomBytes(24));
  const message = utf8.encode('same message');
  const first = nonces.map((nonce) => hex(key.seal(nonce, message)));
  const again = nonces.map((nonce) => hex(key.seal(nonce, message)));
  const fresh = nonces.map((nonce) => hex(xaes256gcm.seal(rawKey, nonce, message)));
  assert.deepEqual(again, first);
  assert.deepEqual(fresh, first);
  assert.equal(new Set(first).size, nonces.length);
});

test('the subkey depends on the first 12 nonce bytes, the GCM IV on the last 12', () => {
  const key = xaesKey(randomBytes(32));
  const nonce = randomBytes(24);
  const message = new Uint8Array(32);
  const base = hex(key.seal(nonce, message));
  for (const index of [0, 11, 12, 23]) {
    const changed = nonce.slice();
    changed[index]! ^= 0x80;
    assert.notEqual(hex(key.seal(changed, message)), base, `nonce byte ${index}`);
  }
});

test('XAES differs from plain AES-256-GCM under the same key and the nonce tail', () => {
  const rawKey = randomBytes(32);
  const nonce = randomBytes(24);
  const plain = createCipheriv('aes-256-gcm', rawKey, nonce.subarray(12), { authTagLength: 16 });
  const gcm = Buffer.concat([plain.update(new Uint8Array(16)), plain.final(), plain.getAuthTag()]);
  assert.notEqual(hex(xaes256gcm.seal(rawKey, nonce, new Uint8Array(16))), hex(gcm));
});

test('checklist #38, #36: open rejects short input, truncated or extended tags, and any flipped bit', () => {
  const key = xaesKey(randomBytes(32));
  const nonce = randomBytes(24);
  const aad = utf8.encode('aad');
  const sealed = key.seal(nonce, utf8.encode('0123456789abcdef'), aad);
  for (const length of [0, 1, 15, 16, 20, 28, 31]) {
    assert.throws(() => key.open(nonce, sealed.subarray(0, length), aad), DecryptError, `length ${length}`);
  }
  assert.throws(() => key.open(nonce, new Uint8Array([...sealed, 0]), aad), DecryptError);
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    const flipped = sealed.slice();
    flipped[bit >>> 3]! ^= 1 << (bit & 7);
    assert.throws(() => key.open(nonce, flipped, aad), DecryptError);
  }
  for (let bit = 0; bit < 24 * 8; bit++) {
    const flipped = nonce.slice();
    flipped[bit >>> 3]! ^= 1 << (bit & 7);
    assert.throws(() => key.open(flipped, sealed, aad), DecryptError);
  }
});

test('open throws DecryptError for a wrong key, AAD, nonce length or non-bytes; never TypeError', () => {
  const rawKey = randomBytes(32);
  const key = xaesKey(rawKey);
  const nonce = randomBytes(24);
  const sealed = key.seal(nonce, utf8.encode('x'), utf8.encode('a'));
  const cases: Array<[string, () => unknown]> = [
    ['wrong key', () => xaesKey(randomBytes(32)).open(nonce, sealed, utf8.encode('a'))],
    ['wrong AAD', () => key.open(nonce, sealed, utf8.encode('b'))],
    ['no AAD', () => key.open(nonce, sealed)],
    ['12-byte nonce', () => key.open(nonce.subarray(0, 12), sealed, utf8.encode('a'))],
    ['25-byte nonce', () => key.open(new Uint8Array(25), sealed, utf8.encode('a'))],
    ['string nonce', () => key.open('n' as unknown as Uint8Array, sealed)],
    ['string input', () => key.open(nonce, 'sealed' as unknown as Uint8Array)],
    ['null AAD', () => key.open(nonce, sealed, null as unknown as Uint8Array)],
  ];
  for (const [name, open] of cases) assert.throws(open, DecryptError, name);
});

test('caller mistakes on seal and key setup are TypeError', () => {
  for (const size of [0, 16, 24, 31, 33, 64]) assert.throws(() => xaesKey(new Uint8Array(size)), TypeError);
  assert.throws(() => xaesKey('k'.repeat(32) as unknown as Uint8Array), TypeError);
  const key = xaesKey(randomBytes(32));
  for (const size of [0, 12, 23, 25]) {
    assert.throws(() => key.seal(new Uint8Array(size), new Uint8Array(1)), TypeError);
  }
  assert.throws(() => xaes256gcm.seal(new Uint8Array(16), new Uint8Array(24), new Uint8Array(1)), TypeError);
});

test('an XaesKey exposes no key bytes', () => {
  const rawKey = randomBytes(32);
  const key = xaesKey(rawKey);
  assert.deepEqual(Object.keys(key).sort(), ['open', 'seal']);
  assert.ok(!JSON.stringify(key).includes(Buffer.from(rawKey).toString('base64')));
});
