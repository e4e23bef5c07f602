import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeBase64url, encodeBase64url } from './base64url.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const base64urlText = fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 64 });
// Any UTF-16 code unit (lone surrogates included), mostly base64url ones so inputs come close to valid.
// (fast-check's 'binary' unit would do, but its first use costs most of a second.)
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
const nearBase64url = fc.string({
  unit: fc.oneof(
    { arbitrary: fc.constantFrom(...ALPHABET), weight: 4 },
    { arbitrary: anyCodeUnit, weight: 1 },
  ),
  maxLength: 40,
});

test('encodes RFC 4648 test vectors without padding', () => {
  const vectors: Array<[string, string]> = [
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ];
  for (const [plain, encoded] of vectors) {
    assert.equal(encodeBase64url(new TextEncoder().encode(plain)), encoded);
    assert.deepEqual(decodeBase64url(encoded), new TextEncoder().encode(plain));
  }
  assert.equal(encodeBase64url(new Uint8Array([0xfb, 0xff, 0xbf])), '-_-_');
});

test('encodes only the viewed bytes of a subarray', () => {
  const bytes = new Uint8Array([1, 2, 3, 4, 5, 6]);
  assert.equal(encodeBase64url(bytes.subarray(2, 5)), encodeBase64url(new Uint8Array([3, 4, 5])));
});

test('property: decode(encode(bytes)) returns the bytes, as a plain unshared Uint8Array', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const encoded = encodeBase64url(bytes);
      assert.equal(encoded, Buffer.from(bytes).toString('base64url'));
      const decoded = decodeBase64url(encoded);
      assert.ok(decoded !== null);
      assert.equal(Object.getPrototypeOf(decoded), Uint8Array.prototype);
      assert.equal(decoded.buffer.byteLength, bytes.length); // not a slice of Buffer's shared pool
      assert.deepEqual(decoded, bytes);
    }),
    { numRuns: 500 },
  );
});

test('checklist #46: property: a string decodes if and only if it is the canonical encoding', () => {
  fc.assert(
    fc.property(base64urlText, (text) => {
      const decoded = decodeBase64url(text);
      const canonical =
        text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text;
      assert.equal(decoded !== null, canonical);
      if (decoded !== null) assert.equal(encodeBase64url(decoded), text);
    }),
    { numRuns: 2000 },
  );
});

test('checklist #46: non-canonical trailing bits are rejected', () => {
  assert.deepEqual(decodeBase64url('AA'), new Uint8Array([0]));
  for (const text of ['AB', 'AP', 'AAB', 'AAD', 'Zh', 'Zm9', '_-_-_-_-_x', '_-_-_-_-_-_']) {
    assert.equal(decodeBase64url(text), null, text);
  }
  // Every last character but the canonical ones, for both partial group sizes.
  for (const last of ALPHABET) {
    const two = `A${last}`;
    const three = `AA${last}`;
    assert.equal(decodeBase64url(two) !== null, 'AQgw'.includes(last), two);
    assert.equal(decodeBase64url(three) !== null, 'AEIMQUYcgkosw048'.includes(last), three);
  }
});

test('checklist #46: padding, standard base64, whitespace and a stray character are rejected', () => {
  const valid = encodeBase64url(new Uint8Array([0xfb, 0xef, 0xff, 0x10, 0x20, 0x30]));
  assert.ok(decodeBase64url(valid) !== null);
  const variants = [
    `${valid}=`,
    `${valid}==`,
    'Zg==',
    'Zm8=',
    valid.replaceAll('-', '+'),
    valid.replaceAll('_', '/'),
    `${valid}x`,
    `x${valid}`,
    ` ${valid}`,
    `${valid} `,
    `${valid.slice(0, 3)} ${valid.slice(3)}`,
    `${valid.slice(0, 3)}\n${valid.slice(3)}`,
    `${valid}\n`,
    `${valid}\r\n`,
    `${valid}\t`,
    `${valid}\u0000`,
    `${valid}.`,
    `${valid.slice(0, 2)}\u00e9${valid.slice(2)}`,
    'A',
    'AAAAA',
  ];
  for (const text of variants) assert.equal(decodeBase64url(text), null, JSON.stringify(text));
});

test('never throws, even for non-strings at runtime', () => {
  for (const value of [undefined, null, 42, {}, [], new Uint8Array(3), Symbol('x')]) {
    assert.equal(decodeBase64url(value as unknown as string), null);
  }
  fc.assert(
    fc.property(nearBase64url, (text) => {
      const decoded = decodeBase64url(text);
      if (decoded !== null) assert.equal(encodeBase64url(decoded), text);
    }),
    { numRuns: 1000 },
  );
  assert.deepEqual(decodeBase64url(''), new Uint8Array(0));
});
