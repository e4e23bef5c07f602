import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { assertNotOpen, key1, key2, message, ring1, ring21, utf8 } from '../../test/support/seal-fixtures.ts';
import { decodeBase64url } from './base64url.ts';
import { createKeyring } from './keyring.ts';
import { randomBytes } from './random.ts';
import { openValue, sealValue } from './seal.ts';

/** Splits a sealed value into its parts and decoded body. */
function parts(sealed: string) {
  const [version, kid, body] = sealed.split('.') as [string, string, string];
  return { version, kid, body, bytes: decodeBase64url(body)! };
}

test('round trip: v1.<kid>.<base64url(nonce || ciphertext || tag)>', () => {
  const sealed = sealValue(ring1, 'cookie', '__Host-sid', message);
  assert.match(sealed, /^v1\.k1\.[A-Za-z0-9_-]+$/);
  assert.equal(parts(sealed).bytes.length, 24 + message.length + 16);
  assert.deepEqual(openValue(ring1, 'cookie', '__Host-sid', sealed), {
    ok: true,
    plaintext: message,
    kid: 'k1',
    stale: false,
  });
  const empty = sealValue(ring1, 'store', 'k', new Uint8Array(0));
  assert.equal(parts(empty).bytes.length, 40);
  assert.deepEqual(openValue(ring1, 'store', 'k', empty), {
    ok: true,
    plaintext: new Uint8Array(0),
    kid: 'k1',
    stale: false,
  });
});

test('property: any plaintext, purpose and context round-trips', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 400 }),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/),
      fc.string({ maxLength: 40 }),
      (plaintext, purpose, context) => {
        fc.pre(!/\p{Cs}/u.test(context));
        const sealed = sealValue(ring21, purpose, context, plaintext);
        const opened = openValue(ring21, purpose, context, sealed);
        assert.ok(opened.ok);
        assert.deepEqual(opened.plaintext, plaintext);
      },
    ),
    { numRuns: 300 },
  );
});

test('checklist #37: 10^5 sealed values carry 10^5 distinct nonces', () => {
  const count = 100_000;
  const nonces = new Set<string>();
  const plaintext = utf8.encode('same plaintext every time');
  for (let i = 0; i < count; i++) {
    const sealed = sealValue(ring1, 'cookie', 'sid', plaintext);
    nonces.add(sealed.slice(6, 6 + 32)); // 'v1.k1.' then 24 bytes = 32 base64url characters
  }
  assert.equal(nonces.size, count);
});

test('checklist #39: the AAD binds purpose, context (cookie name or store key), kid and key', () => {
  const csrf = sealValue(ring21, 'csrf', '__Host-sid', message);
  assert.deepEqual(openValue(ring21, 'cookie', '__Host-sid', csrf), { ok: false, reason: 'tampered' });
  const forA = sealValue(ring21, 'cookie', 'a', message);
  assert.deepEqual(openValue(ring21, 'cookie', 'b', forA), { ok: false, reason: 'tampered' });
  assertNotOpen(openValue(ring21, 'cookie', 'A', forA), 'context is case-sensitive');
  assertNotOpen(openValue(ring21, 'cookie', 'a|k2', forA), 'context cannot absorb the kid');
  assertNotOpen(openValue(ring21, 'cookie', '', forA), 'empty context');
  // The kid rewritten to another kid in the ring: the AAD no longer matches (and the key differs).
  const rewritten = forA.replace(/^v1\.k2\./, 'v1.k1.');
  assert.deepEqual(openValue(ring21, 'cookie', 'a', rewritten), { ok: false, reason: 'tampered' });
  // The same master key under two kids: only the AAD tells them apart.
  const twins = createKeyring([
    { kid: 'a1', key: key1 },
    { kid: 'a2', key: key1 },
  ]);
  const fromA1 = sealValue(twins, 'cookie', 'sid', message);
  assertNotOpen(openValue(twins, 'cookie', 'sid', fromA1.replace('.a1.', '.a2.')), 'same key, other kid');
  // Another app or environment with a different key under the same kid.
  const otherApp = createKeyring([{ kid: 'k1', key: randomBytes(32) }]);
  assert.deepEqual(openValue(otherApp, 'cookie', 'sid', sealValue(ring1, 'cookie', 'sid', message)), {
    ok: false,
    reason: 'tampered',
  });
});

test('checklist #42: sealed with k1, opened by [k2,k1] is ok and stale; by [k2] it is an unknown key', () => {
  const sealed = sealValue(ring1, 'cookie', 'sid', message);
  const opened = openValue(ring21, 'cookie', 'sid', sealed);
  assert.ok(opened.ok);
  assert.equal(opened.kid, 'k1');
  assert.equal(opened.stale, true);
  assert.deepEqual(opened.plaintext, message);
  const resealed = sealValue(ring21, 'cookie', 'sid', opened.plaintext);
  assert.ok(resealed.startsWith('v1.k2.'));
  assert.deepEqual(openValue(ring21, 'cookie', 'sid', resealed), {
    ok: true,
    plaintext: message,
    kid: 'k2',
    stale: false,
  });
  const ring2 = createKeyring([{ kid: 'k2', key: key2 }]);
  assert.deepEqual(openValue(ring2, 'cookie', 'sid', sealed), { ok: false, reason: 'unknown-key' });
  for (const kid of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    const value = sealed.replace('.k1.', `.${kid}.`);
    assert.deepEqual(openValue(ring21, 'cookie', 'sid', value), { ok: false, reason: 'unknown-key' }, kid);
  }
});

test('caller mistakes (purpose, context, maxLength) are TypeError, in sealValue and openValue alike', () => {
  const sealed = sealValue(ring1, 'cookie', 'sid', message);
  for (const purpose of ['', 'Cookie', 'a|b', 'x'.repeat(33)]) {
    assert.throws(() => sealValue(ring1, purpose, 'sid', message), TypeError);
    assert.throws(() => openValue(ring1, purpose, 'sid', sealed), TypeError);
  }
  for (const context of ['\ud800', 'a\udfffb', 42 as unknown as string]) {
    assert.throws(() => sealValue(ring1, 'cookie', context, message), TypeError);
    assert.throws(() => openValue(ring1, 'cookie', context, sealed), TypeError);
  }
  for (const maxLength of [-1, 1.5, Number.NaN]) {
    assert.throws(() => openValue(ring1, 'cookie', 'sid', sealed, maxLength), TypeError);
  }
});
