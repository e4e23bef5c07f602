/**
 * Keyrings: an ordered list of id-keyed master keys. The first key seals, every key opens, so keys can
 * be rotated without logging anyone out (DESIGN.md §2, checklist #42). Raw key bytes live only in
 * closures here: nothing reachable from a Keyring (properties, JSON, util.inspect) exposes them.
 */
import { KeyError } from '../errors.ts';
import { decodeBase64url, encodeBase64url } from './base64url.ts';
import { deriveSubkey } from './hkdf.ts';
import { randomBytes } from './random.ts';
import { type XaesKey, xaesKey } from './xaes.ts';

/** One master key of a keyring, known by its key id. */
export interface KeyringKey {
  readonly kid: string;
  /** The XAES-256-GCM key for one purpose (HKDF subkey, checklist #44), derived once and cached. */
  forPurpose(purpose: string): XaesKey;
}

/** An ordered set of master keys: `current` seals, every key opens. */
export interface Keyring {
  readonly current: KeyringKey;
  /** Key ids, current first. */
  readonly kids: readonly string[];
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
  const weak = (why: string) =>
    new KeyError(
      `key "${kid}" looks like a placeholder, not random bytes (${why}); generate one with latchkey`,
    );
  if (key.every((byte) => byte === key[0])) throw weak('every byte is the same');
  for (let period = 2; period <= 8; period++) {
    let repeats = true;
    for (let i = period; i < key.length && repeats; i++) repeats = key[i] === key[i - period];
    if (repeats) throw weak(`it repeats every ${period} bytes`);
  }
  // A base64url-encoded passphrase decodes to printable ASCII; 32 random bytes almost never do (~1e-14).
  if (key.every((byte) => byte >= 0x20 && byte <= 0x7e)) throw weak('every byte is printable ASCII');
  // 32 random bytes have ~30 distinct values; fewer than 16 happens with probability ~3e-17.
  if (new Set(key).size < 16) throw weak('fewer than 16 distinct byte values');
}

function makeKey(kid: string, masterKey: Uint8Array): KeyringKey {
  const byPurpose = new Map<string, XaesKey>();
  return Object.freeze({
    kid,
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

function buildKeyring(entries: ReadonlyArray<{ kid: string; key: Uint8Array }>): Keyring {
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
    byKid.set(kid, makeKey(kid, key.slice())); // a private copy: later writes by the caller change nothing
  });
  const kids = Object.freeze([...byKid.keys()]);
  const current = byKid.get(kids[0]!)!;
  const keyring: Keyring = Object.freeze({
    current,
    kids,
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
export function parseKeyring(input: string | Keyring | undefined): Keyring {
  if (isKeyring(input)) return input;
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
  return buildKeyring(entries);
}

/**
 * Builds a keyring from raw keys, current first, with the same validation as {@link parseKeyring}.
 *
 * @example
 * ```ts
 * const keyring = createKeyring([{ kid: 'k1', key: randomBytes(32) }]);
 * ```
 */
export function createKeyring(entries: ReadonlyArray<{ kid: string; key: Uint8Array }>): Keyring {
  if (!Array.isArray(entries)) throw new KeyError('createKeyring expects an array of { kid, key }');
  return buildKeyring(entries);
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
