import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as crypto from './index.ts';

test('latchkey/crypto exports exactly the public API; the AES-GCM layer stays internal', () => {
  assert.deepEqual(Object.keys(crypto).sort(), [
    'constantTimeEqual',
    'createKeyring',
    'decodeBase64url',
    'deriveSubkey',
    'encodeBase64url',
    'generateKeyLine',
    'hkdfSha256',
    'hmacSha256',
    'isKeyring',
    'newNonce',
    'newToken',
    'openValue',
    'openValueAsync',
    'parseKeyring',
    'randomBytes',
    'sealValue',
    'sealValueAsync',
    'sodiumAvailable',
    'webXaesKey',
    'xaes256gcm',
    'xaesKey',
    'xchacha20poly1305',
    'xchachaKey',
  ]);
});

test('the pieces fit: a generated key line seals and opens through the public API', () => {
  const keyring = crypto.parseKeyring(crypto.generateKeyLine('k1'));
  const sealed = crypto.sealValue(keyring, 'cookie', '__Host-sid', new TextEncoder().encode('{}'));
  const opened = crypto.openValue(keyring, 'cookie', '__Host-sid', sealed);
  assert.deepEqual(opened, { ok: true, plaintext: new TextEncoder().encode('{}'), kid: 'k1', stale: false });
});
