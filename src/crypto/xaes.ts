/**
 * XAES-256-GCM (https://c2sp.org/XAES-256-GCM): AES-256-GCM with a 192-bit nonce, made safe for random
 * nonces by deriving a per-nonce subkey with two AES-256 block encryptions (a CMAC-based KDF, NIST
 * SP 800-108r1). Steps are numbered as in DESIGN.md §2.
 */
import { DecryptError } from '../errors.ts';
import { gcmOpen, gcmSeal, TAG_BYTES } from './gcm.ts';
import { nodeCrypto } from './runtime.ts';

export const XAES_KEY_BYTES = 32;
export const XAES_NONCE_BYTES = 24;

const EMPTY = new Uint8Array(0);
const NO_IV = new Uint8Array(0);

/** An XAES-256-GCM key with its per-key KDF state precomputed. Holds no raw key bytes. */
export interface XaesKey {
  /** Encrypts; returns `ciphertext || tag` (16-byte tag). The nonce must be 24 bytes (TypeError). */
  /** A string plaintext is sealed as its UTF-8 bytes. */
  seal(nonce: Uint8Array, plaintext: Uint8Array | string, aad?: Uint8Array): Uint8Array;
  /** Decrypts `ciphertext || tag`; throws {@link DecryptError} for every failure. */
  open(nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Uint8Array;
}

/**
 * Precomputes the KDF state for a 32-byte key: one AES-256-ECB cipher and K1. Use it when one key
 * seals or opens many values.
 *
 * @example
 * ```ts
 * const key = xaesKey(randomBytes(32));
 * const nonce = newNonce();
 * const sealed = key.seal(nonce, plaintext, aad);
 * key.open(nonce, sealed, aad); // plaintext
 * ```
 */
export function xaesKey(key: Uint8Array): XaesKey {
  if (!(key instanceof Uint8Array) || key.length !== XAES_KEY_BYTES) {
    throw new TypeError('XAES-256-GCM key must be 32 bytes');
  }
  if (nodeCrypto === undefined) {
    throw new TypeError('xaesKey needs node:crypto; where only WebCrypto exists use webXaesKey (async)');
  }
  // One ECB cipher for the life of the key. It is never finalised, and every update() is whole blocks
  // with padding off, so no state carries from one call to the next: each call is plain AES-256_K on
  // each block. OpenSSL keeps its own copy of the key schedule, so `key` is not retained here.
  // ECB takes no IV; a zero-length one, not null, because workerd's node:crypto (nodejs_compat) rejects
  // a null IV while Node, Bun and Deno accept both at the same cost.
  const ecb = nodeCrypto.createCipheriv('aes-256-ecb', key, NO_IV);
  ecb.setAutoPadding(false);
  // Steps 1-2: L = AES-256_K(0^128); K1 = L << 1, xor 0x87 into the last byte if L's top bit was set.
  const l = ecb.update(new Uint8Array(16));
  const k1 = new Uint8Array(16);
  for (let i = 0; i < 15; i++) k1[i] = ((l[i]! << 1) | (l[i + 1]! >>> 7)) & 0xff;
  k1[15] = ((l[15]! << 1) & 0xff) ^ (l[0]! & 0x80 ? 0x87 : 0);
  l.fill(0);

  // Steps 3-5 for both blocks at once, one 32-byte ECB update: Kx = AES_K(M1 ^ K1) || AES_K(M2 ^ K1),
  // where M1 = 00 01 58 00 || N[0:12] and M2 = 00 02 58 00 || N[0:12] ('X' = 0x58).
  const blocks = new Uint8Array(32);
  function deriveSubkey(nonce: Uint8Array): Buffer {
    blocks[0] = k1[0]!;
    blocks[1] = 0x01 ^ k1[1]!;
    blocks[2] = 0x58 ^ k1[2]!;
    blocks[3] = k1[3]!;
    blocks[16] = k1[0]!;
    blocks[17] = 0x02 ^ k1[1]!;
    blocks[18] = 0x58 ^ k1[2]!;
    blocks[19] = k1[3]!;
    for (let i = 4; i < 16; i++) {
      const byte = nonce[i - 4]! ^ k1[i]!;
      blocks[i] = byte;
      blocks[i + 16] = byte;
    }
    const subkey = ecb.update(blocks);
    blocks.fill(0);
    return subkey;
  }

  return {
    seal(nonce, plaintext, aad = EMPTY) {
      if (!(nonce instanceof Uint8Array) || nonce.length !== XAES_NONCE_BYTES) {
        throw new TypeError('XAES-256-GCM nonce must be 24 bytes');
      }
      const subkey = deriveSubkey(nonce);
      try {
        // Step 6: Nx = N[12:24] is the GCM IV.
        return gcmSeal(subkey, nonce.subarray(12), plaintext, aad);
      } finally {
        subkey.fill(0);
      }
    },
    open(nonce, ciphertextWithTag, aad = EMPTY) {
      if (
        !(nonce instanceof Uint8Array) ||
        nonce.length !== XAES_NONCE_BYTES ||
        !(ciphertextWithTag instanceof Uint8Array) ||
        ciphertextWithTag.length < TAG_BYTES
      ) {
        throw new DecryptError();
      }
      const subkey = deriveSubkey(nonce);
      try {
        return gcmOpen(subkey, nonce.subarray(12), ciphertextWithTag, aad);
      } finally {
        subkey.fill(0);
      }
    },
  };
}

/**
 * One-shot XAES-256-GCM over raw bytes, for tests against the spec's vectors and for callers without a
 * keyring. `key` is 32 bytes (TypeError otherwise), `nonce` 24 bytes; `open` throws
 * {@link DecryptError} for any failure of the value itself.
 *
 * @example
 * ```ts
 * const key = randomBytes(32);
 * const nonce = newNonce();
 * const sealed = xaes256gcm.seal(key, nonce, new TextEncoder().encode('hi'));
 * xaes256gcm.open(key, nonce, sealed); // Uint8Array of 'hi'
 * ```
 */
export const xaes256gcm = {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    return xaesKey(key).seal(nonce, plaintext, aad);
  },
  open(key: Uint8Array, nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Uint8Array {
    return xaesKey(key).open(nonce, ciphertextWithTag, aad);
  },
} as const;
