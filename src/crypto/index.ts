/**
 * `latchkey/crypto`: XAES-256-GCM, keyrings, the sealed value format and the primitives under them.
 * The AES-GCM layer (gcm.ts) stays internal.
 */

export type { AeadKey, CryptoBackend, SealAlgorithm } from './aead.ts';
export { decodeBase64url, encodeBase64url } from './base64url.ts';
export { deriveSubkey, hkdfSha256 } from './hkdf.ts';
export { constantTimeEqual, hmacSha256 } from './hmac.ts';
export type { Keyring, KeyringKey, KeyringOptions } from './keyring.ts';
export { createKeyring, generateKeyLine, isKeyring, parseKeyring } from './keyring.ts';
export { newNonce, newToken, randomBytes } from './random.ts';
export type { OpenFailure, OpenResult } from './seal.ts';
export { openValue, openValueAsync, sealValue, sealValueAsync } from './seal.ts';
export type { XaesKey } from './xaes.ts';
export { xaes256gcm, xaesKey } from './xaes.ts';
export type { WebXaesKey } from './xaes-webcrypto.ts';
export { webXaesKey } from './xaes-webcrypto.ts';
export type { XChaChaKey } from './xchacha.ts';
export { sodiumAvailable, xchacha20poly1305, xchachaKey } from './xchacha.ts';
