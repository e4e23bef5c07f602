/**
 * Randomness for tokens, nonces and keys: the runtime's CSPRNG only (node:crypto's randomFillSync, or
 * WebCrypto's getRandomValues where node:crypto is missing), never Math.random or randomUUID
 * (checklist #1).
 */
import { encodeBase64url } from './base64url.ts';
import { nodeCrypto } from './runtime.ts';

/** getRandomValues fills at most 65536 bytes per call (WebCrypto §10.1.1). */
const GET_RANDOM_VALUES_LIMIT = 65536;

function randomFill(bytes: Uint8Array): Uint8Array {
  if (nodeCrypto !== undefined) return nodeCrypto.randomFillSync(bytes);
  for (let offset = 0; offset < bytes.length; offset += GET_RANDOM_VALUES_LIMIT) {
    globalThis.crypto.getRandomValues(bytes.subarray(offset, offset + GET_RANDOM_VALUES_LIMIT));
  }
  return bytes;
}

/** XAES-256-GCM nonce size: 192 bits, safe to draw at random for ~2^80 messages (DESIGN.md §2). */
export const NONCE_BYTES = 24;
/** Session tokens carry 256 bits (checklist #1). */
export const TOKEN_BYTES = 32;

// Each randomFillSync call costs microseconds of fixed overhead whatever its size, which would dominate
// a seal. Nonces and tokens are therefore cut from a 4 KB block of CSPRNG output, as Node's own
// randomUUID does with its cache; each piece is zeroed in the block once handed out, so a value never
// stays in memory longer than the caller keeps it, and no piece is ever handed out twice.
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** Reserves `size` fresh bytes of the block and returns their offset; the caller must zero them. */
function reserve(size: number): number {
  if (poolOffset + size > POOL_BYTES) {
    randomFill(pool);
    poolOffset = 0;
  }
  const offset = poolOffset;
  poolOffset += size;
  return offset;
}

/**
 * `n` bytes straight from the CSPRNG, as a fresh, unshared Uint8Array. Meant for keys: unlike
 * nonces and tokens, these bytes never pass through the shared block.
 *
 * @example
 * ```ts
 * const key = randomBytes(32);
 * ```
 */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError('randomBytes: n must be a non-negative integer');
  return randomFill(new Uint8Array(n));
}

/**
 * A fresh random 24-byte XAES-256-GCM nonce (checklist #37).
 *
 * @example
 * ```ts
 * const sealed = xaes256gcm.seal(key, newNonce(), plaintext);
 * ```
 */
export function newNonce(): Uint8Array {
  const offset = reserve(NONCE_BYTES);
  const nonce = pool.slice(offset, offset + NONCE_BYTES);
  pool.fill(0, offset, offset + NONCE_BYTES);
  return nonce;
}

/**
 * An opaque 256-bit token, base64url: always 43 characters of `[A-Za-z0-9_-]` (checklist #1, #2).
 *
 * @example
 * ```ts
 * const sessionId = newToken(); // e.g. 'm0Xq3…' (43 chars)
 * ```
 */
export function newToken(): string {
  const offset = reserve(TOKEN_BYTES);
  // Encoded straight from the block: no intermediate copy of the secret to wipe.
  const token = encodeBase64url(pool.subarray(offset, offset + TOKEN_BYTES));
  pool.fill(0, offset, offset + TOKEN_BYTES);
  return token;
}

const TOKEN_TEXT = /^[A-Za-z0-9_-]{43}$/;

/** True for a string shaped like {@link newToken}'s: 43 base64url characters (checked before any I/O). */
export function isTokenText(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_TEXT.test(value);
}

/**
 * A random integer in [0, bound) for retry jitter, where a modulo bias of under 2^-16 does not matter
 * (bound ≤ 65536). Not for secrets or ids.
 */
export function jitterBelow(bound: number): number {
  if (!Number.isSafeInteger(bound) || bound < 1 || bound > 65536) {
    throw new TypeError('jitterBelow: bound must be an integer from 1 to 65536');
  }
  const offset = reserve(4);
  const value = new DataView(pool.buffer, offset, 4).getUint32(0);
  pool.fill(0, offset, offset + 4);
  return value % bound;
}
