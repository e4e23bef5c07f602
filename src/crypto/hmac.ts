/** HMAC-SHA256 and the one comparison that every secret-dependent equality check goes through. */
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HMAC-SHA256 of `message` under `key` (32 bytes out).
 *
 * @example
 * ```ts
 * const mac = hmacSha256(key, new TextEncoder().encode(token));
 * ```
 */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const digest = createHmac('sha256', key).update(message).digest();
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
  return timingSafeEqual(a, b);
}
