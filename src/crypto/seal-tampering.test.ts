// Adversarial inputs for openValue: the "Sealed / signed values" list of SECURITY-CHECKLIST.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { assertNotOpen, message, ring1, ring21 } from '../../test/support/seal-fixtures.ts';
import { decodeBase64url, encodeBase64url } from './base64url.ts';
import { openValue, sealValue } from './seal.ts';

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));

/** Splits a sealed value into its parts and decoded body. */
function parts(sealed: string) {
  const [version, kid, body] = sealed.split('.') as [string, string, string];
  return { version, kid, body, bytes: decodeBase64url(body)! };
}

test('checklist #36: every single-bit flip of the decoded body (nonce, ciphertext, tag) is rejected', () => {
  const sealed = sealValue(ring1, 'cookie', 'sid', message);
  const { bytes } = parts(sealed);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const flipped = bytes.slice();
    flipped[bit >>> 3]! ^= 1 << (bit & 7);
    const result = openValue(ring1, 'cookie', 'sid', `v1.k1.${encodeBase64url(flipped)}`);
    assert.deepEqual(result, { ok: false, reason: 'tampered' }, `bit ${bit}`);
  }
});

test('checklist #36: every single-bit flip of every character, and every truncation, never opens', () => {
  const sealed = sealValue(ring21, 'cookie', 'sid', message);
  assert.ok(openValue(ring21, 'cookie', 'sid', sealed).ok);
  for (let i = 0; i < sealed.length; i++) {
    for (let bit = 0; bit < 16; bit++) {
      const code = sealed.charCodeAt(i) ^ (1 << bit);
      const flipped = sealed.slice(0, i) + String.fromCharCode(code) + sealed.slice(i + 1);
      assertNotOpen(openValue(ring21, 'cookie', 'sid', flipped), `char ${i} bit ${bit}`);
    }
  }
  for (let length = 0; length < sealed.length; length++) {
    assertNotOpen(openValue(ring21, 'cookie', 'sid', sealed.slice(0, length)), `prefix ${length}`);
    assertNotOpen(
      openValue(ring21, 'cookie', 'sid', sealed.slice(sealed.length - length)),
      `suffix ${length}`,
    );
  }
});

test('checklist #36: property: a random bit flip or cut of any sealed value never opens', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.nat(),
      fc.nat({ max: 7 }),
      fc.nat(),
      (pt, at, bit, cut) => {
        const sealed = sealValue(ring1, 'cookie', 'sid', pt);
        const i = at % sealed.length;
        const flipped =
          sealed.slice(0, i) + String.fromCharCode(sealed.charCodeAt(i) ^ (1 << bit)) + sealed.slice(i + 1);
        assertNotOpen(openValue(ring1, 'cookie', 'sid', flipped), 'flip');
        assertNotOpen(openValue(ring1, 'cookie', 'sid', sealed.slice(0, cut % sealed.length)), 'cut');
        const bytes = parts(sealed).bytes;
        bytes[at % bytes.length]! ^= 1 << bit;
        assertNotOpen(openValue(ring1, 'cookie', 'sid', `v1.k1.${encodeBase64url(bytes)}`), 'body flip');
      },
    ),
    { numRuns: 300 },
  );
});

test('checklist #38: tags of 15/12/8/4/0 bytes, and 17 bytes, are rejected', () => {
  const sealed = sealValue(ring1, 'cookie', 'sid', message);
  const { bytes } = parts(sealed);
  const withoutTag = bytes.subarray(0, bytes.length - 16);
  const tag = bytes.subarray(bytes.length - 16);
  for (const tagLength of [15, 12, 8, 4, 0]) {
    const value = `v1.k1.${encodeBase64url(new Uint8Array([...withoutTag, ...tag.subarray(0, tagLength)]))}`;
    assertNotOpen(openValue(ring1, 'cookie', 'sid', value), `${tagLength}-byte tag`);
  }
  assertNotOpen(
    openValue(ring1, 'cookie', 'sid', `v1.k1.${encodeBase64url(new Uint8Array([...bytes, 0]))}`),
    '17',
  );
  // Bodies too short to hold nonce and tag are malformed before any decryption.
  for (const length of [0, 1, 24, 39]) {
    const value = `v1.k1.${encodeBase64url(bytes.subarray(0, length))}`;
    assert.deepEqual(
      openValue(ring1, 'cookie', 'sid', value),
      { ok: false, reason: 'malformed' },
      `${length}`,
    );
  }
});

test('checklist #46: trailing garbage, padding, standard base64 and whitespace are rejected', () => {
  const sealed = sealValue(ring1, 'cookie', 'sid', message);
  const { bytes } = parts(sealed);
  const standard = Buffer.from(bytes).toString('base64');
  const variants = [
    `${sealed}x`,
    `${sealed}xx`,
    `${sealed}=`,
    `${sealed}==`,
    `v1.k1.${standard}`,
    `v1.k1.${standard.replace(/=+$/, '')}`,
    `v1.k1.${standard.replaceAll('-', '+')}`,
    sealed.replaceAll('-', '+').replaceAll('_', '/'),
    `${sealed.slice(0, 20)} ${sealed.slice(20)}`,
    `${sealed.slice(0, 20)}\n${sealed.slice(20)}`,
    `${sealed.slice(0, 20)}\r\n${sealed.slice(20)}`,
    `${sealed}\n`,
    ` ${sealed}`,
    `${sealed} `,
    `${sealed}\u0000`,
    `"${sealed}"`,
    encodeURIComponent(sealed).replaceAll('v1.', 'v1%2E'),
  ];
  for (const value of variants) {
    if (value === sealed) continue; // a message without '-' or '_' makes the replace a no-op
    assertNotOpen(openValue(ring1, 'cookie', 'sid', value), JSON.stringify(value));
  }
});

test('structure: empty, extra and swapped segments, unknown versions and oversized kids are malformed', () => {
  const sealed = sealValue(ring1, 'cookie', 'sid', message);
  const { body } = parts(sealed);
  const malformed = [
    '',
    '.',
    '..',
    '...',
    'v1',
    'v1.k1',
    `v1.k1.${body}.`,
    `v1.k1.${body}.x`,
    `v1..${body}`,
    `.k1.${body}`,
    'v1.k1.',
    `k1.v1.${body}`,
    `${body}.k1.v1`,
    `v1.${body}.k1`,
    `v2.k1.${body}`,
    `V1.k1.${body}`,
    `v01.k1.${body}`,
    `v1 .k1.${body}`,
    `xv1.k1.${body}`,
    `v1.${'k'.repeat(1024)}.${body}`,
    `v1.${'k'.repeat(17)}.${body}`,
    `v1.k 1.${body}`,
    `v1.k1.k1.${body}`,
  ];
  for (const value of malformed) {
    assert.deepEqual(
      openValue(ring1, 'cookie', 'sid', value),
      { ok: false, reason: 'malformed' },
      value.slice(0, 40),
    );
  }
});

test('maxLength: longer values are malformed before decoding; default 65536 characters', () => {
  const small = sealValue(ring1, 'cookie', 'sid', message);
  assert.ok(openValue(ring1, 'cookie', 'sid', small, small.length).ok);
  assert.deepEqual(openValue(ring1, 'cookie', 'sid', small, small.length - 1), {
    ok: false,
    reason: 'malformed',
  });
  const big = sealValue(ring1, 'cookie', 'sid', new Uint8Array(50_000));
  assert.ok(big.length > 65536);
  assert.deepEqual(openValue(ring1, 'cookie', 'sid', big), { ok: false, reason: 'malformed' });
  assert.ok(openValue(ring1, 'cookie', 'sid', big, 100_000).ok);
  assert.deepEqual(openValue(ring1, 'cookie', 'sid', 'v1.k1.'.padEnd(10_000_000, 'A')), {
    ok: false,
    reason: 'malformed',
  });
});

test('checklist #48: openValue never throws, whatever the sealed input', () => {
  const sealed = sealValue(ring1, 'cookie', 'sid', message);
  const junk: unknown[] = [
    undefined,
    null,
    0,
    1n,
    {},
    [],
    [sealed],
    new Uint8Array(3),
    Symbol('s'),
    () => sealed,
  ];
  junk.push({ toString: () => sealed }, Object.create(null), new String(sealed));
  for (const value of junk) {
    assert.deepEqual(openValue(ring1, 'cookie', 'sid', value as string), { ok: false, reason: 'malformed' });
  }
  const segment = fc.oneof(
    fc.string({ unit: anyCodeUnit, maxLength: 60 }),
    fc.constantFrom('v1', 'k1', '', parts(sealed).body),
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: anyCodeUnit }),
        fc.array(segment, { maxLength: 5 }).map((s) => s.join('.')),
      ),
      (input) => {
        const result = openValue(ring1, 'cookie', 'sid', input);
        assert.equal(result.ok, input === sealed); // the generator can reassemble the real value
      },
    ),
    { numRuns: 2000 },
  );
});
