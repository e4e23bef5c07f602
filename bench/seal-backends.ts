/**
 * Seal+open of a ~200-byte session on each crypto backend, against the raw primitive under it: raw
 * node:crypto AES-256-GCM, raw WebCrypto AES-GCM, raw sodium-native XChaCha20-Poly1305 and secretbox.
 * Informational only; nothing asserts speed.
 *
 *   npm run bench:seal:backends            # 5 rounds of ~300 ms per row, medians
 *   npm run bench:seal:backends -- --quick # 3 rounds of ~100 ms
 */
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync, webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import { createKeyring, type Keyring } from '../src/crypto/keyring.ts';
import { openValue, openValueAsync, sealValue, sealValueAsync } from '../src/crypto/seal.ts';

type Bytes = Uint8Array;
// sodium-native ships no types; the few calls used here.
const sodium = createRequire(import.meta.url)('sodium-native') as {
  crypto_secretbox_MACBYTES: number;
  randombytes_buf(out: Bytes): void;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Bytes,
    m: Bytes,
    ad: Bytes,
    nsec: null,
    n: Bytes,
    k: Bytes,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Bytes,
    nsec: null,
    c: Bytes,
    ad: Bytes,
    n: Bytes,
    k: Bytes,
  ): number;
  crypto_secretbox_easy(c: Bytes, m: Bytes, n: Bytes, k: Bytes): void;
  crypto_secretbox_open_easy(m: Bytes, c: Bytes, n: Bytes, k: Bytes): boolean;
};

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 5;
const ROUND_MS = quick ? 100 : 300;
const plaintext = Buffer.from(
  JSON.stringify({
    v: 1,
    c: 1733550000000,
    a: 1733553600000,
    x: 1733636400000,
    u: 'usr_01HZX3K9T2Q8M4V6B7N5C1',
    d: { name: 'Ada Lovelace', roles: ['customer', 'beta'], visits: 42, theme: 'dark' },
  }),
);
const aad = Buffer.from('latchkey/v1|cookie|__Host-lk|k1');
const key = randomBytes(32);

async function rate(run: () => unknown | Promise<unknown>): Promise<number> {
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let n = 0;
    const start = performance.now();
    while (performance.now() - start < ROUND_MS) {
      for (let i = 0; i < 50; i++) await run();
      n += 50;
    }
    rates.push(n / ((performance.now() - start) / 1000));
  }
  return rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
}

const iv = Buffer.alloc(12);
function rawNodeGcm(): void {
  randomFillSync(iv);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  decipher.setAuthTag(tag);
  decipher.setAAD(aad);
  decipher.update(body);
  decipher.final();
}

const webKey = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
async function rawWebGcm(): Promise<void> {
  const nonce = webcrypto.getRandomValues(new Uint8Array(12));
  const sealed = await webcrypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: aad },
    webKey,
    plaintext,
  );
  await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, webKey, sealed);
}

const xnonce = Buffer.alloc(24);
const xout = Buffer.alloc(plaintext.length + 16);
const xback = Buffer.alloc(plaintext.length);
function rawXChaCha(): void {
  sodium.randombytes_buf(xnonce);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(xout, plaintext, aad, null, xnonce, key);
  sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(xback, null, xout, aad, xnonce, key);
}
const boxOut = Buffer.alloc(plaintext.length + sodium.crypto_secretbox_MACBYTES);
function rawSecretbox(): void {
  sodium.randombytes_buf(xnonce);
  sodium.crypto_secretbox_easy(boxOut, plaintext, xnonce, key);
  sodium.crypto_secretbox_open_easy(xback, boxOut, xnonce, key);
}

const entries = [{ kid: 'k1', key: new Uint8Array(randomBytes(32)) }];
const node = createKeyring(entries);
const web = createKeyring(entries, { cryptoBackend: 'webcrypto' });
const xchacha = createKeyring(entries, { algorithm: 'xchacha20-poly1305' });
const latchkeySync = (keyring: Keyring) => () =>
  openValue(keyring, 'cookie', '__Host-lk', sealValue(keyring, 'cookie', '__Host-lk', plaintext));
const latchkeyAsync = (keyring: Keyring) => async () =>
  openValueAsync(
    keyring,
    'cookie',
    '__Host-lk',
    await sealValueAsync(keyring, 'cookie', '__Host-lk', plaintext),
  );

const rows: Array<[string, number, string?]> = [];
const floorNode = await rate(rawNodeGcm);
rows.push(['raw node:crypto AES-256-GCM', floorNode]);
rows.push([
  'latchkey v1 XAES-256-GCM, node:crypto',
  await rate(latchkeySync(node)),
  'raw node:crypto AES-256-GCM',
]);
const floorWeb = await rate(rawWebGcm);
rows.push(['raw WebCrypto AES-256-GCM', floorWeb]);
rows.push([
  'latchkey v1 XAES-256-GCM, WebCrypto',
  await rate(latchkeyAsync(web)),
  'raw WebCrypto AES-256-GCM',
]);
rows.push(['raw sodium XChaCha20-Poly1305', await rate(rawXChaCha)]);
rows.push(['raw sodium secretbox (XSalsa20-Poly1305)', await rate(rawSecretbox)]);
rows.push([
  'latchkey v2x XChaCha20-Poly1305, sodium',
  await rate(latchkeySync(xchacha)),
  'raw sodium XChaCha20-Poly1305',
]);

console.log(
  `seal+open of a ${plaintext.length}-byte payload, ops/s (median of ${ROUNDS} × ${ROUND_MS} ms), Node ${process.version}`,
);
for (const [name, value, against] of rows) {
  const base = against === undefined ? undefined : rows.find((row) => row[0] === against)?.[1];
  const ratio = base === undefined ? '' : `  ${(value / base).toFixed(2)}× ${against}`;
  console.log(`${name.padEnd(44)} ${Math.round(value).toString().padStart(8)}${ratio}`);
}
