/**
 * Strict, canonical base64url (RFC 4648 §5, no padding). Every sealed value and key passes through here,
 * so decoding accepts exactly one spelling per byte string (checklist #46).
 */

/** Node's Buffer (Node, Bun, Deno, workerd with nodejs_compat) does base64url natively; else plain code. */
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
const CHARACTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Encodes bytes as base64url without padding.
 *
 * @example
 * ```ts
 * encodeBase64url(new Uint8Array([251, 255])); // '-_8'
 * ```
 */
export function encodeBase64url(bytes: Uint8Array): string {
  if (NodeBuffer !== undefined) {
    return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
  }
  let text = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const triple = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    text +=
      CHARACTERS[triple >>> 18]! +
      CHARACTERS[(triple >>> 12) & 63]! +
      CHARACTERS[(triple >>> 6) & 63]! +
      CHARACTERS[triple & 63]!;
  }
  if (bytes.length - i === 1) {
    const byte = bytes[i]!;
    text += CHARACTERS[byte >>> 2]! + CHARACTERS[(byte & 3) << 4]!;
  } else if (bytes.length - i === 2) {
    const pair = (bytes[i]! << 8) | bytes[i + 1]!;
    text += CHARACTERS[pair >>> 10]! + CHARACTERS[(pair >>> 4) & 63]! + CHARACTERS[(pair & 15) << 2]!;
  }
  return text;
}

/** Decodes text that isCanonical accepted, without Buffer. */
function decodePortable(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let count = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    bits = (bits << 6) | SEXTET[text.charCodeAt(i)]!;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[o++] = (bits >>> count) & 0xff;
    }
  }
  return out;
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
  if (NodeBuffer === undefined) return decodePortable(text);
  // Decode into memory of our own (allocUnsafeSlow is never a slice of Node's shared pool, so decoded
  // keys do not linger there and `.buffer` shows nothing else).
  const out = NodeBuffer.allocUnsafeSlow(Math.floor((text.length * 3) / 4));
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
  if (NodeBuffer === undefined) return decodePortable(text);
  const out = NodeBuffer.from(text, 'base64url');
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
