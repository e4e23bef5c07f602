import { createRequire } from 'node:module';
import type { LegacyReader, LegacySession } from '../../core/legacy.ts';
import { ConfigError } from '../../errors.ts';
import {
  acceptOne,
  decodeValue,
  expireList,
  type LegacyCookieOptions,
  parseObject,
  userIdOf,
  without,
} from './shared.ts';

/** The parts of sodium-native this reader calls. */
interface Sodium {
  crypto_secretbox_KEYBYTES: number;
  crypto_secretbox_NONCEBYTES: number;
  crypto_secretbox_MACBYTES: number;
  crypto_pwhash_SALTBYTES: number;
  crypto_pwhash_OPSLIMIT_MODERATE: number;
  crypto_pwhash_MEMLIMIT_MODERATE: number;
  crypto_pwhash_ALG_DEFAULT: number;
  crypto_secretbox_open_easy(message: Buffer, ciphertext: Buffer, nonce: Buffer, key: Buffer): boolean;
  crypto_pwhash(out: Buffer, password: Buffer, salt: Buffer, ops: number, mem: number, alg: number): void;
}

export type FastifySecureSessionReaderOptions = LegacyCookieOptions & {
  /** The plugin's `cookieName` (or `sessionName`). Default `session`. */
  cookieName?: string | undefined;
  /** The plugin's `expiry` in seconds. Default 86401, as the plugin's. */
  expiry?: number | undefined;
} & (
    | {
        /** The plugin's `key`: 32 bytes, as a Buffer or base64 text, or a list of them (rotation). */
        key: Buffer | string | ReadonlyArray<Buffer | string>;
        secret?: undefined;
        salt?: undefined;
      }
    | {
        /** The plugin's `secret` (32+ bytes), with its `salt` (16 bytes; default the plugin's own). */
        secret: string;
        salt?: string | Buffer | undefined;
        key?: undefined;
      }
  );

/** The plugin's fixed salt when none is given (its source: "not great for security"). */
const PLUGIN_DEFAULT_SALT = 'mq9hDxBVDbspDR6nLfFT1g==';
const DEFAULT_EXPIRY_SECONDS = 86_401;

/** sodium-native, an optional peer: loaded only when this reader is made. */
function loadSodium(): Sodium {
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch (error) {
    throw new ConfigError(
      'fastifySecureSession() needs sodium-native (the library @fastify/secure-session seals with): npm install sodium-native',
      { cause: error },
    );
  }
}

/**
 * Reads @fastify/secure-session's cookies: `<ciphertext b64>;<nonce b64>`, libsodium's secretbox
 * (XSalsa20-Poly1305) with the plugin's key, or a key derived from `secret` and `salt` with
 * crypto_pwhash exactly as the plugin does. Sessions past `expiry` (from their `__ts`) are refused.
 * Needs sodium-native; with `secret`, creating the reader takes as long as the plugin's start-up (the
 * key derivation is deliberately slow).
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { fastifySecureSession } from 'latchkey/legacy';
 *
 * const sessions = createSessions({
 *   legacy: [fastifySecureSession({ key: process.env.OLD_SECURE_SESSION_KEY ?? '' })],
 *   legacyUntil: '2027-03-01',
 * });
 * ```
 */
export function fastifySecureSession(options: FastifySecureSessionReaderOptions): LegacyReader {
  const label = 'fastifySecureSession()';
  if (options === null || typeof options !== 'object')
    throw new ConfigError(`${label}: options are required`);
  const sodium = loadSodium();
  const keys = keysOf(sodium, options, label);
  const cookieName = options.cookieName ?? 'session';
  const expiry = options.expiry ?? DEFAULT_EXPIRY_SECONDS;
  if (!(typeof expiry === 'number' && expiry > 0))
    throw new ConfigError(`${label}: expiry must be seconds > 0`);
  const open = (raw: string, now: number): LegacySession | undefined => {
    // @fastify/cookie percent-encodes the value (`;` is not a cookie octet).
    const value = decodeValue(raw);
    const [cipherB64, nonceB64, ...rest] = value?.split(';') ?? [];
    if (cipherB64 === undefined || nonceB64 === undefined || rest.length > 0) return undefined;
    const cipher = Buffer.from(cipherB64, 'base64');
    const nonce = Buffer.from(nonceB64, 'base64');
    if (cipher.length < sodium.crypto_secretbox_MACBYTES) return undefined;
    if (nonce.length !== sodium.crypto_secretbox_NONCEBYTES) return undefined;
    const message = Buffer.alloc(cipher.length - sodium.crypto_secretbox_MACBYTES);
    if (!keys.some((key) => sodium.crypto_secretbox_open_easy(message, cipher, nonce, key))) return undefined;
    const stored = parseObject(message.toString('utf8'));
    const ts = stored?.__ts;
    if (stored === undefined || typeof ts !== 'number' || !Number.isFinite(ts)) return undefined;
    const expiresAt = (ts + expiry) * 1000;
    if (expiresAt <= now) return undefined;
    const data = without(stored, ['__ts']);
    return { data, userId: userIdOf(options, data), createdAt: ts * 1000, expiresAt };
  };
  return {
    name: '@fastify/secure-session',
    cookieNames: [cookieName],
    expire: expireList([cookieName], options),
    synchronous: true,
    read: (request) => acceptOne(request, cookieName, (value) => open(value, request.now)),
  };
}

function keysOf(sodium: Sodium, options: FastifySecureSessionReaderOptions, label: string): Buffer[] {
  const size = sodium.crypto_secretbox_KEYBYTES;
  if (options.key !== undefined) {
    const given = Array.isArray(options.key) ? options.key : [options.key];
    const keys = (given as Array<Buffer | string>).map((key) =>
      typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.isBuffer(key) ? key : Buffer.alloc(0),
    );
    if (keys.length === 0 || keys.some((key) => key.length !== size)) {
      throw new ConfigError(`${label}: every key must be ${size} bytes (a Buffer, or base64 text)`);
    }
    return keys;
  }
  const secret = options.secret;
  if (typeof secret !== 'string' || Buffer.byteLength(secret) < 32) {
    throw new ConfigError(`${label}: pass key, or a secret of at least 32 bytes`);
  }
  const saltOption = options.salt;
  const salt =
    saltOption === undefined
      ? Buffer.from(PLUGIN_DEFAULT_SALT, 'base64')
      : Buffer.isBuffer(saltOption)
        ? saltOption
        : Buffer.from(saltOption, 'ascii');
  if (salt.length !== sodium.crypto_pwhash_SALTBYTES) {
    throw new ConfigError(`${label}: salt must be ${sodium.crypto_pwhash_SALTBYTES} bytes`);
  }
  const key = Buffer.alloc(size);
  sodium.crypto_pwhash(
    key,
    Buffer.from(secret),
    salt,
    sodium.crypto_pwhash_OPSLIMIT_MODERATE,
    sodium.crypto_pwhash_MEMLIMIT_MODERATE,
    sodium.crypto_pwhash_ALG_DEFAULT,
  );
  return [key];
}
