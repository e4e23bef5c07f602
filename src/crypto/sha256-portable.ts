/**
 * SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) in plain TypeScript, for
 * runtimes without node:crypto (workerd without nodejs_compat, Vercel Edge, browsers). WebCrypto has
 * them too, but only asynchronously; these keep key derivation, store-key hashing and the weak-key check
 * synchronous everywhere. SHA-256 is additions, rotations and xors on 32-bit words with no
 * secret-dependent branches or table look-ups, so this is constant-time in the data. Tested against the
 * same RFC and Wycheproof vectors as the node:crypto path (hmac.test.ts, hkdf.test.ts, vectors.test.ts).
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const INITIAL = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));

function compress(state: Uint32Array, w: Uint32Array, block: Uint8Array, offset: number): void {
  for (let t = 0; t < 16; t++) {
    const i = offset + t * 4;
    w[t] = (block[i]! << 24) | (block[i + 1]! << 16) | (block[i + 2]! << 8) | block[i + 3]!;
  }
  for (let t = 16; t < 64; t++) {
    const w15 = w[t - 15]!;
    const w2 = w[t - 2]!;
    const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
    const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
    w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let t = 0; t < 64; t++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = state[0]! + a;
  state[1] = state[1]! + b;
  state[2] = state[2]! + c;
  state[3] = state[3]! + d;
  state[4] = state[4]! + e;
  state[5] = state[5]! + f;
  state[6] = state[6]! + g;
  state[7] = state[7]! + h;
}

/** SHA-256 of the concatenation of `parts`. */
export function portableSha256(...parts: Uint8Array[]): Uint8Array {
  const state = new Uint32Array(INITIAL);
  const w = new Uint32Array(64);
  const buffer = new Uint8Array(64);
  let buffered = 0;
  let total = 0;
  for (const part of parts) {
    total += part.length;
    let offset = 0;
    if (buffered > 0) {
      const take = Math.min(64 - buffered, part.length);
      buffer.set(part.subarray(0, take), buffered);
      buffered += take;
      offset = take;
      if (buffered < 64) continue;
      compress(state, w, buffer, 0);
      buffered = 0;
    }
    for (; offset + 64 <= part.length; offset += 64) compress(state, w, part, offset);
    buffer.set(part.subarray(offset), 0);
    buffered = part.length - offset;
  }
  // Padding: 0x80, zeros, then the length in bits as a 64-bit big-endian integer.
  buffer.fill(0, buffered);
  buffer[buffered] = 0x80;
  if (buffered >= 56) {
    compress(state, w, buffer, 0);
    buffer.fill(0);
  }
  const bits = total * 8;
  const view = new DataView(buffer.buffer);
  view.setUint32(56, Math.floor(bits / 2 ** 32));
  view.setUint32(60, bits >>> 0);
  compress(state, w, buffer, 0);
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, state[i]!);
  buffer.fill(0);
  w.fill(0);
  state.fill(0);
  return out;
}

/** HMAC-SHA256 (RFC 2104). */
export function portableHmacSha256(key: Uint8Array, ...message: Uint8Array[]): Uint8Array {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? portableSha256(key) : key);
  const inner = block.map((byte) => byte ^ 0x36);
  const outer = block.map((byte) => byte ^ 0x5c);
  block.fill(0);
  const innerHash = portableSha256(inner, ...message);
  const mac = portableSha256(outer, innerHash);
  inner.fill(0);
  outer.fill(0);
  innerHash.fill(0);
  return mac;
}

/** HKDF-SHA256 (RFC 5869): extract then expand. `length` is checked by the caller (1..8160). */
export function portableHkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  // RFC 5869 §2.2: an absent salt is HashLen zero bytes (HMAC pads any key to the block anyway).
  const prk = portableHmacSha256(salt, ikm);
  const out = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  for (let counter = 1, filled = 0; filled < length; counter++) {
    const block = portableHmacSha256(prk, previous, info, new Uint8Array([counter]));
    previous.fill(0);
    out.set(block.subarray(0, Math.min(32, length - filled)), filled);
    filled += 32;
    previous = block;
  }
  previous.fill(0);
  prk.fill(0);
  return out;
}
