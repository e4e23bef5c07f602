/**
 * express-session's `secret` in latchkey/express. Latchkey keys (`keys`, LATCHKEY_KEYS) seal sessions;
 * `secret` is kept to verify express-session's legacy `s:<sid>.<signature>` cookies while users move
 * over (the legacy reader). Only when no keys are configured does a strong secret seal: each secret
 * becomes a 32-byte master key by HKDF-SHA256 with a fixed info label, so that a secret is never used
 * as a key directly and the derived key is bound to this use (checklist #44). Weak secrets such as
 * 'keyboard cat' never seal (checklist #43).
 */
import { createHash } from 'node:crypto';
import { hkdfSha256 } from '../../crypto/hkdf.ts';
import { createKeyring, type Keyring } from '../../crypto/keyring.ts';
import { ConfigError, KeyError } from '../../errors.ts';

/** The HKDF info label for a sealing key derived from an express-session secret. Never change it. */
export const SECRET_KEY_INFO = 'latchkey/v1/express-session-secret';
const MIN_SECRET_LENGTH = 32;
const PLACEHOLDERS = ['keyboard cat', 'changeme', 'change-me', 'secret', 'password', 'example', 'your-'];

export type SecretOption = string | Uint8Array | ReadonlyArray<string | Uint8Array>;

/** The secrets as bytes, first (signing) first; ConfigError for anything but strings and Buffers. */
export function secretList(secret: unknown): Uint8Array[] {
  const list = Array.isArray(secret) ? secret : [secret];
  if (list.length === 0) throw new ConfigError('secret option array must contain one or more strings');
  return list.map((item) => {
    if (typeof item === 'string' && item.length > 0) return new TextEncoder().encode(item);
    if (item instanceof Uint8Array && item.length > 0) return new Uint8Array(item);
    throw new ConfigError('secret must be a non-empty string or Buffer, or an array of them');
  });
}

/** Why a secret is too weak to seal with, or undefined. Describes, never echoes, the secret. */
export function weakSecretReason(secret: Uint8Array): string | undefined {
  if (secret.length < MIN_SECRET_LENGTH)
    return `it is ${secret.length} bytes; at least ${MIN_SECRET_LENGTH} are needed`;
  if (new Set(secret).size < 12) return 'it has fewer than 12 distinct characters';
  const text = new TextDecoder().decode(secret).toLowerCase();
  if (PLACEHOLDERS.some((word) => text.includes(word))) return 'it contains a placeholder word';
  return undefined;
}

/**
 * A keyring from express-session secrets, the first one sealing. Each key id is `s` plus a short
 * hash of the derived key, so reordering the secrets (rotation) keeps every id.
 */
export function keyringFromSecrets(secrets: readonly Uint8Array[]): Keyring {
  const info = new TextEncoder().encode(SECRET_KEY_INFO);
  const entries = secrets.map((secret, index) => {
    const reason = weakSecretReason(secret);
    if (reason !== undefined) {
      throw new KeyError(
        `secret #${index + 1} is too weak to seal sessions (${reason}): set LATCHKEY_KEYS ` +
          '(`npx latchkey keygen`) and keep secret only for reading express-session cookies',
      );
    }
    const key = hkdfSha256(secret, new Uint8Array(0), info, 32);
    const kid = `s${createHash('sha256').update(key).digest('base64url').slice(0, 10)}`;
    return { kid, key };
  });
  return createKeyring(entries);
}
