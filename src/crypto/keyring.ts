/**
 * Keyrings: an ordered list of id-keyed master keys. The first key seals, every key opens, so keys can
 * be rotated without logging anyone out (DESIGN.md §2, checklist #42). Raw key bytes live only in
 * closures here: nothing reachable from a Keyring (properties, JSON, util.inspect) exposes them.
 */
import { ConfigError, KeyError } from '../errors.ts';
import {
  type AeadKey,
  aeadKey,
  type CryptoBackend,
  isSealAlgorithm,
  resolveBackend,
  type SealAlgorithm,
  VERSION_OF,
} from './aead.ts';
import { decodeBase64url, encodeBase64url } from './base64url.ts';
import { deriveSubkey, hkdfSha256 } from './hkdf.ts';
import { randomBytes } from './random.ts';
import { weakKeyReason } from './weak-keys.ts';
import { type XaesKey, xaesKey } from './xaes.ts';

/** How a keyring seals: the algorithm new values get, and where XAES-256-GCM runs. */
export interface KeyringOptions {
  /**
   * The AEAD that seals new values: `'xaes-256-gcm'` (default; `v1.` values) or
   * `'xchacha20-poly1305'` (`v2x.` values; needs the optional sodium-native package). Values of
   * either algorithm open whenever their backend is present here.
   */
  algorithm?: SealAlgorithm | undefined;
  /** `'auto'` (default): node:crypto where it works, else WebCrypto. Set it only to override. */
  cryptoBackend?: CryptoBackend | undefined;
}

/** One master key of a keyring, known by its key id. */
export interface KeyringKey {
  readonly kid: string;
  /**
   * The synchronous node:crypto XAES-256-GCM key for one purpose (HKDF subkey, checklist #44), derived
   * once and cached. Throws TypeError where node:crypto is missing: use {@link KeyringKey.aead}.
   */
  forPurpose(purpose: string): XaesKey;
  /**
   * The AEAD key of `algorithm` for one purpose on the keyring's backend, derived once and cached. Each
   * algorithm has its own HKDF label (`latchkey/v1/<purpose>`, `latchkey/v2x/<purpose>`), so one master
   * key never keys two algorithms. ConfigError when the algorithm's backend is missing here.
   */
  aead(algorithm: SealAlgorithm, purpose: string): AeadKey;
}

/** An ordered set of master keys: `current` seals, every key opens. */
export interface Keyring {
  readonly current: KeyringKey;
  /** Key ids, current first. */
  readonly kids: readonly string[];
  /** The algorithm that seals new values. */
  readonly algorithm: SealAlgorithm;
  /** True when sealing and opening need no waiting here (node:crypto or sodium-native, not WebCrypto). */
  readonly synchronous: boolean;
  /** The key with this id, or undefined (also for `__proto__`, `toString` and other non-kids). */
  get(kid: string): KeyringKey | undefined;
}

export const KID = /^[A-Za-z0-9_-]{1,16}$/;
/** They match KID, but a kid must never be able to name an object's plumbing (checklist #42). */
const RESERVED_KIDS = new Set(['__proto__', 'constructor', 'prototype']);
const MIN_KEY_BYTES = 32;
const MAX_KEY_BYTES = 64;
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const keyrings = new WeakSet<object>();

function checkKid(kid: unknown, position: number): asserts kid is string {
  // The kid is echoed only once it is known to be a short, well-formed id, never a mistyped key.
  if (typeof kid !== 'string' || !KID.test(kid)) {
    throw new KeyError(`key #${position}: the key id must match [A-Za-z0-9_-]{1,16}`);
  }
  if (RESERVED_KIDS.has(kid)) throw new KeyError(`key #${position}: the key id "${kid}" is reserved`);
}

/** Refuses short, long and placeholder keys (checklist #43). Messages describe, never echo, the key. */
function checkKeyBytes(kid: string, key: Uint8Array): void {
  if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
    throw new KeyError(
      `key "${kid}" is ${key.length} bytes; keys must be ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} random bytes`,
    );
  }
  const why = weakKeyReason(key);
  if (why !== undefined) {
    throw new KeyError(
      `key "${kid}" looks like a placeholder, not random bytes (${why}); generate one with latchkey keygen`,
    );
  }
}

function makeKey(kid: string, masterKey: Uint8Array, backend: 'node' | 'webcrypto'): KeyringKey {
  const byPurpose = new Map<string, XaesKey>();
  // One Map per algorithm, keyed by purpose: no cache-key string to build on every seal and open.
  const aeads = new Map<SealAlgorithm, Map<string, AeadKey>>();
  return Object.freeze({
    kid,
    aead(algorithm: SealAlgorithm, purpose: string): AeadKey {
      let forAlgorithm = aeads.get(algorithm);
      let key = forAlgorithm?.get(purpose);
      if (key === undefined) {
        const version = VERSION_OF[algorithm];
        if (version === undefined) throw new TypeError('unknown algorithm');
        // v1 keeps DESIGN.md §2's label; other algorithms get their own (checklist #44).
        const subkey =
          version === 'v1'
            ? deriveSubkey(masterKey, purpose)
            : deriveAlgorithmSubkey(masterKey, version, purpose);
        try {
          key = aeadKey(algorithm, backend, subkey);
        } finally {
          subkey.fill(0);
        }
        if (forAlgorithm === undefined) {
          forAlgorithm = new Map();
          aeads.set(algorithm, forAlgorithm);
        }
        forAlgorithm.set(purpose, key);
      }
      return key;
    },
    forPurpose(purpose: string): XaesKey {
      let key = byPurpose.get(purpose);
      if (key === undefined) {
        const subkey = deriveSubkey(masterKey, purpose); // TypeError for a malformed purpose
        try {
          key = xaesKey(subkey);
        } finally {
          subkey.fill(0); // the XaesKey keeps only its AES key schedule
        }
        byPurpose.set(purpose, key);
      }
      return key;
    },
    toJSON: () => ({ kid }),
    [INSPECT]: () => `KeyringKey { kid: '${kid}' }`,
  });
}

const utf8 = new TextEncoder();

function deriveAlgorithmSubkey(masterKey: Uint8Array, version: string, purpose: string): Uint8Array {
  deriveSubkey(masterKey, purpose).fill(0); // the same checks of purpose and key as v1
  return hkdfSha256(masterKey, new Uint8Array(0), utf8.encode(`latchkey/${version}/${purpose}`), 32);
}

function resolveOptions(options: KeyringOptions | undefined): {
  algorithm: SealAlgorithm;
  backend: 'node' | 'webcrypto';
} {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new ConfigError('keyring options must be an object');
  }
  const algorithm = options?.algorithm ?? 'xaes-256-gcm';
  if (!isSealAlgorithm(algorithm)) {
    throw new ConfigError('algorithm must be "xaes-256-gcm" or "xchacha20-poly1305"');
  }
  const backend = resolveBackend(options?.cryptoBackend ?? 'auto');
  return { algorithm, backend };
}

function buildKeyring(
  entries: ReadonlyArray<{ kid: string; key: Uint8Array }>,
  options: KeyringOptions | undefined,
): Keyring {
  const { algorithm, backend } = resolveOptions(options);
  if (entries.length === 0) throw new KeyError('no keys configured: set LATCHKEY_KEYS to "kid:<base64url>"');
  // A Map, never a plain object: `get('__proto__')` must not find Object.prototype (checklist #42).
  const byKid = new Map<string, KeyringKey>();
  entries.forEach((entry, index) => {
    if (typeof entry !== 'object' || entry === null)
      throw new KeyError(`key #${index + 1} must be { kid, key }`);
    const { kid, key } = entry;
    checkKid(kid, index + 1);
    if (byKid.has(kid)) throw new KeyError(`key id "${kid}" appears more than once`);
    if (!(key instanceof Uint8Array)) throw new KeyError(`key "${kid}" must be a Uint8Array`);
    checkKeyBytes(kid, key);
    byKid.set(kid, makeKey(kid, key.slice(), backend)); // a private copy: later writes by the caller change nothing
  });
  const kids = Object.freeze([...byKid.keys()]);
  const current = byKid.get(kids[0]!)!;
  // Fails now, at configuration, when the sealing algorithm's backend is missing (ConfigError).
  const sealing = current.aead(algorithm, 'cookie');
  const keyring: Keyring = Object.freeze({
    current,
    kids,
    algorithm,
    synchronous: sealing.sync !== undefined && backend === 'node',
    get: (kid: string) => (typeof kid === 'string' ? byKid.get(kid) : undefined),
    toJSON: () => ({ kids }),
    [INSPECT]: () => `Keyring { kids: [${kids.map((kid) => `'${kid}'`).join(', ')}] }`,
  });
  keyrings.add(keyring);
  return keyring;
}

/**
 * Builds a keyring from `kid:base64url` entries separated by commas (whitespace around entries is
 * ignored), e.g. the `LATCHKEY_KEYS` environment variable. An existing Keyring is returned as is.
 * Throws {@link KeyError} for a missing or empty input, an empty entry, a bad or reserved kid, a
 * duplicate kid, non-canonical base64url, a key outside 32..64 bytes, or a placeholder key
 * (checklist #43). Error messages name the kid but never contain key material.
 *
 * @example
 * ```ts
 * const keyring = parseKeyring(process.env.LATCHKEY_KEYS); // 'k2:…,k1:…'
 * keyring.current.kid; // 'k2'
 * ```
 */
export function parseKeyring(input: string | Keyring | undefined, options?: KeyringOptions): Keyring {
  if (isKeyring(input)) {
    const differs =
      (options?.algorithm !== undefined && options.algorithm !== input.algorithm) ||
      (options?.cryptoBackend !== undefined && options.cryptoBackend !== 'auto');
    if (differs) {
      throw new ConfigError(
        'a ready-made Keyring keeps its own algorithm: pass the options when creating it',
      );
    }
    return input;
  }
  if (typeof input !== 'string' || input.trim() === '') {
    throw new KeyError('no keys configured: set LATCHKEY_KEYS to "kid:<base64url>" (see `latchkey keygen`)');
  }
  const entries = input.split(',').map((raw, index) => {
    const entry = raw.trim();
    const position = index + 1;
    if (entry === '') throw new KeyError(`key #${position} is empty (a stray comma?)`);
    const colon = entry.indexOf(':');
    if (colon === -1) throw new KeyError(`key #${position} has no key id: write it as "kid:<base64url>"`);
    const kid = entry.slice(0, colon);
    checkKid(kid, position);
    const key = decodeBase64url(entry.slice(colon + 1));
    if (key === null) throw new KeyError(`key "${kid}" is not canonical unpadded base64url`);
    return { kid, key };
  });
  return buildKeyring(entries, options);
}

/**
 * Builds a keyring from raw keys, current first, with the same validation as {@link parseKeyring}.
 *
 * @example
 * ```ts
 * const keyring = createKeyring([{ kid: 'k1', key: randomBytes(32) }]);
 * ```
 */
export function createKeyring(
  entries: ReadonlyArray<{ kid: string; key: Uint8Array }>,
  options?: KeyringOptions,
): Keyring {
  if (!Array.isArray(entries)) throw new KeyError('createKeyring expects an array of { kid, key }');
  return buildKeyring(entries, options);
}

/** True for keyrings made by {@link parseKeyring} or {@link createKeyring} (look-alikes are refused). */
export function isKeyring(value: unknown): value is Keyring {
  return typeof value === 'object' && value !== null && keyrings.has(value);
}

/**
 * A new `kid:<base64url of 32 random bytes>` line for LATCHKEY_KEYS. The default kid is `k` plus
 * today's UTC date (`k20250131`); a given kid must match `[A-Za-z0-9_-]{1,16}` (TypeError otherwise).
 *
 * @example
 * ```ts
 * generateKeyLine('k2'); // 'k2:Qm9…' (46 chars)
 * ```
 */
export function generateKeyLine(kid?: string): string {
  const id = kid ?? `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
  if (!KID.test(id) || RESERVED_KIDS.has(id)) throw new TypeError('kid must match [A-Za-z0-9_-]{1,16}');
  for (;;) {
    const key = randomBytes(MIN_KEY_BYTES);
    try {
      checkKeyBytes(id, key); // fails with probability ~1e-14; draw again rather than emit a weak key
      return `${id}:${encodeBase64url(key)}`;
    } catch {
      key.fill(0);
    }
  }
}
