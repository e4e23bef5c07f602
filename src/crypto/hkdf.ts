/**
 * HKDF-SHA256 (RFC 5869) and the per-purpose subkeys derived from each master key (checklist #44).
 */
import { nodeCrypto } from './runtime.ts';
import { portableHkdfSha256 } from './sha256-portable.ts';

/** RFC 5869 §2.3: L <= 255 * HashLen. */
const MAX_OUTPUT = 255 * 32;
const PURPOSE = /^[a-z][a-z0-9-]{0,31}$/;
const SUBKEY_BYTES = 32;
const MIN_MASTER_KEY_BYTES = 32;
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/**
 * HKDF-SHA256. `length` must be an integer in 1..8160 (TypeError otherwise).
 *
 * @example
 * ```ts
 * const okm = hkdfSha256(ikm, salt, new TextEncoder().encode('my-app/v1/purpose'), 32);
 * ```
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > MAX_OUTPUT) {
    throw new TypeError(`HKDF-SHA256 output length must be an integer from 1 to ${MAX_OUTPUT}`);
  }
  if (nodeCrypto === undefined) return portableHkdfSha256(ikm, salt, info, length);
  return new Uint8Array(nodeCrypto.hkdfSync('sha256', ikm, salt, info, length));
}

/**
 * The 32-byte subkey of `masterKey` for one purpose: HKDF-SHA256 with an empty salt and
 * info = `latchkey/v1/<purpose>`, so a value sealed for one purpose (cookie, store, csrf, ...) can never
 * be opened as another (DESIGN.md §2, checklist #44). `purpose` must match `/^[a-z][a-z0-9-]{0,31}$/`
 * and the master key must be at least 32 bytes (TypeError otherwise).
 *
 * @example
 * ```ts
 * const cookieKey = xaesKey(deriveSubkey(masterKey, 'cookie'));
 * ```
 */
export function deriveSubkey(masterKey: Uint8Array, purpose: string): Uint8Array {
  if (!isPurpose(purpose)) throw new TypeError('purpose must match /^[a-z][a-z0-9-]{0,31}$/');
  // Master keys are validated by the keyring; this guards direct callers (checklist #43).
  if (!(masterKey instanceof Uint8Array) || masterKey.length < MIN_MASTER_KEY_BYTES) {
    throw new TypeError('master key must be at least 32 bytes');
  }
  return hkdfSha256(masterKey, EMPTY, utf8.encode(`latchkey/v1/${purpose}`), SUBKEY_BYTES);
}

/** True when `purpose` is a valid purpose name for {@link deriveSubkey}. */
export function isPurpose(purpose: unknown): purpose is string {
  return typeof purpose === 'string' && PURPOSE.test(purpose);
}
