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
import { xaesKey } from 'latchkey/crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;

export type HandwrittenData = Record<string, unknown>;

export interface HandwrittenSessions {
  /** The session in a Cookie header; `{}` when there is none, or it does not open. */
  load(cookieHeader: string | undefined): HandwrittenData;
  /** The Set-Cookie line carrying `data`, sealed with a fresh random IV. */
  setCookie(data: HandwrittenData): string;
}

/** The value of the first `name=` cookie (`prefix` is `name=`) in the header, or undefined. */
function cookieValue(header: string | undefined, prefix: string): string | undefined {
  if (header === undefined) return undefined;
  const at = header.startsWith(prefix) ? 0 : header.indexOf(`; ${prefix}`);
  if (at === -1) return undefined;
  const start = at === 0 ? prefix.length : at + 2 + prefix.length;
  const end = header.indexOf(';', start);
  return header.slice(start, end === -1 ? undefined : end);
}

/** The cookie `name` read and written with `open` and `seal`. */
function sessionsOf(
  name: string,
  open: (value: string) => HandwrittenData | undefined,
  seal: (data: HandwrittenData) => string,
): HandwrittenSessions {
  const prefix = `${name}=`;
  return {
    load(cookieHeader) {
      const value = cookieValue(cookieHeader, prefix);
      return (value === undefined ? undefined : open(value)) ?? {};
    },
    setCookie(data) {
      return `${name}=${seal(data)}; Path=/; HttpOnly; SameSite=Lax`;
    },
  };
}

/** `key`: 32 random bytes (AES-256). `name`: the cookie's name. */
export function handwrittenSessions(key: Buffer, name = 'hw'): HandwrittenSessions {
  if (key.length !== 32) throw new TypeError('the key must be 32 bytes');

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

  return sessionsOf(name, open, seal);
}

/**
 * The same hand-written cookie with only what Latchkey's design and security checklist make mandatory
 * and cheap to add, for bench/http.ts to show what those musts cost on their own. Still NOT SAFE FOR
 * PRODUCTION: it keeps every other omission listed above (no strict cookie parsing, no JSON hardening,
 * no size check, no change detection, no rotation beyond one key id).
 *
 * What it adds, each as Latchkey does it:
 * - XAES-256-GCM (DESIGN §2) with a 24-byte random nonce, through Latchkey's public primitive
 *   (`xaesKey` from latchkey/crypto), so this reference costs what that cipher costs;
 * - the ciphertext bound to the cookie's name by associated data;
 * - a versioned value with a key id (`v1.k1.…`), so keys can rotate;
 * - idle and absolute timeouts: both clocks sealed in the payload, checked on every load;
 * - `Cache-Control: no-store` and `Vary: Cookie` with every Set-Cookie (checklist #57): see
 *   {@link MUST_HEADERS}.
 */
export function handwrittenMustsSessions(
  key: Buffer,
  name = 'hm',
  idleMs = 30 * 60_000,
  absoluteMs = 12 * 3_600_000,
): HandwrittenSessions {
  if (key.length !== 32) throw new TypeError('the key must be 32 bytes');
  const version = 'v1.k1.';
  const aad = Buffer.from(`latchkey-bench|cookie|${name}`);
  // Latchkey's public XAES-256-GCM primitive (latchkey/crypto): the cipher is the one part not written here.
  const xaes = xaesKey(key);

  interface Sealed {
    c: number;
    a: number;
    d: HandwrittenData;
  }
  const created = new WeakMap<HandwrittenData, number>();

  const open = (value: string): HandwrittenData | undefined => {
    if (!value.startsWith(version)) return undefined;
    const bytes = Buffer.from(value.slice(version.length), 'base64url');
    if (bytes.length < 24 + TAG_BYTES) return undefined;
    try {
      const plaintext = xaes.open(bytes.subarray(0, 24), bytes.subarray(24), aad);
      const sealed = JSON.parse(Buffer.from(plaintext).toString('utf8')) as Sealed;
      const now = Date.now();
      if (now - sealed.a > idleMs || now - sealed.c > absoluteMs) return undefined;
      created.set(sealed.d, sealed.c);
      return sealed.d;
    } catch {
      return undefined; // tampered, wrong key, not JSON: a new, empty session
    }
  };

  const seal = (data: HandwrittenData): string => {
    const now = Date.now();
    const nonce = randomBytes(24);
    const body = xaes.seal(nonce, JSON.stringify({ c: created.get(data) ?? now, a: now, d: data }), aad);
    return version + Buffer.concat([nonce, body]).toString('base64url');
  };

  return sessionsOf(name, open, seal);
}

/** The headers {@link handwrittenMustsSessions} sends with every Set-Cookie (checklist #57). */
export const MUST_HEADERS = { 'cache-control': 'no-store', vary: 'Cookie' } as const;
