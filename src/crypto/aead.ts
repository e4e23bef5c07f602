/**
 * The one AEAD interface the sealed format (seal.ts) uses, and the backends behind it (DESIGN.md §12):
 * XAES-256-GCM on node:crypto (synchronous, the fast path) or on WebCrypto (asynchronous, for runtimes
 * without node:crypto), and XChaCha20-Poly1305 on the optional sodium-native (synchronous). The backend
 * is chosen by feature detection; the app names one only to override it.
 */
import { ConfigError } from '../errors.ts';
import { nodeCrypto, subtle } from './runtime.ts';
import { xaesKey } from './xaes.ts';
import { webXaesKey } from './xaes-webcrypto.ts';
import { sodiumAvailable, xchachaKey } from './xchacha.ts';

/** The AEADs a sealed value can name: `v1` values are XAES-256-GCM, `v2x` values XChaCha20-Poly1305. */
export type SealAlgorithm = 'xaes-256-gcm' | 'xchacha20-poly1305';
/** Where XAES-256-GCM runs: `auto` (default) takes node:crypto when it works here, else WebCrypto. */
export type CryptoBackend = 'auto' | 'node' | 'webcrypto';

/** An AEAD key for one purpose: always asynchronous, and synchronous too on node:crypto and sodium. */
export interface AeadKey {
  readonly algorithm: SealAlgorithm;
  /** Present when this backend works without waiting; the core then takes its synchronous path. */
  readonly sync: SyncAead | undefined;
  seal(nonce: Uint8Array, plaintext: Uint8Array | string, aad: Uint8Array): Promise<Uint8Array>;
  open(nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

export interface SyncAead {
  seal(nonce: Uint8Array, plaintext: Uint8Array | string, aad: Uint8Array): Uint8Array;
  open(nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad: Uint8Array): Uint8Array;
}

/** The first field of a sealed value for each algorithm; also in its AAD and its HKDF label. */
export const VERSION_OF: Readonly<Record<SealAlgorithm, string>> = Object.freeze({
  'xaes-256-gcm': 'v1',
  'xchacha20-poly1305': 'v2x',
});

/** The algorithm a sealed value's version field names, or undefined for an unknown version. */
export function algorithmOf(version: string): SealAlgorithm | undefined {
  if (version === 'v1') return 'xaes-256-gcm';
  if (version === 'v2x') return 'xchacha20-poly1305';
  return undefined;
}

export function isSealAlgorithm(value: unknown): value is SealAlgorithm {
  return value === 'xaes-256-gcm' || value === 'xchacha20-poly1305';
}

/** True when values of `algorithm` can be sealed and opened on this runtime. */
export function algorithmAvailable(algorithm: SealAlgorithm): boolean {
  return algorithm === 'xaes-256-gcm' ? nodeXaesWorks() || subtle !== undefined : sodiumAvailable();
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
let nodeXaes: boolean | undefined;

/**
 * node:crypto is trusted only once it reproduces the spec's first XAES-256-GCM vector: partial
 * node:crypto layers (a compat shim without AES-ECB, or one that rejects the IV) fall back to WebCrypto.
 */
export function nodeXaesWorks(): boolean {
  if (nodeXaes !== undefined) return nodeXaes;
  try {
    const key = xaesKey(new Uint8Array(32).fill(1));
    const sealed = key.seal(new TextEncoder().encode('ABCDEFGHIJKLMNOPQRSTUVWX'), 'XAES-256-GCM');
    nodeXaes =
      nodeCrypto !== undefined && hex(sealed) === 'ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271';
  } catch {
    nodeXaes = false;
  }
  return nodeXaes;
}

/** The XAES-256-GCM backend `requested` resolves to here; ConfigError when it cannot run. */
export function resolveBackend(requested: CryptoBackend): 'node' | 'webcrypto' {
  if (requested === 'node' || (requested === 'auto' && nodeXaesWorks())) {
    if (!nodeXaesWorks())
      throw new ConfigError('cryptoBackend "node": node:crypto cannot run XAES-256-GCM here');
    return 'node';
  }
  if (requested !== 'auto' && requested !== 'webcrypto') {
    throw new ConfigError('cryptoBackend must be "auto", "node" or "webcrypto"');
  }
  if (subtle === undefined) {
    throw new ConfigError('no usable crypto here: neither node:crypto nor WebCrypto (crypto.subtle)');
  }
  return 'webcrypto';
}

/**
 * The AEAD key for a 32-byte subkey. The subkey is copied (key schedules, imported keys, guarded
 * memory), so the caller may zero it afterwards. ConfigError when the algorithm's backend is missing.
 */
export function aeadKey(
  algorithm: SealAlgorithm,
  backend: 'node' | 'webcrypto',
  subkey: Uint8Array,
): AeadKey {
  if (algorithm === 'xchacha20-poly1305') return fromSync(algorithm, xchachaKey(subkey));
  if (backend === 'node') return fromSync(algorithm, xaesKey(subkey));
  const web = webXaesKey(subkey);
  return { algorithm, sync: undefined, seal: web.seal, open: web.open };
}

function fromSync(algorithm: SealAlgorithm, sync: SyncAead): AeadKey {
  return {
    algorithm,
    sync,
    // async functions: a throw becomes a rejection, as callers of the async pair expect.
    seal: async (nonce, plaintext, aad) => sync.seal(nonce, plaintext, aad),
    open: async (nonce, ciphertextWithTag, aad) => sync.open(nonce, ciphertextWithTag, aad),
  };
}
