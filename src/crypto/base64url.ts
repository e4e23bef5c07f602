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
  if (typeof text !== 'string' || text.length % 4 === 1) return null;
  // Decode into memory of our own (allocUnsafeSlow is never a slice of Node's shared pool, so decoded
  // keys do not linger there and `.buffer` shows nothing else), then require the re-encoding to equal
  // the input. Node's decoder skips characters outside the alphabet and ignores the unused bits of the
  // last character, so this one comparison refuses `+`, `/`, `=`, whitespace and non-canonical tails
  // (tinyhttp GHSA-63x4-8g8c-vhww).
  const out = Buffer.allocUnsafeSlow(Math.floor((text.length * 3) / 4));
  const written = out.write(text, 'base64url');
  if (written !== out.length || out.toString('base64url') !== text) {
    out.fill(0);
    return null;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
