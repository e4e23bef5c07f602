/**
 * A minimal hand-written AES-256-GCM cookie session: the practical speed limit of an encrypted cookie
 * session on node:http, for bench/http.ts to measure Latchkey against.
 *
 * NOT SAFE FOR PRODUCTION. It exists to be fast, not correct. Among what it leaves out on purpose:
 * - no key rotation (one key, no key id), and no limit on how much one key seals;
 * - no expiry: no idle or absolute timeout, so a stolen cookie works forever, and a replayed old cookie
 *   is as good as the newest one;
 * - no binding of the ciphertext to the cookie's name or purpose (no associated data);
 * - no size check: a session over ~4 KB makes a cookie browsers drop without a word;
 * - a bare-bones Cookie header parser (first `hw=` wins; no quoting, no duplicate-name handling);
 * - no Secure attribute, no `__Host-` prefix, no Cache-Control or Vary for cached responses;
 * - no session fixation or sign-in handling, no CSRF handling, nothing logged.
 * Use a maintained library (such as Latchkey) instead.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export type HandwrittenData = Record<string, unknown>;

export interface HandwrittenSessions {
  /** The session in a Cookie header; `{}` when there is none, or it does not open. */
  load(cookieHeader: string | undefined): HandwrittenData;
  /** The Set-Cookie line carrying `data`, sealed with a fresh random IV. */
  setCookie(data: HandwrittenData): string;
}

/** `key`: 32 random bytes (AES-256). `name`: the cookie's name. */
export function handwrittenSessions(key: Buffer, name = 'hw'): HandwrittenSessions {
  if (key.length !== 32) throw new TypeError('the key must be 32 bytes');
  const prefix = `${name}=`;

  /** The value of the first `name=` cookie in the header, or undefined. */
  const cookieValue = (header: string | undefined): string | undefined => {
    if (header === undefined) return undefined;
    const at = header.startsWith(prefix) ? 0 : header.indexOf(`; ${prefix}`);
    if (at === -1) return undefined;
    const start = at === 0 ? prefix.length : at + 2 + prefix.length;
    const end = header.indexOf(';', start);
    return header.slice(start, end === -1 ? undefined : end);
  };

  const seal = (data: HandwrittenData): string => {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = cipher.update(JSON.stringify(data), 'utf8');
    const last = cipher.final();
    return Buffer.concat([iv, body, last, cipher.getAuthTag()]).toString('base64url');
  };

  const open = (value: string): HandwrittenData | undefined => {
    const bytes = Buffer.from(value, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const text =
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES), undefined, 'utf8') +
        decipher.final('utf8');
      const data: unknown = JSON.parse(text);
      return data !== null && typeof data === 'object' && !Array.isArray(data)
        ? (data as HandwrittenData)
        : undefined;
    } catch {
      return undefined; // tampered, wrong key or not JSON: a new, empty session
    }
  };

  return {
    load(cookieHeader) {
      const value = cookieValue(cookieHeader);
      return (value === undefined ? undefined : open(value)) ?? {};
    },
    setCookie(data) {
      return `${name}=${seal(data)}; Path=/; HttpOnly; SameSite=Lax`;
    },
  };
}
