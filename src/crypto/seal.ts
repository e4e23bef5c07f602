/**
 * Sealed value format v1 (DESIGN.md §2): `v1.<kid>.<base64url(nonce[24] || ciphertext || tag[16])>`,
 * XAES-256-GCM under the kid's subkey for the purpose, with
 * AAD = `latchkey/v1|<purpose>|<context>|<kid>`, so a value moved to another cookie or store key,
 * another purpose or another key id does not open (checklist #39).
 */
import { decodePublicBase64url, encodeBase64url } from './base64url.ts';
import { TAG_BYTES } from './gcm.ts';
import { isPurpose } from './hkdf.ts';
import { type Keyring, KID } from './keyring.ts';
import { NONCE_BYTES, newNonce } from './random.ts';

export type OpenFailure = 'malformed' | 'unknown-key' | 'tampered';
export type OpenResult =
  | { ok: true; plaintext: Uint8Array; kid: string; stale: boolean }
  | { ok: false; reason: OpenFailure };

const VERSION = 'v1';
const DEFAULT_MAX_LENGTH = 65536;
// Lone surrogates would all encode to U+FFFD, letting two different contexts share one AAD.
const LONE_SURROGATE = /\p{Cs}/u;
const utf8 = new TextEncoder();

const MALFORMED: OpenResult = Object.freeze({ ok: false, reason: 'malformed' });
const UNKNOWN_KEY: OpenResult = Object.freeze({ ok: false, reason: 'unknown-key' });
const TAMPERED: OpenResult = Object.freeze({ ok: false, reason: 'tampered' });

function checkUse(purpose: string, context: string): void {
  if (!isPurpose(purpose)) throw new TypeError('purpose must match /^[a-z][a-z0-9-]{0,31}$/');
  if (typeof context !== 'string' || LONE_SURROGATE.test(context)) {
    throw new TypeError('context must be a well-formed string (a cookie name or store key)');
  }
}

/**
 * Purpose has no `|` and kid has no `|`, so the context between them is recovered unambiguously and
 * the AAD is injective in (purpose, context, kid) (checklist #39).
 */
function additionalData(purpose: string, context: string, kid: string): Uint8Array {
  const text = `latchkey/${VERSION}|${purpose}|${context}|${kid}`;
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

/**
 * Seals `plaintext` with the keyring's current key for one purpose and context (the cookie name or the
 * store key); a string is sealed as its UTF-8 bytes. A fresh random 24-byte nonce is drawn for every
 * call (checklist #37). Throws TypeError for a malformed purpose or context.
 *
 * @example
 * ```ts
 * const value = sealValue(keyring, 'cookie', '__Host-sid', new TextEncoder().encode(json));
 * // 'v1.k2.…'
 * ```
 */
export function sealValue(
  keyring: Keyring,
  purpose: string,
  context: string,
  plaintext: Uint8Array | string,
): string {
  checkUse(purpose, context);
  const { kid } = keyring.current;
  const nonce = newNonce();
  const sealed = keyring.current
    .forPurpose(purpose)
    .seal(nonce, plaintext, additionalData(purpose, context, kid));
  // 24 bytes are exactly 32 base64url characters with no trailing bits, so encoding the two parts
  // separately equals encoding nonce || sealed, without copying them into one buffer.
  return `${VERSION}.${kid}.${encodeBase64url(nonce)}${encodeBase64url(sealed)}`;
}

/**
 * Opens a value made by {@link sealValue} for the same purpose and context. Never throws because of
 * `sealed`, whatever it is: a wrong shape, version, kid syntax or encoding, or a value longer than
 * `maxLength` characters (default 65536, checked before any decoding) is `'malformed'`; a kid not in
 * the keyring is `'unknown-key'`; a value that fails authentication is `'tampered'`. `stale` is true
 * when the value was sealed with a key other than the current one: reseal it (checklist #42).
 * A malformed `purpose`, `context` or `maxLength` is a caller mistake and throws TypeError.
 *
 * @example
 * ```ts
 * const result = openValue(keyring, 'cookie', '__Host-sid', cookieValue);
 * if (result.ok && result.stale) reseal(result.plaintext);
 * ```
 */
export function openValue(
  keyring: Keyring,
  purpose: string,
  context: string,
  sealed: string,
  maxLength: number = DEFAULT_MAX_LENGTH,
): OpenResult {
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
    if (firstDot !== VERSION.length || !sealed.startsWith(VERSION)) return MALFORMED;
    const kid = sealed.slice(firstDot + 1, secondDot);
    if (!KID.test(kid)) return MALFORMED;
    // Canonical only (checklist #46). Nonce, ciphertext and tag are not secret: pooled memory will do.
    const body = decodePublicBase64url(sealed.slice(secondDot + 1));
    if (body === null || body.length < NONCE_BYTES + TAG_BYTES) return MALFORMED;
    const key = keyring.get(kid);
    if (key === undefined) return UNKNOWN_KEY;
    const plaintext = key
      .forPurpose(purpose)
      .open(body.subarray(0, NONCE_BYTES), body.subarray(NONCE_BYTES), additionalData(purpose, context, kid));
    return { ok: true, plaintext, kid, stale: kid !== keyring.current.kid };
  } catch {
    // DecryptError: wrong key, wrong AAD, any flipped bit (checklist #36). Nothing else throws here,
    // but whatever might, opening stays total (DESIGN.md §2).
    return TAMPERED;
  }
}
