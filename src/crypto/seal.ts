/**
 * Sealed value format (DESIGN.md §2): `<version>.<kid>.<base64url(nonce[24] || ciphertext || tag[16])>`,
 * where the version names the AEAD: `v1` is XAES-256-GCM (the default, unchanged), `v2x` is
 * XChaCha20-Poly1305 (sodium-native). The AEAD runs under the kid's subkey for the purpose and algorithm,
 * with AAD = `latchkey/<version>|<purpose>|<context>|<kid>`, so a value moved to another cookie or store
 * key, another purpose, another key id or another algorithm does not open (checklist #39).
 *
 * Each function has a synchronous form (node:crypto, sodium-native) and an asynchronous one that works
 * on every backend, WebCrypto included; `keyring.synchronous` says whether the first is usable.
 */
import { ConfigError } from '../errors.ts';
import { type AeadKey, algorithmAvailable, algorithmOf, type SealAlgorithm, VERSION_OF } from './aead.ts';
import { decodePublicBase64url, encodeBase64url } from './base64url.ts';
import { TAG_BYTES } from './gcm.ts';
import { isPurpose } from './hkdf.ts';
import { type Keyring, KID } from './keyring.ts';
import { NONCE_BYTES, newNonce } from './random.ts';

/** `'unsupported'`: a well-formed value of an algorithm whose backend this runtime lacks (v2x without sodium-native). */
export type OpenFailure = 'malformed' | 'unknown-key' | 'tampered' | 'unsupported';
export type OpenResult =
  | { ok: true; plaintext: Uint8Array; kid: string; stale: boolean }
  | { ok: false; reason: OpenFailure };

const DEFAULT_MAX_LENGTH = 65536;
// Lone surrogates would all encode to U+FFFD, letting two different contexts share one AAD.
const LONE_SURROGATE = /\p{Cs}/u;
const utf8 = new TextEncoder();

const MALFORMED: OpenResult = Object.freeze({ ok: false, reason: 'malformed' });
const UNKNOWN_KEY: OpenResult = Object.freeze({ ok: false, reason: 'unknown-key' });
const TAMPERED: OpenResult = Object.freeze({ ok: false, reason: 'tampered' });
const UNSUPPORTED: OpenResult = Object.freeze({ ok: false, reason: 'unsupported' });

/** Purposes already checked: a process uses a handful, so the regex runs once for each. */
const checkedPurposes = new Set<string>();
const PURPOSES_LIMIT = 64;
/** `String.prototype.isWellFormed` (ES2024): constant time for the one-byte strings cookie names and store keys are. */
const isWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;

function checkUse(purpose: string, context: string): void {
  if (!checkedPurposes.has(purpose)) {
    if (!isPurpose(purpose)) throw new TypeError('purpose must match /^[a-z][a-z0-9-]{0,31}$/');
    if (checkedPurposes.size < PURPOSES_LIMIT) checkedPurposes.add(purpose);
  }
  if (
    typeof context !== 'string' ||
    (isWellFormed !== undefined ? !isWellFormed.call(context) : LONE_SURROGATE.test(context))
  ) {
    throw new TypeError('context must be a well-formed string (a cookie name or store key)');
  }
}

/**
 * Purpose has no `|` and kid has no `|`, so the context between them is recovered unambiguously and
 * the AAD is injective in (purpose, context, kid) (checklist #39).
 */
function additionalData(version: string, purpose: string, context: string, kid: string): Uint8Array {
  const text = `latchkey/${version}|${purpose}|${context}|${kid}`;
  let bytes = aadCache.get(text);
  if (bytes === undefined) {
    bytes = utf8.encode(text);
    // Cookie names repeat on every request; store keys do not, so the cache stops growing at a bound.
    if (aadCache.size < AAD_CACHE_LIMIT) aadCache.set(text, bytes);
  }
  return bytes;
}

const AAD_CACHE_LIMIT = 64;
const aadCache = new Map<string, Uint8Array>();

interface Sealing {
  aead: AeadKey;
  nonce: Uint8Array;
  aad: Uint8Array;
  prefix: string;
}

function prepareSeal(keyring: Keyring, purpose: string, context: string): Sealing {
  checkUse(purpose, context);
  const { kid } = keyring.current;
  const version = VERSION_OF[keyring.algorithm];
  return {
    aead: keyring.current.aead(keyring.algorithm, purpose),
    nonce: newNonce(),
    aad: additionalData(version, purpose, context, kid),
    prefix: `${version}.${kid}.`,
  };
}

// 24 bytes are exactly 32 base64url characters with no trailing bits, so encoding the two parts
// separately equals encoding nonce || sealed, without copying them into one buffer.
const format = (sealing: Sealing, sealed: Uint8Array) =>
  `${sealing.prefix}${encodeBase64url(sealing.nonce)}${encodeBase64url(sealed)}`;

/**
 * Seals `plaintext` with the keyring's current key and algorithm for one purpose and context (the
 * cookie name or the store key); a string is sealed as its UTF-8 bytes. A fresh random 24-byte nonce
 * is drawn for every call (checklist #37). Throws TypeError for a malformed purpose or context, and
 * ConfigError where the keyring's backend is asynchronous only (WebCrypto): use {@link sealValueAsync}.
 *
 * @example
 * ```ts
 * import { createKeyring, randomBytes, sealValue } from 'latchkey/crypto';
 * const keyring = createKeyring([{ kid: 'k1', key: randomBytes(32) }]);
 * const value = sealValue(keyring, 'cookie', '__Host-sid', '{"n":1}'); // 'v1.k1.…'
 * ```
 */
export function sealValue(
  keyring: Keyring,
  purpose: string,
  context: string,
  plaintext: Uint8Array | string,
): string {
  const sealing = prepareSeal(keyring, purpose, context);
  const sync = sealing.aead.sync;
  if (sync === undefined) throw asyncOnly('sealValue');
  return format(sealing, sync.seal(sealing.nonce, plaintext, sealing.aad));
}

/**
 * {@link sealValue} on any backend, WebCrypto included. Rejects as sealValue throws.
 *
 * @example
 * ```ts
 * import { createKeyring, randomBytes, sealValueAsync } from 'latchkey/crypto';
 * const keyring = createKeyring([{ kid: 'k1', key: randomBytes(32) }]);
 * const value = await sealValueAsync(keyring, 'cookie', '__Host-sid', '{"n":1}');
 * ```
 */
export async function sealValueAsync(
  keyring: Keyring,
  purpose: string,
  context: string,
  plaintext: Uint8Array | string,
): Promise<string> {
  const sealing = prepareSeal(keyring, purpose, context);
  return format(sealing, await sealing.aead.seal(sealing.nonce, plaintext, sealing.aad));
}

function asyncOnly(name: string): ConfigError {
  return new ConfigError(
    `${name}: this runtime's crypto is asynchronous only (WebCrypto); use ${name}Async (the adapters do)`,
  );
}

interface Parsed {
  kid: string;
  algorithm: SealAlgorithm;
  aead: AeadKey;
  nonce: Uint8Array;
  body: Uint8Array;
  aad: Uint8Array;
}

/** Everything up to the AEAD: the value's shape, version, kid, encoding and key; never throws for `sealed`. */
function parse(
  keyring: Keyring,
  purpose: string,
  context: string,
  sealed: string,
  maxLength: number,
): Parsed | OpenResult {
  checkUse(purpose, context);
  if (!Number.isSafeInteger(maxLength) || maxLength < 0) {
    throw new TypeError('maxLength must be a non-negative integer');
  }
  try {
    if (typeof sealed !== 'string' || sealed.length > maxLength) return MALFORMED;
    // Exactly three segments: indexOf, not split, so a value full of dots costs no allocation.
    const firstDot = sealed.indexOf('.');
    const secondDot = firstDot === -1 ? -1 : sealed.indexOf('.', firstDot + 1);
    if (secondDot === -1 || sealed.indexOf('.', secondDot + 1) !== -1) return MALFORMED;
    const version = sealed.slice(0, firstDot);
    const algorithm = algorithmOf(version);
    if (algorithm === undefined) return MALFORMED;
    const kid = sealed.slice(firstDot + 1, secondDot);
    // A kid the keyring holds passed KID when the keyring was made (a Map: `__proto__` finds nothing).
    const key = keyring.get(kid);
    if (key === undefined && !KID.test(kid)) return MALFORMED;
    // Canonical only (checklist #46). Nonce, ciphertext and tag are not secret: pooled memory will do.
    const body = decodePublicBase64url(sealed.slice(secondDot + 1));
    if (body === null || body.length < NONCE_BYTES + TAG_BYTES) return MALFORMED;
    if (key === undefined) return UNKNOWN_KEY;
    // A value this build could open elsewhere: said as such, not as tampering.
    if (!algorithmAvailable(algorithm)) return UNSUPPORTED;
    return {
      kid,
      algorithm,
      aead: key.aead(algorithm, purpose),
      nonce: body.subarray(0, NONCE_BYTES),
      body: body.subarray(NONCE_BYTES),
      aad: additionalData(version, purpose, context, kid),
    };
  } catch {
    return TAMPERED;
  }
}

function opened(keyring: Keyring, parsed: Parsed, plaintext: Uint8Array): OpenResult {
  // Sealed with an old key, or with the algorithm the keyring no longer seals with: reseal it.
  const stale = parsed.kid !== keyring.current.kid || parsed.algorithm !== keyring.algorithm;
  return { ok: true, plaintext, kid: parsed.kid, stale };
}

/**
 * Opens a value made by {@link sealValue} for the same purpose and context. Never throws because of
 * `sealed`, whatever it is: a wrong shape, version, kid syntax or encoding, or a value longer than
 * `maxLength` characters (default 65536, checked before any decoding) is `'malformed'`; a kid not in
 * the keyring is `'unknown-key'`; a value of an algorithm whose backend is missing here (`v2x` without
 * sodium-native) is `'unsupported'`; a value that fails authentication is `'tampered'`. `stale` is true
 * when the value was sealed with a key other than the current one, or with another algorithm than the
 * keyring's: reseal it (checklist #42).
 * A malformed `purpose`, `context` or `maxLength` is a caller mistake and throws TypeError; on an
 * asynchronous-only backend (WebCrypto) it throws ConfigError: use {@link openValueAsync}.
 *
 * @example
 * ```ts
 * import { createKeyring, openValue, randomBytes, sealValue } from 'latchkey/crypto';
 * const keyring = createKeyring([{ kid: 'k1', key: randomBytes(32) }]);
 * const result = openValue(keyring, 'cookie', '__Host-sid', sealValue(keyring, 'cookie', '__Host-sid', 'x'));
 * if (result.ok && result.stale) console.log('reseal it');
 * ```
 */
export function openValue(
  keyring: Keyring,
  purpose: string,
  context: string,
  sealed: string,
  maxLength: number = DEFAULT_MAX_LENGTH,
): OpenResult {
  const parsed = parse(keyring, purpose, context, sealed, maxLength);
  if ('ok' in parsed) return parsed;
  const sync = parsed.aead.sync;
  if (sync === undefined) throw asyncOnly('openValue');
  try {
    return opened(keyring, parsed, sync.open(parsed.nonce, parsed.body, parsed.aad));
  } catch {
    // DecryptError: wrong key, wrong AAD, any flipped bit (checklist #36). Nothing else throws here,
    // but whatever might, opening stays total (DESIGN.md §2).
    return TAMPERED;
  }
}

/**
 * {@link openValue} on any backend, WebCrypto included; never rejects because of `sealed`.
 *
 * @example
 * ```ts
 * import { createKeyring, openValueAsync, randomBytes, sealValueAsync } from 'latchkey/crypto';
 * const keyring = createKeyring([{ kid: 'k1', key: randomBytes(32) }]);
 * const value = await sealValueAsync(keyring, 'cookie', '__Host-sid', 'x');
 * const result = await openValueAsync(keyring, 'cookie', '__Host-sid', value);
 * ```
 */
export async function openValueAsync(
  keyring: Keyring,
  purpose: string,
  context: string,
  sealed: string,
  maxLength: number = DEFAULT_MAX_LENGTH,
): Promise<OpenResult> {
  const parsed = parse(keyring, purpose, context, sealed, maxLength);
  if ('ok' in parsed) return parsed;
  try {
    return opened(keyring, parsed, await parsed.aead.open(parsed.nonce, parsed.body, parsed.aad));
  } catch {
    return TAMPERED;
  }
}
