import { createDecipheriv, createHmac, pbkdf2Sync } from 'node:crypto';
import type { LegacyReader, LegacyRequest, LegacySession } from '../../core/legacy.ts';
import { ConfigError } from '../../errors.ts';
import { expireList, type LegacyCookieOptions, parseObject, safeEqual, userIdOf } from './shared.ts';

export interface IronSessionReaderOptions extends LegacyCookieOptions {
  /** iron-session's `password`: one password, or the map of password ids to passwords (rotation). */
  password: string | Readonly<Record<string, string>>;
  /** iron-session's `cookieName`. */
  cookieName: string;
  /** iron-session's `ttl` in seconds (default 14 days): tells when the old session began. */
  ttl?: number | undefined;
}

// iron's format (https://github.com/hapijs/iron, as iron-webcrypto seals it):
// Fe26.2*<password id>*<encryption salt>*<iv b64url>*<ciphertext b64url>*<expiration ms>*<hmac salt>*<hmac b64url>
const PREFIX = 'Fe26.2';
/** iron-session reads `name` whole, else `name.0`, `name.1`, … up to four chunks. */
const MAX_CHUNKS = 4;
/** iron's allowance for a server whose clock lags: a seal counts as live 60 s past its expiration. */
const SKEW_MS = 60_000;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** iron's key derivation: PBKDF2-SHA1, one iteration, the salt as text (iron-webcrypto's defaults). */
function ironKey(password: string, salt: string): Buffer {
  return pbkdf2Sync(password, salt, 1, 32, 'sha1');
}

/**
 * Open one iron seal: the HMAC-SHA256 over everything before it checked in constant time first,
 * then AES-256-CBC. Undefined for anything malformed, expired, tampered or sealed with an unknown id.
 */
function unseal(sealed: string, passwords: ReadonlyMap<string, string>, now: number) {
  // iron-session appends `~<major version>` outside the seal.
  const cut = sealed.indexOf('~');
  const parts = (cut === -1 ? sealed : sealed.slice(0, cut)).split('*');
  if (parts.length !== 8) return undefined;
  const [
    prefix,
    id = '',
    encryptionSalt = '',
    iv = '',
    ciphertext = '',
    expiration = '',
    hmacSalt = '',
    mac = '',
  ] = parts;
  if (prefix !== PREFIX) return undefined;
  if (![iv, ciphertext, mac].every((part) => BASE64URL.test(part))) return undefined;
  let expiresAt: number | undefined;
  if (expiration !== '') {
    if (!/^[1-9]\d{0,15}$/.test(expiration)) return undefined;
    expiresAt = Number(expiration);
    if (expiresAt <= now - SKEW_MS) return undefined;
  }
  const password = passwords.get(id === '' ? 'default' : id) ?? passwords.get('');
  if (password === undefined) return undefined;
  const macBase = parts.slice(0, 6).join('*');
  const expected = createHmac('sha256', ironKey(password, hmacSalt)).update(macBase).digest('base64url');
  if (!safeEqual(mac, expected)) return undefined;
  let text: string;
  try {
    const decipher = createDecipheriv(
      'aes-256-cbc',
      ironKey(password, encryptionSalt),
      Buffer.from(iv, 'base64url'),
    );
    text = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return undefined;
  }
  const data = parseObject(text);
  return data === undefined ? undefined : { data, expiresAt };
}

/**
 * Reads iron-session's cookies (v8 and v9: the same `Fe26.2*…` seal, whole or in chunks), with the
 * password or the password map. Expired seals are refused, as iron-session refuses them.
 *
 * @example
 * ```ts
 * import { createSessions } from 'latchkey';
 * import { ironSession } from 'latchkey/legacy';
 *
 * const sessions = createSessions({
 *   legacy: [ironSession({ cookieName: 'myapp_session', password: { 2: 'a newer 32+ character password.', 1: 'the first password, 32+ characters' } })],
 *   legacyUntil: '2027-03-01',
 * });
 * ```
 */
export function ironSession(options: IronSessionReaderOptions): LegacyReader {
  const label = 'ironSession()';
  const cookieName = options?.cookieName;
  if (typeof cookieName !== 'string' || cookieName === '')
    throw new ConfigError(`${label}: cookieName is required`);
  const given = options.password;
  // A lone password opens seals of any id, as iron-session's { 1: password } does for the id it seals with.
  const entries: Array<[string, unknown]> =
    typeof given === 'string'
      ? [['', given]]
      : given !== null && typeof given === 'object'
        ? Object.entries(given)
        : [];
  if (
    entries.length === 0 ||
    !entries.every(([, password]) => typeof password === 'string' && password.length >= 32)
  ) {
    throw new ConfigError(
      `${label}: password must be a string of 32+ characters, or a map of ids to such strings`,
    );
  }
  const passwords = new Map(entries as Array<[string, string]>);
  const ttl = options.ttl ?? 14 * 86_400;
  if (!(typeof ttl === 'number' && ttl >= 0 && Number.isFinite(ttl))) {
    throw new ConfigError(`${label}: ttl must be a number of seconds (0: no expiry)`);
  }
  const chunkNames = Array.from({ length: MAX_CHUNKS }, (_, index) => `${cookieName}.${index}`);
  const sealOf = (request: LegacyRequest): string[] => {
    const whole = request.cookies(cookieName);
    if (whole.length > 0) return [...new Set(whole)];
    // Chunks: each name once (several values would make the join ambiguous), until the first gap.
    let joined = '';
    for (const name of chunkNames) {
      const values = request.cookies(name);
      if (values.length === 0) break;
      if (values.length > 1) return [];
      joined += values[0];
    }
    return joined === '' ? [] : [joined];
  };
  return {
    name: 'iron-session',
    cookieNames: [cookieName, chunkNames[0]!],
    expire: expireList([cookieName, ...chunkNames], options),
    synchronous: true,
    read(request): LegacySession | undefined {
      let found: LegacySession | undefined;
      for (const sealed of sealOf(request)) {
        const opened = unseal(sealed, passwords, request.now);
        if (opened === undefined) continue;
        if (found !== undefined) return undefined; // two valid seals: ambiguous (checklist #17)
        const { data, expiresAt } = opened;
        found = {
          data,
          userId: userIdOf(options, data),
          expiresAt,
          createdAt: expiresAt !== undefined && ttl > 0 ? expiresAt - ttl * 1000 : undefined,
        };
      }
      return found;
    },
  };
}
