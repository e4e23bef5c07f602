/**
 * Strict, canonical base64url (RFC 4648 §5, no padding). Every sealed value and key passes through here,
 * so decoding accepts exactly one spelling per byte string (checklist #46).
 */
import { Buffer } from 'node:buffer';

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
  if (!isCanonical(text)) return null;
  // Decode into memory of our own (allocUnsafeSlow is never a slice of Node's shared pool, so decoded
  // keys do not linger there and `.buffer` shows nothing else).
  const out = Buffer.allocUnsafeSlow(Math.floor((text.length * 3) / 4));
  const written = out.write(text, 'base64url');
  if (written !== out.length) {
    out.fill(0);
    return null;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * {@link decodeBase64url} for bytes that are not secret, such as a sealed value (nonce, ciphertext and
 * tag): the same checks, but the bytes may be cut from Node's shared Buffer pool, which is cheaper than
 * memory of their own. Never use it for keys or tokens.
 */
export function decodePublicBase64url(text: string): Uint8Array | null {
  if (!isCanonical(text)) return null;
  const out = Buffer.from(text, 'base64url');
  return out.length === Math.floor((text.length * 3) / 4) ? out : null;
}

/**
 * Only `[A-Za-z0-9_-]` (Node's decoder would skip `+`, `/`, `=` and whitespace: tinyhttp
 * GHSA-63x4-8g8c-vhww), no length of 4k+1, and zero unused low bits in the last character (2 characters
 * carry 1 byte and 4 spare bits, 3 carry 2 bytes and 2 spare bits), or two spellings would decode alike.
 */
function isCanonical(text: string): boolean {
  if (typeof text !== 'string' || text.length % 4 === 1 || !ALPHABET.test(text)) return false;
  const tail = text.length % 4;
  return tail === 0 || (SEXTET[text.charCodeAt(text.length - 1)]! & (tail === 2 ? 0x0f : 0x03)) === 0;
}

const ALPHABET = /^[A-Za-z0-9_-]*$/;
/** Each base64url character's 6-bit value, by character code. */
const SEXTET = new Uint8Array(128);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) {
  SEXTET[c.charCodeAt(0)] = i;
}
