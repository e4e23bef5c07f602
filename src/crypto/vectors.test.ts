// Known-answer tests through our own wrappers (checklist #49): the XAES-256-GCM spec's vectors and
// accumulated test (DESIGN.md §2), and Wycheproof AES-GCM, HKDF-SHA256 and HMAC-SHA256. The Wycheproof
// files are vendored under test/vectors/wycheproof (see SOURCE.txt there) so a clean clone runs them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DecryptError } from '../errors.ts';
import { gcmOpen, gcmSeal } from './gcm.ts';
import { hkdfSha256 } from './hkdf.ts';
import { constantTimeEqual, hmacSha256 } from './hmac.ts';
import { xaes256gcm } from './xaes.ts';

const WYCHEPROOF = new URL('../../test/vectors/wycheproof/', import.meta.url);
const utf8 = new TextEncoder();
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

interface WycheproofFile<Group> {
  algorithm: string;
  numberOfTests: number;
  testGroups: Group[];
}
interface Case {
  tcId: number;
  comment: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
type AeadGroup = {
  ivSize: number;
  tests: Array<Case & { key: string; iv: string; aad: string; msg: string; ct: string; tag: string }>;
};
type HkdfGroup = {
  tests: Array<Case & { ikm: string; salt: string; info: string; size: number; okm: string }>;
};
type MacGroup = { tagSize: number; tests: Array<Case & { key: string; msg: string; tag: string }> };

function load<Group>(name: string): WycheproofFile<Group> {
  return JSON.parse(readFileSync(new URL(name, WYCHEPROOF), 'utf8')) as WycheproofFile<Group>;
}

test('checklist #49: XAES-256-GCM spec vectors, through xaes256gcm.seal and .open', () => {
  const nonce = utf8.encode('ABCDEFGHIJKLMNOPQRSTUVWX');
  const plaintext = utf8.encode('XAES-256-GCM');
  const vectors = [
    {
      key: new Uint8Array(32).fill(1),
      aad: new Uint8Array(0),
      sealed: 'ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271',
    },
    {
      key: new Uint8Array(32).fill(3),
      aad: utf8.encode('c2sp.org/XAES-256-GCM'),
      sealed: '986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d',
    },
  ];
  for (const { key, aad, sealed } of vectors) {
    assert.equal(toHex(xaes256gcm.seal(key, nonce, plaintext, aad)), sealed);
    assert.deepEqual(xaes256gcm.open(key, nonce, fromHex(sealed), aad), plaintext);
  }
});

test('checklist #49: XAES-256-GCM accumulated test, 10,000 iterations of a SHAKE-128 stream', () => {
  const iterations = 10_000;
  // Node's SHAKE cannot be read incrementally, so take one long output of the RNG stream up front:
  // each iteration reads at most 32 + 24 + 1 + 255 + 1 + 255 = 568 bytes.
  const stream = createHash('shake128', { outputLength: iterations * 568 }).digest();
  assert.equal(stream.subarray(0, 8).toString('hex'), '7f9c2ba4e88f827d');
  let offset = 0;
  const read = (length: number) => {
    const bytes = stream.subarray(offset, offset + length);
    offset += length;
    return bytes;
  };
  const digest = createHash('shake128', { outputLength: 32 });
  for (let i = 0; i < iterations; i++) {
    const key = read(32);
    const nonce = read(24);
    const plaintext = read(read(1)[0]!);
    const aad = read(read(1)[0]!);
    const sealed = xaes256gcm.seal(key, nonce, plaintext, aad);
    digest.update(sealed);
    const opened = xaes256gcm.open(key, nonce, sealed, aad);
    if (!constantTimeEqual(opened, plaintext)) assert.fail(`iteration ${i} did not round-trip`);
  }
  assert.equal(digest.digest('hex'), 'e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939');
});

test('checklist #49, #38: Wycheproof AES-GCM, every 96-bit-IV case, through gcmSeal/gcmOpen', () => {
  const file = load<AeadGroup>('aes_gcm_test.json');
  assert.equal(file.algorithm, 'AES-GCM');
  const groups = file.testGroups.filter((group) => group.ivSize === 96);
  const expected = groups.reduce((sum, group) => sum + group.tests.length, 0);
  let run = 0;
  for (const group of groups) {
    for (const t of group.tests) {
      const [key, iv, aad, msg, ct, tag] = [t.key, t.iv, t.aad, t.msg, t.ct, t.tag].map(
        fromHex,
      ) as Uint8Array[];
      const sealed = new Uint8Array([...ct!, ...tag!]);
      const label = `tcId ${t.tcId} ${t.comment}`;
      if (t.result === 'valid') {
        assert.equal(toHex(gcmSeal(key!, iv!, msg!, aad!)), toHex(sealed), label);
        assert.deepEqual(gcmOpen(key!, iv!, sealed, aad!), msg, label);
      } else {
        assert.throws(() => gcmOpen(key!, iv!, sealed, aad!), DecryptError, label);
      }
      run++;
    }
  }
  assert.ok(run > 0);
  assert.equal(run, expected);
  assert.equal(run, 197); // 67 + 66 + 64 in the vendored file
});

test('Wycheproof AES-GCM with other IV sizes: refused (TypeError to seal, DecryptError to open)', () => {
  const file = load<AeadGroup>('aes_gcm_test.json');
  let run = 0;
  for (const group of file.testGroups.filter((g) => g.ivSize !== 96)) {
    for (const t of group.tests) {
      const [key, iv, aad, msg, ct, tag] = [t.key, t.iv, t.aad, t.msg, t.ct, t.tag].map(
        fromHex,
      ) as Uint8Array[];
      assert.throws(() => gcmSeal(key!, iv!, msg!, aad!), TypeError);
      assert.throws(() => gcmOpen(key!, iv!, new Uint8Array([...ct!, ...tag!]), aad!), DecryptError);
      run++;
    }
  }
  assert.equal(run, file.numberOfTests - 197);
});

test('checklist #49, #44: Wycheproof HKDF-SHA256 through hkdfSha256; oversized outputs throw', () => {
  const file = load<HkdfGroup>('hkdf_sha256_test.json');
  assert.equal(file.algorithm, 'HKDF-SHA-256');
  let run = 0;
  for (const group of file.testGroups) {
    for (const t of group.tests) {
      const [ikm, salt, info] = [t.ikm, t.salt, t.info].map(fromHex) as Uint8Array[];
      const label = `tcId ${t.tcId} ${t.comment}`;
      if (t.result === 'valid') {
        assert.equal(toHex(hkdfSha256(ikm!, salt!, info!, t.size)), t.okm, label);
      } else {
        assert.throws(() => hkdfSha256(ikm!, salt!, info!, t.size), TypeError, label);
      }
      run++;
    }
  }
  assert.equal(run, file.numberOfTests);
  assert.ok(run > 0);
});

test('checklist #49, #45: Wycheproof HMAC-SHA256 through hmacSha256 + constantTimeEqual', () => {
  const file = load<MacGroup>('hmac_sha256_test.json');
  assert.equal(file.algorithm, 'HMACSHA256');
  let run = 0;
  for (const group of file.testGroups) {
    for (const t of group.tests) {
      const [key, msg, tag] = [t.key, t.msg, t.tag].map(fromHex) as Uint8Array[];
      // tagSize may be below 256 bits: the tag is then the MAC's leading bytes.
      const mac = hmacSha256(key!, msg!).subarray(0, group.tagSize / 8);
      assert.equal(constantTimeEqual(mac, tag!), t.result === 'valid', `tcId ${t.tcId} ${t.comment}`);
      run++;
    }
  }
  assert.equal(run, file.numberOfTests);
  assert.ok(run > 0);
});
