/**
 * The weak-key check (checklist #43, issue 14 §5): master keys must be random bytes, so keys with
 * structure a person or a test suite would type are refused at configuration. All the tests together
 * refuse a 32-byte random key with probability about 2e-14 (the printable-ASCII test dominates; the
 * others are under 2^-100), so generated keys do not trip it: the keyring tests draw 10^5 of them, and
 * generateKeyLine draws again in the unlikely case.
 */
import { encodeBase64url } from './base64url.ts';
import { sha256 } from './hmac.ts';
import { KNOWN_TEST_KEY_HASHES } from './known-test-keys.ts';

/** True when `key[i + period] === key[i]` throughout: a short key repeated (16 bytes twice, 8 × 4, ...). */
function repeatsEvery(key: Uint8Array, period: number): boolean {
  for (let i = period; i < key.length; i++) if (key[i] !== key[i - period]) return false;
  return true;
}

/**
 * True when every lane (the bytes at positions ≡ r mod `lanes`) is an arithmetic progression mod 256:
 * counters `00 01 02 …`, `1f 1e 1d …`, steps of 2, and interleaved or multi-byte counters. One lane
 * with a step of 0 is every byte the same.
 */
function lanesProgress(key: Uint8Array, lanes: number): boolean {
  for (let i = 2 * lanes; i < key.length; i++) {
    const step = (key[i]! - key[i - lanes]!) & 0xff;
    if (step !== ((key[i - lanes]! - key[i - 2 * lanes]!) & 0xff)) return false;
  }
  return true;
}

/**
 * Why `key` does not look random, or undefined when it does. The reason never shows key bytes.
 * For a key of n bytes: a repeat with period p ≤ n/2 leaves n - p ≥ 16 bytes to match by chance, lanes
 * of p ≤ n/4 leave n - 2p ≥ 16, and a random key has about 30 distinct bytes of 32.
 */
export function weakKeyReason(key: Uint8Array): string | undefined {
  if (key.every((byte) => byte === key[0])) return 'every byte is the same';
  for (let period = 1; period * 2 <= key.length; period++) {
    if (repeatsEvery(key, period)) return `it repeats every ${period} bytes`;
  }
  for (let lanes = 1; lanes * 4 <= key.length; lanes++) {
    if (lanesProgress(key, lanes)) {
      return lanes === 1
        ? 'it counts: 00 01 02 … or another fixed step'
        : `it counts in ${lanes} interleaved lanes`;
    }
  }
  // A base64url-encoded passphrase decodes to printable ASCII; 32 random bytes almost never do (~1e-14).
  if (key.every((byte) => byte >= 0x20 && byte <= 0x7e)) return 'every byte is printable ASCII';
  // 32 random bytes have ~30 distinct values; fewer than 16 happens with probability ~3e-17.
  if (new Set(key).size < 16) return 'fewer than 16 distinct byte values';
  if (KNOWN_TEST_KEY_HASHES.has(encodeBase64url(sha256(key).subarray(0, 16)))) {
    return 'it is a key published in test vectors';
  }
  return undefined;
}
