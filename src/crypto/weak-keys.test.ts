import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KeyError } from '../errors.ts';
import { createKeyring, generateKeyLine, parseKeyring } from './keyring.ts';
import { randomBytes } from './random.ts';
import { weakKeyReason } from './weak-keys.ts';

const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const WYCHEPROOF = new URL('../../test/vectors/wycheproof/', import.meta.url);

function refused(key: Uint8Array, mention: string): void {
  assert.throws(
    () => createKeyring([{ kid: 'k1', key }]),
    (err: unknown) => {
      assert.ok(err instanceof KeyError, String(err));
      assert.equal(err.code, 'ERR_LATCHKEY_KEY');
      assert.ok(err.message.includes(mention), err.message);
      return true;
    },
    Buffer.from(key).toString('hex'),
  );
}

test('issue 14 §5: counters and other arithmetic progressions are refused', () => {
  refused(fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'), 'counts');
  refused(fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'), 'counts');
  refused(
    new Uint8Array(32).map((_, i) => 0xff - i),
    'counts',
  ); // counting down
  refused(
    new Uint8Array(32).map((_, i) => 7 + 3 * i),
    'counts',
  ); // step 3, wrapping past 0xff
  refused(
    new Uint8Array(64).map((_, i) => (0x11 * i + 5) & 0xff),
    'counts',
  );
  // Two interleaved counters, and a 16-bit big-endian counter starting high.
  refused(
    new Uint8Array(32).map((_, i) => (i % 2 === 0 ? 0x40 + i : 0xc0 - i)),
    'lanes',
  );
  refused(
    new Uint8Array(32).map((_, i) => (i % 2 === 0 ? 0xab : 0x30 + 5 * i)),
    'lanes',
  );
});

test('issue 14 §5: a short key repeated is refused, whatever the period up to half the key', () => {
  for (const size of [32, 48, 64]) {
    for (const period of [2, 3, 4, 8, 11, 16, size / 2]) {
      const unit = randomBytes(period);
      refused(
        new Uint8Array(size).map((_, i) => unit[i % period]!),
        'repeats',
      );
    }
  }
});

test('issue 14 §5: a low count of distinct bytes is refused', () => {
  // 15 distinct values at most, in random order (no period, no progression).
  const key = randomBytes(32).map((byte) => 0xa0 + (byte % 15));
  assert.equal(new Set(key).size <= 15, true);
  refused(key, 'distinct');
});

test('issue 14 §5: every published test-vector key of 32..64 bytes is refused', () => {
  let checked = 0;
  for (const file of ['aes_gcm_test.json', 'hmac_sha256_test.json', 'hkdf_sha256_test.json']) {
    const suite = JSON.parse(readFileSync(new URL(file, WYCHEPROOF), 'utf8')) as {
      testGroups: Array<{ tests: Array<{ key?: string; ikm?: string }> }>;
    };
    for (const group of suite.testGroups) {
      for (const vector of group.tests) {
        const key = fromHex(vector.key ?? vector.ikm ?? '');
        if (key.length < 32 || key.length > 64) continue;
        assert.notEqual(weakKeyReason(key), undefined, Buffer.from(key).toString('hex'));
        if (key.length > 32) assert.notEqual(weakKeyReason(key.subarray(0, 32)), undefined);
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} vector keys`);
  // Keys that pass the structure checks and are caught only by the published-key list.
  for (const hex of [
    '1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0', // RFC 8439 §A.5
    '92ace3e348cd821092cd921aa3546374299ab46209691bc28b8752d17f123c20', // Wycheproof AES-GCM tcId 91
  ]) {
    refused(fromHex(hex), 'published in test vectors');
  }
  // A one-bit change of a published key is just a key.
  const changed = fromHex('92ace3e348cd821092cd921aa3546374299ab46209691bc28b8752d17f123c21');
  assert.equal(weakKeyReason(changed), undefined);
});

test('issue 14 §5: 10^5 random keys of 32, 48 and 64 bytes all pass, as generateKeyLine does', () => {
  for (let i = 0; i < 100_000; i++) {
    const key = randomBytes([32, 48, 64][i % 3]!);
    const reason = weakKeyReason(key);
    if (reason !== undefined)
      assert.fail(`random key refused (${reason}): ${Buffer.from(key).toString('hex')}`);
  }
  for (let i = 0; i < 100; i++) assert.equal(parseKeyring(generateKeyLine('k1')).kids[0], 'k1');
});
