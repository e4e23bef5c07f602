/**
 * XChaCha20-Poly1305 (IETF variant, draft-irtf-cfrg-xchacha-03): a 256-bit key, a random 192-bit nonce
 * and a 16-byte Poly1305 tag, through the optional `sodium-native` package (libsodium). Like
 * XAES-256-GCM its nonce is big enough to draw at random. Latchkey never depends on sodium-native: it is
 * loaded on first use, synchronously, where the runtime can load native addons (Node, Bun).
 */
import { ConfigError, DecryptError } from '../errors.ts';

const KEY_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** The part of sodium-native's API used here. */
interface Sodium {
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  sodium_malloc?(size: number): Uint8Array;
}

interface ModuleLoader {
  createRequire(from: string | URL): (id: string) => unknown;
}

let loaded: { sodium: Sodium | undefined } | undefined;

/** sodium-native, or undefined when it is not installed or the runtime cannot load it (cached). */
export function loadSodium(): Sodium | undefined {
  if (loaded !== undefined) return loaded.sodium;
  let sodium: Sodium | undefined;
  try {
    const process = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const moduleApi = process?.getBuiltinModule?.('node:module') as ModuleLoader | undefined;
    const candidate = moduleApi?.createRequire(import.meta.url)('sodium-native') as
      | Partial<Sodium>
      | undefined;
    if (typeof candidate?.crypto_aead_xchacha20poly1305_ietf_encrypt === 'function') {
      sodium = candidate as Sodium;
    }
  } catch {
    sodium = undefined;
  }
  loaded = { sodium };
  return sodium;
}

/** True when sodium-native can be loaded here, so XChaCha20-Poly1305 values can be sealed and opened. */
export function sodiumAvailable(): boolean {
  return loadSodium() !== undefined;
}

/** An XChaCha20-Poly1305 key: synchronous, with the same contract as {@link XaesKey}. */
export interface XChaChaKey {
  seal(nonce: Uint8Array, plaintext: Uint8Array | string, aad?: Uint8Array): Uint8Array;
  open(nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Uint8Array;
}

/**
 * An XChaCha20-Poly1305 key on sodium-native. Throws a {@link ConfigError} (`ERR_LATCHKEY_CONFIG`)
 * when sodium-native is not installed or cannot load here, TypeError for a key that is not 32 bytes.
 * The key is copied into libsodium's guarded memory when it offers it.
 *
 * @example
 * ```ts
 * import { newNonce, randomBytes, xchachaKey } from 'latchkey/crypto';
 * const key = xchachaKey(randomBytes(32));
 * const nonce = newNonce();
 * key.open(nonce, key.seal(nonce, 'hi')); // Uint8Array of 'hi'
 * ```
 */
export function xchachaKey(key: Uint8Array): XChaChaKey {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new TypeError('XChaCha20-Poly1305 key must be 32 bytes');
  }
  const sodium = loadSodium();
  if (sodium === undefined) {
    throw new ConfigError(
      'XChaCha20-Poly1305 needs the optional sodium-native package (npm install sodium-native), ' +
        'on a runtime that loads native addons (Node or Bun)',
    );
  }
  const own = sodium.sodium_malloc?.(KEY_BYTES) ?? new Uint8Array(KEY_BYTES);
  own.set(key);
  return {
    seal(nonce, plaintext, aad = EMPTY) {
      if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) {
        throw new TypeError('XChaCha20-Poly1305 nonce must be 24 bytes');
      }
      const message = typeof plaintext === 'string' ? utf8.encode(plaintext) : plaintext;
      const out = new Uint8Array(message.length + TAG_BYTES);
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, message, aad, null, nonce, own);
      return out;
    },
    open(nonce, ciphertextWithTag, aad = EMPTY) {
      try {
        if (
          !(nonce instanceof Uint8Array) ||
          nonce.length !== NONCE_BYTES ||
          !(ciphertextWithTag instanceof Uint8Array) ||
          ciphertextWithTag.length < TAG_BYTES
        ) {
          throw new DecryptError();
        }
        const out = new Uint8Array(ciphertextWithTag.length - TAG_BYTES);
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertextWithTag, aad, nonce, own);
        return out;
      } catch {
        throw new DecryptError();
      }
    },
  };
}

/**
 * One-shot XChaCha20-Poly1305 over raw bytes, for tests against published vectors (see
 * {@link xchachaKey} for errors).
 *
 * @example
 * ```ts
 * import { newNonce, randomBytes, xchacha20poly1305 } from 'latchkey/crypto';
 * const key = randomBytes(32);
 * const nonce = newNonce();
 * const sealed = xchacha20poly1305.seal(key, nonce, new TextEncoder().encode('hi'));
 * xchacha20poly1305.open(key, nonce, sealed); // Uint8Array of 'hi'
 * ```
 */
export const xchacha20poly1305 = {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    return xchachaKey(key).seal(nonce, plaintext, aad);
  },
  open(key: Uint8Array, nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Uint8Array {
    return xchachaKey(key).open(nonce, ciphertextWithTag, aad);
  },
} as const;
