/**
 * SHA-256, HMAC-SHA256 and the one comparison that every secret-dependent equality check goes through:
 * node:crypto where the runtime has it, plain code elsewhere (runtime.ts).
 */
import { encodeBase64url } from './base64url.ts';
import { nodeCrypto } from './runtime.ts';
import { portableHmacSha256, portableSha256 } from './sha256-portable.ts';

const utf8 = new TextEncoder();

/**
 * SHA-256 of bytes, or of a string's UTF-8 bytes (32 bytes out).
 *
 * @example
 * ```ts
 * const storeKey = encodeBase64url(sha256(token));
 * ```
 */
export function sha256(data: Uint8Array | string): Uint8Array {
  if (nodeCrypto !== undefined) {
    const digest = nodeCrypto.createHash('sha256').update(data).digest();
    return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
  }
  return portableSha256(typeof data === 'string' ? utf8.encode(data) : data);
}

/** node:crypto's one-shot `hash()` (Node 20.12+, 21.7+): about half the cost of createHash for one digest. */
const oneShotHash = nodeCrypto?.hash as
  | ((algorithm: string, data: string, outputEncoding: 'base64url') => string)
  | undefined;

/**
 * base64url(SHA-256(UTF-8 of `text`)): 43 characters, the store key of a token.
 *
 * @example
 * ```ts
 * const storeKey = sha256Base64url(token);
 * ```
 */
export function sha256Base64url(text: string): string {
  if (oneShotHash !== undefined) return oneShotHash('sha256', text, 'base64url');
  return encodeBase64url(sha256(text));
}

/**
 * HMAC-SHA256 of `message` under `key` (32 bytes out).
 *
 * @example
 * ```ts
 * const mac = hmacSha256(key, new TextEncoder().encode(token));
 * ```
 */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (nodeCrypto === undefined) return portableHmacSha256(key, message);
  const digest = nodeCrypto.createHmac('sha256', key).update(message).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/**
 * Constant-time equality of two byte strings. Unequal lengths, or anything that is not a Uint8Array,
 * give `false` and never throw (checklist #45): only the length can leak, and MAC lengths are public.
 *
 * @example
 * ```ts
 * if (!constantTimeEqual(expectedMac, receivedMac)) return null;
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  if (nodeCrypto !== undefined) return nodeCrypto.timingSafeEqual(a, b);
  // Every byte is visited whatever the differences; only the or of all xors decides.
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
