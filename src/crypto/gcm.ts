/**
 * The AES-GCM layer under XAES-256-GCM. Internal: callers use xaes.ts, whose random 192-bit nonces are
 * safe where GCM's 96-bit ones are not.
 */
import { DecryptError } from '../errors.ts';
import { type NodeCrypto, nodeCrypto } from './runtime.ts';

/** Only the node:crypto backend calls into this file, and only where node:crypto exists. */
function node(): NodeCrypto {
  if (nodeCrypto === undefined) throw new TypeError('AES-GCM (node:crypto) is not available here');
  return nodeCrypto;
}

/** GCM's tag is always the full 16 bytes here (checklist #38). */
export const TAG_BYTES = 16;
export const IV_BYTES = 12;

type GcmAlgorithm = 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm';

function algorithmFor(keyLength: number): GcmAlgorithm | undefined {
  if (keyLength === 32) return 'aes-256-gcm';
  if (keyLength === 16) return 'aes-128-gcm';
  if (keyLength === 24) return 'aes-192-gcm';
  return undefined;
}

function view(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * AES-GCM encryption: returns `ciphertext || tag` (16-byte tag). The key length (16/24/32) selects
 * AES-128/192/256; the IV must be 12 bytes. Wrong sizes are caller mistakes: TypeError. A string
 * plaintext is encrypted as its UTF-8 bytes (without a copy of them in between).
 */
export function gcmSeal(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array | string,
  aad: Uint8Array,
): Uint8Array {
  const algorithm = algorithmFor(key.length);
  if (algorithm === undefined) throw new TypeError('AES-GCM key must be 16, 24 or 32 bytes');
  // Only 96-bit IVs: other lengths go through GHASH and are where GCM implementations go wrong.
  if (iv.length !== IV_BYTES) throw new TypeError('AES-GCM IV must be 12 bytes');
  // Node DEP0090: authTagLength pins the tag size (checklist #38).
  const cipher = node().createCipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES });
  if (aad.length > 0) cipher.setAAD(aad);
  const body = typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext);
  const rest = cipher.final(); // empty for GCM, kept for form's sake
  // Buffer.concat takes its memory from Node's pool: cheaper than a new ArrayBuffer per seal.
  return Buffer.concat([body, rest, cipher.getAuthTag()]);
}

/**
 * AES-GCM decryption of `ciphertext || tag`. Throws {@link DecryptError}, with one message, for every
 * failure: wrong key, tampering, a short input, a wrong-sized key or IV, a non-Uint8Array argument.
 * Plaintext is returned only after the tag has verified.
 */
export function gcmOpen(
  key: Uint8Array,
  iv: Uint8Array,
  ciphertextWithTag: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  try {
    const algorithm = algorithmFor(key.length);
    if (algorithm === undefined || iv.length !== IV_BYTES || !(ciphertextWithTag instanceof Uint8Array)) {
      throw new DecryptError();
    }
    const ciphertextLength = ciphertextWithTag.length - TAG_BYTES;
    if (ciphertextLength < 0) throw new DecryptError();
    // authTagLength: 16 on the decipher is what makes a 4..15-byte tag impossible to verify (DEP0090,
    // checklist #38); the tag we pass is always the last 16 bytes anyway.
    const decipher = node().createDecipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(ciphertextWithTag.subarray(ciphertextLength));
    if (aad.length > 0) decipher.setAAD(aad);
    const plaintext = decipher.update(ciphertextWithTag.subarray(0, ciphertextLength));
    decipher.final(); // throws when the tag does not verify
    return view(plaintext);
  } catch {
    throw new DecryptError();
  }
}
