/**
 * Strict, canonical base64url (RFC 4648 §5, no padding). Every sealed value and key passes through here,
 * so decoding accepts exactly one spelling per byte string (checklist #46).
 */
import { Buffer } from 'node:buffer';

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Index of each base64url character in the alphabet, for the trailing-bits check. */
function sextet(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 45 ? 62 : 63; // '-' or '_' (the regex has already refused anything else)
}

/**
 * Encodes bytes as base64url without padding.
 *
 * @example
 * ```ts
 * encodeBase64url(new Uint8Array([251, 255])); // '-_8'
 * ```
 */
export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Decodes canonical, unpadded base64url. Returns `null` (never throws) for anything else: characters
 * outside `[A-Za-z0-9_-]`, `=` padding, whitespace, a length of 4k+1, or non-zero trailing bits. So
 * `encodeBase64url(decodeBase64url(s)) === s` whenever the result is not null (checklist #46).
 *
 * @example
 * ```ts
 * decodeBase64url('-_8'); // Uint8Array [251, 255]
 * decodeBase64url('-_9'); // null: the last character carries non-zero unused bits
 * ```
 */
export function decodeBase64url(text: string): Uint8Array | null {
  if (typeof text !== 'string' || !BASE64URL.test(text)) return null;
  const tail = text.length % 4;
  if (tail === 1) return null;
  // The last character of a 2- or 3-character group carries 4 or 2 bits that encode nothing; Node's
  // decoder ignores them, so 'AB' and 'AA' would both decode to [0]. Require them to be zero, which is
  // exactly the condition for the re-encoding to equal the input (tinyhttp GHSA-63x4-8g8c-vhww).
  if (tail !== 0) {
    const unusedBits = tail === 2 ? 0b1111 : 0b11;
    if ((sextet(text.charCodeAt(text.length - 1)) & unusedBits) !== 0) return null;
  }
  // Buffer.from is the fast decoder but may return a slice of Node's shared 8 KB pool. Copy into an
  // array of our own and wipe the pooled bytes: decoded keys must not linger in shared memory, and
  // callers must not see other data through `.buffer`.
  const pooled = Buffer.from(text, 'base64url');
  const out = new Uint8Array(pooled.length);
  out.set(pooled);
  pooled.fill(0);
  return out;
}
