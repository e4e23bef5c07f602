import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { DecryptError } from '../errors.ts';
import { gcmOpen, gcmSeal } from './gcm.ts';

const utf8 = new TextEncoder();
const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
const iv = new Uint8Array(12).map((_, i) => i + 100);
const aad = utf8.encode('header');

test('round-trips with 128-, 192- and 256-bit keys; output is ciphertext || 16-byte tag', () => {
  for (const size of [16, 24, 32]) {
    const sealed = gcmSeal(key.subarray(0, size), iv, utf8.encode('hello'), aad);
    assert.equal(sealed.length, 5 + 16);
    assert.deepEqual(gcmOpen(key.subarray(0, size), iv, sealed, aad), utf8.encode('hello'));
  }
});

test('property: open(seal(m)) = m for any plaintext and AAD, including empty ones', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 64 }), (message, header) => {
      const sealed = gcmSeal(key, iv, message, header);
      assert.deepEqual(gcmOpen(key, iv, sealed, header), message);
    }),
    { numRuns: 200 },
  );
});

test('checklist #38: tags of 15/12/8/4/0 bytes and 17-byte tags are rejected', () => {
  const sealed = gcmSeal(key, iv, utf8.encode('sixteen byte msg'), aad);
  const ciphertext = sealed.subarray(0, 16);
  const tag = sealed.subarray(16);
  for (const tagLength of [15, 12, 8, 4, 0]) {
    const short = new Uint8Array([...ciphertext, ...tag.subarray(0, tagLength)]);
    assert.throws(() => gcmOpen(key, iv, short, aad), DecryptError, `${tagLength}-byte tag`);
  }
  assert.throws(() => gcmOpen(key, iv, new Uint8Array([...sealed, 0]), aad), DecryptError, '17-byte tag');
  // Without authTagLength Node would verify a truncated tag (DEP0090); with it, setAuthTag refuses.
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  assert.throws(() => decipher.setAuthTag(tag.subarray(0, 4)));
});

test('open throws DecryptError for short input, wrong key, IV, AAD or key size, and non-bytes', () => {
  const sealed = gcmSeal(key, iv, utf8.encode('secret'), aad);
  const other = key.slice();
  other[0]! ^= 1;
  const cases: Array<[string, () => unknown]> = [
    ['15 bytes', () => gcmOpen(key, iv, sealed.subarray(0, 15), aad)],
    ['empty', () => gcmOpen(key, iv, new Uint8Array(0), aad)],
    ['wrong key', () => gcmOpen(other, iv, sealed, aad)],
    ['wrong AAD', () => gcmOpen(key, iv, sealed, utf8.encode('headex'))],
    ['missing AAD', () => gcmOpen(key, iv, sealed, new Uint8Array(0))],
    ['11-byte IV', () => gcmOpen(key, iv.subarray(0, 11), sealed, aad)],
    ['13-byte IV', () => gcmOpen(key, new Uint8Array(13), sealed, aad)],
    ['31-byte key', () => gcmOpen(key.subarray(0, 31), iv, sealed, aad)],
    ['string input', () => gcmOpen(key, iv, 'abc' as unknown as Uint8Array, aad)],
    ['undefined AAD', () => gcmOpen(key, iv, sealed, undefined as unknown as Uint8Array)],
  ];
  for (const [name, open] of cases) assert.throws(open, DecryptError, name);
});

test('checklist #36: every single-bit flip of ciphertext or tag is rejected', () => {
  const sealed = gcmSeal(key, iv, utf8.encode('a message of some length'), aad);
  for (let bit = 0; bit < sealed.length * 8; bit++) {
    const flipped = sealed.slice();
    flipped[bit >>> 3]! ^= 1 << (bit & 7);
    assert.throws(() => gcmOpen(key, iv, flipped, aad), DecryptError, `bit ${bit}`);
  }
});

test('seal refuses wrong key and IV sizes with TypeError (caller mistakes)', () => {
  assert.throws(() => gcmSeal(new Uint8Array(31), iv, new Uint8Array(1), aad), TypeError);
  assert.throws(() => gcmSeal(new Uint8Array(64), iv, new Uint8Array(1), aad), TypeError);
  assert.throws(() => gcmSeal(key, new Uint8Array(16), new Uint8Array(1), aad), TypeError);
  assert.throws(() => gcmSeal(key, new Uint8Array(8), new Uint8Array(1), aad), TypeError);
});
