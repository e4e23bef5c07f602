/**
 * XAES-256-GCM on WebCrypto (`crypto.subtle`), for runtimes without node:crypto: workerd without
 * nodejs_compat, Vercel Edge, Deno Deploy, browsers. Asynchronous, as SubtleCrypto is. Same algorithm,
 * same bytes as xaes.ts (the spec's vectors run against both, see xaes-webcrypto.test.ts).
 *
 * SubtleCrypto has no AES-ECB. The KDF needs single-block AES-256_K, and AES-CBC of one block under a
 * zero IV is exactly that block's ECB encryption (C1 = E_K(P1 xor 0)); the padding block CBC appends is
 * dropped. The two KDF blocks go in two calls, since CBC would chain the second to the first.
 */
import { DecryptError } from '../errors.ts';
import { subtle } from './runtime.ts';

const TAG_BYTES = 16;
const ZERO_BLOCK = new Uint8Array(16);
const ZERO_IV = new Uint8Array(16);

/** An XAES-256-GCM key on WebCrypto: the async counterpart of {@link XaesKey}. */
export interface WebXaesKey {
  /** Encrypts; resolves to `ciphertext || tag` (16-byte tag). Rejects with TypeError for a bad nonce. */
  seal(nonce: Uint8Array, plaintext: Uint8Array | string, aad?: Uint8Array): Promise<Uint8Array>;
  /** Decrypts `ciphertext || tag`; rejects with {@link DecryptError} for every failure. */
  open(nonce: Uint8Array, ciphertextWithTag: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
}

interface Prepared {
  cbc: CryptoKey;
  k1: Uint8Array;
}

/** WebCrypto takes views of plain ArrayBuffers only; anything else (a SharedArrayBuffer) is copied. */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

function requireSubtle(): SubtleCrypto {
  if (subtle === undefined) throw new TypeError('WebCrypto (crypto.subtle) is not available here');
  return subtle;
}

async function encryptBlock(api: SubtleCrypto, cbc: CryptoKey, block: Uint8Array): Promise<Uint8Array> {
  const out = await api.encrypt({ name: 'AES-CBC', iv: ZERO_IV }, cbc, own(block));
  return new Uint8Array(out, 0, 16);
}

/**
 * Imports a 32-byte key for XAES-256-GCM on WebCrypto. The key bytes are copied by `importKey` before
 * this returns, so the caller may zero them at once; the L/K1 precomputation (DESIGN.md §2 steps 1-2)
 * runs once, on first use.
 *
 * @example
 * ```ts
 * import { newNonce, randomBytes, webXaesKey } from 'latchkey/crypto';
 * const key = webXaesKey(randomBytes(32));
 * const nonce = newNonce();
 * const sealed = await key.seal(nonce, 'hi');
 * await key.open(nonce, sealed); // Uint8Array of 'hi'
 * ```
 */
export function webXaesKey(key: Uint8Array): WebXaesKey {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError('XAES-256-GCM key must be 32 bytes');
  }
  const api = requireSubtle();
  // importKey copies keyData synchronously (WebCrypto §14.3.9 step 2), before the first await.
  const imported = api.importKey('raw', own(key), { name: 'AES-CBC' }, false, ['encrypt']);
  let prepared: Promise<Prepared> | undefined;
  const prepare = (): Promise<Prepared> => {
    prepared ??= imported.then(async (cbc) => {
      // Steps 1-2: L = AES-256_K(0^128); K1 = L << 1, xor 0x87 into the last byte if L's top bit was set.
      const l = await encryptBlock(api, cbc, ZERO_BLOCK);
      const k1 = new Uint8Array(16);
      for (let i = 0; i < 15; i++) k1[i] = ((l[i]! << 1) | (l[i + 1]! >>> 7)) & 0xff;
      k1[15] = ((l[15]! << 1) & 0xff) ^ (l[0]! & 0x80 ? 0x87 : 0);
      l.fill(0);
      return { cbc, k1 };
    });
    return prepared;
  };
  // A rejected import surfaces on first use; never as an unhandled rejection.
  imported.catch(() => undefined);

  /** Steps 3-5: Kx = AES_K(M1 ^ K1) || AES_K(M2 ^ K1), imported as the AES-256-GCM key. */
  async function gcmKey(nonce: Uint8Array, usage: KeyUsage): Promise<CryptoKey> {
    const { cbc, k1 } = await prepare();
    const m1 = new Uint8Array(16);
    m1[0] = k1[0]!;
    m1[1] = 0x01 ^ k1[1]!;
    m1[2] = 0x58 ^ k1[2]!;
    m1[3] = k1[3]!;
    for (let i = 4; i < 16; i++) m1[i] = nonce[i - 4]! ^ k1[i]!;
    const m2 = m1.slice();
    m2[1] = 0x02 ^ k1[1]!;
    const [first, second] = await Promise.all([encryptBlock(api, cbc, m1), encryptBlock(api, cbc, m2)]);
    const subkey = new Uint8Array(32);
    subkey.set(first);
    subkey.set(second, 16);
    try {
      return await api.importKey('raw', subkey, { name: 'AES-GCM' }, false, [usage]);
    } finally {
      subkey.fill(0);
      first.fill(0);
      second.fill(0);
    }
  }

  return {
    async seal(nonce, plaintext, aad) {
      if (!(nonce instanceof Uint8Array) || nonce.length !== 24) {
        throw new TypeError('XAES-256-GCM nonce must be 24 bytes');
      }
      const gcm = await gcmKey(nonce, 'encrypt');
      const data = typeof plaintext === 'string' ? new TextEncoder().encode(plaintext) : plaintext;
      // Step 6: Nx = N[12:24] is the GCM IV. The full 16-byte tag (checklist #38).
      const sealed = await api.encrypt(
        {
          name: 'AES-GCM',
          iv: nonce.slice(12),
          additionalData: own(aad ?? new Uint8Array(0)),
          tagLength: 128,
        },
        gcm,
        own(data),
      );
      return new Uint8Array(sealed);
    },
    async open(nonce, ciphertextWithTag, aad) {
      try {
        if (
          !(nonce instanceof Uint8Array) ||
          nonce.length !== 24 ||
          !(ciphertextWithTag instanceof Uint8Array) ||
          ciphertextWithTag.length < TAG_BYTES
        ) {
          throw new DecryptError();
        }
        const gcm = await gcmKey(nonce, 'decrypt');
        const plaintext = await api.decrypt(
          {
            name: 'AES-GCM',
            iv: nonce.slice(12),
            additionalData: own(aad ?? new Uint8Array(0)),
            tagLength: 128,
          },
          gcm,
          own(ciphertextWithTag),
        );
        return new Uint8Array(plaintext);
      } catch {
        throw new DecryptError();
      }
    },
  };
}
