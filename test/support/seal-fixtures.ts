import assert from 'node:assert/strict';
import { createKeyring } from '../../src/crypto/keyring.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import type { OpenResult } from '../../src/crypto/seal.ts';

/** Two keys, a ring with k1 only and a ring [k2, k1], and a ~200-byte message, for the seal tests. */
export const key1 = randomBytes(32);
export const key2 = randomBytes(32);
export const ring1 = createKeyring([{ kid: 'k1', key: key1 }]);
export const ring21 = createKeyring([
  { kid: 'k2', key: key2 },
  { kid: 'k1', key: key1 },
]);
export const utf8 = new TextEncoder();
export const message = utf8.encode('{"user":"ada","roles":["admin"],"pad":"'.padEnd(197, 'x').concat('"}'));

export function assertNotOpen(result: OpenResult, label: string): void {
  assert.equal(result.ok, false, label);
}
