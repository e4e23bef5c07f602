import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { KeyError } from '../errors.ts';
import { encodeBase64url } from './base64url.ts';
import { deriveSubkey } from './hkdf.ts';
import { createKeyring, generateKeyLine, isKeyring, type Keyring, parseKeyring } from './keyring.ts';
import { newNonce, randomBytes } from './random.ts';
import { xaesKey } from './xaes.ts';

const utf8 = new TextEncoder();
const key1 = randomBytes(32);
const key2 = randomBytes(32);
const line = (kid: string, key: Uint8Array) => `${kid}:${encodeBase64url(key)}`;

function assertKeyError(input: string | undefined, mustMention?: string): void {
  assert.throws(
    () => parseKeyring(input),
    (err: unknown) => {
      assert.ok(err instanceof KeyError, `expected KeyError, got ${String(err)}`);
      assert.equal(err.code, 'ERR_LATCHKEY_KEY');
      if (mustMention !== undefined) assert.ok(err.message.includes(mustMention), err.message);
      // Never echo key material: no base64url run of 20+ characters from the input in the message.
      for (const run of String(input).match(/[A-Za-z0-9_-]{20,}/g) ?? []) {
        assert.ok(!err.message.includes(run), `message echoes key material: ${err.message}`);
      }
      return true;
    },
    JSON.stringify(input),
  );
}

test('parses "kid:base64url" entries; first seals, all open; whitespace around entries is ignored', () => {
  const ring = parseKeyring(` ${line('k2', key2)} ,\n\t${line('k1', key1)}\n`);
  assert.deepEqual(ring.kids, ['k2', 'k1']);
  assert.equal(ring.current.kid, 'k2');
  assert.equal(ring.get('k1')?.kid, 'k1');
  assert.equal(ring.get('k3'), undefined);
  assert.ok(isKeyring(ring));
  assert.equal(parseKeyring(ring), ring);
  // 64-byte keys are accepted too.
  assert.deepEqual(parseKeyring(line('big', randomBytes(64))).kids, ['big']);
});

test('checklist #43: missing, empty, "secret", 16-byte and malformed keys throw KeyError at construction', () => {
  assertKeyError(undefined);
  assertKeyError('');
  assertKeyError('   ');
  assertKeyError('secret');
  assertKeyError('k1:secret', 'k1');
  assertKeyError(line('k1', randomBytes(16)), 'k1');
  assertKeyError(line('k1', randomBytes(31)), 'k1');
  assertKeyError(line('k1', randomBytes(65)), 'k1');
  assertKeyError('k1:');
  assertKeyError(encodeBase64url(key1)); // a bare key with no kid
  assertKeyError(`${line('k1', key1)},`); // stray comma: empty entry
  assertKeyError(`${line('k1', key1)},,${line('k2', key2)}`);
  assertKeyError(`k1:${Buffer.from(key1).toString('base64')}`, 'k1'); // padded standard base64
  assertKeyError(`k1:${encodeBase64url(key1)}=`, 'k1');
  assertKeyError(`k1:${encodeBase64url(key1).slice(0, 20)} ${encodeBase64url(key1).slice(20)}`, 'k1');
  assertKeyError(`k1:${encodeBase64url(key1)}!`, 'k1');
  assertKeyError(`k1:${encodeBase64url(key1)}xx`, 'k1'); // 45 characters: no byte string encodes to that
  // Non-canonical trailing bits: 32 bytes are 43 chars whose last char carries 2 unused bits.
  const canonical = encodeBase64url(key1);
  const last = canonical.at(-1)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const noncanonical = `${canonical.slice(0, -1)}${alphabet[alphabet.indexOf(last) | 1]}`;
  assertKeyError(`k1:${noncanonical}`, 'k1');
  assertKeyError(23 as unknown as string);
});

test('checklist #43: placeholder and weak keys are refused', () => {
  const weak = [
    new Uint8Array(32), // all zero
    new Uint8Array(32).fill(0xff),
    new Uint8Array(48).map((_, i) => [1, 2][i % 2]!), // period 2
    new Uint8Array(32).map((_, i) => (i % 8) * 31), // period 8
    new Uint8Array(32).map((_, i) => 0x80 + (i % 15)), // 15 distinct values
    utf8.encode('this-is-my-super-secret-password!!'), // printable ASCII: an encoded passphrase
    utf8.encode('changemechangemechangemechangeme'),
    utf8.encode('0123456789abcdef0123456789abcdef'),
  ];
  for (const key of weak) assertKeyError(line('k1', key), 'k1');
  // Each check alone: period 9 with 9 distinct non-ASCII values is a repeat (issue 14 §5).
  assertKeyError(
    line(
      'k1',
      new Uint8Array(36).map((_, i) => 0x90 + (i % 9)),
    ),
    'repeats every 9 bytes',
  );
});

test('checklist #42: bad, reserved and duplicate kids are refused; a Map backs get()', () => {
  for (const kid of [
    '',
    'k 1',
    'k.1',
    'k:1',
    'k|1',
    'x'.repeat(17),
    'kö',
    '__proto__',
    'constructor',
    'prototype',
  ]) {
    assertKeyError(`${kid}:${encodeBase64url(key1)}`);
  }
  assertKeyError(`k1:${encodeBase64url(key1)},k1:${encodeBase64url(key2)}`, 'k1');
  const ring = parseKeyring(line('k1', key1));
  for (const kid of [
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    'valueOf',
    'K1',
  ]) {
    assert.equal(ring.get(kid), undefined, kid);
  }
  assert.equal(ring.get(undefined as unknown as string), undefined);
  assert.equal(ring.get(1 as unknown as string), undefined);
  // A 16-character kid and every kid character class are fine.
  assert.deepEqual(parseKeyring(line('Az09_-xxxxxxxxxx', key1)).kids, ['Az09_-xxxxxxxxxx']);
});

test('createKeyring validates like parseKeyring and keeps its own copy of each key', () => {
  const raw = key1.slice();
  const ring = createKeyring([{ kid: 'a', key: raw }]);
  const nonce = newNonce();
  const sealed = ring.current.forPurpose('cookie').seal(nonce, utf8.encode('x'));
  raw.fill(0); // the caller wiping its buffer must not change the keyring
  assert.deepEqual(ring.current.forPurpose('cookie').open(nonce, sealed), utf8.encode('x'));
  const invalid: unknown[] = [
    [],
    [{ kid: 'a', key: new Uint8Array(16) }],
    [{ kid: 'a', key: new Uint8Array(32) }],
    [{ kid: '__proto__', key: key1 }],
    [
      { kid: 'a', key: key1 },
      { kid: 'a', key: key2 },
    ],
    [{ kid: 'a', key: encodeBase64url(key1) }],
    [null],
    'a:b',
  ];
  for (const entries of invalid) {
    assert.throws(() => createKeyring(entries as Parameters<typeof createKeyring>[0]), KeyError);
  }
});

test('checklist #44: forPurpose derives the HKDF subkey once per purpose; purposes get different keys', () => {
  const ring = createKeyring([{ kid: 'k1', key: key1 }]);
  const cookie = ring.current.forPurpose('cookie');
  assert.equal(ring.current.forPurpose('cookie'), cookie, 'cached');
  const nonce = newNonce();
  const message = utf8.encode('hello');
  const expected = xaesKey(deriveSubkey(key1, 'cookie')).seal(nonce, message);
  assert.deepEqual(cookie.seal(nonce, message), expected);
  assert.notDeepEqual(ring.current.forPurpose('csrf').seal(nonce, message), expected);
  assert.notDeepEqual(xaesKey(key1).seal(nonce, message), expected, 'the master key is never used directly');
  assert.throws(() => ring.current.forPurpose('Not Valid'), TypeError);
});

test('keyrings expose kids only: no key bytes in properties, JSON or util.inspect', () => {
  const ring = parseKeyring(`${line('k2', key2)},${line('k1', key1)}`);
  const dumps = [
    JSON.stringify(ring),
    JSON.stringify(ring.current),
    JSON.stringify({ ring }),
    inspect(ring, { depth: 10, showHidden: true }),
    inspect(ring.current, { depth: 10, showHidden: true }),
    String(ring),
  ];
  for (const dump of dumps) {
    for (const key of [key1, key2]) {
      assert.ok(!dump.includes(encodeBase64url(key)), dump);
      assert.ok(!dump.includes(Buffer.from(key).toString('hex')), dump);
      assert.ok(!dump.includes(Buffer.from(key).toString('base64')), dump);
    }
  }
  assert.equal(JSON.stringify(ring), '{"kids":["k2","k1"]}');
  assert.ok(inspect(ring).includes("'k2'"));
  const values = (value: object) => Object.values(value).filter((v) => v instanceof Uint8Array);
  assert.deepEqual(values(ring), []);
  assert.deepEqual(values(ring.current), []);
  assert.ok(Object.isFrozen(ring) && Object.isFrozen(ring.kids) && Object.isFrozen(ring.current));
});

test('isKeyring refuses look-alikes, and parseKeyring does not accept them as keyrings', () => {
  const fake = { current: { kid: 'x', forPurpose: () => undefined }, kids: ['x'], get: () => undefined };
  assert.equal(isKeyring(fake), false);
  assert.equal(isKeyring(null), false);
  assert.equal(isKeyring('k1:abc'), false);
  assert.throws(() => parseKeyring(fake as unknown as Keyring), KeyError);
});

test('generateKeyLine makes a line that parseKeyring accepts', () => {
  const generated = generateKeyLine();
  assert.match(generated, /^k\d{8}:[A-Za-z0-9_-]{43}$/);
  assert.equal(generated.slice(1, 9), new Date().toISOString().slice(0, 10).replaceAll('-', ''));
  const lines = Array.from({ length: 200 }, (_, i) => generateKeyLine(`k${i}`));
  assert.equal(parseKeyring(lines.join(',')).kids.length, 200);
  assert.equal(new Set(lines.map((l) => l.split(':')[1])).size, 200);
  for (const kid of ['', 'bad kid', 'x'.repeat(17), '__proto__'])
    assert.throws(() => generateKeyLine(kid), TypeError);
});
