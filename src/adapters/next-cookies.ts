/**
 * The session's Set-Cookie lines as the cookie objects Next.js's `cookies().set()` and
 * `NextResponse.cookies.set()` take. Internal: not a package entry point.
 */
import { CookieError } from '../errors.ts';

/** One cookie for `cookies().set(cookie)`: the fields of Next's `ResponseCookie` that Latchkey uses. */
export interface NextCookie {
  name: string;
  value: string;
  path?: string;
  domain?: string;
  maxAge?: number;
  expires?: Date;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: 'lax' | 'strict' | 'none';
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
}

const SAME_SITE = new Map<string, NextCookie['sameSite']>([
  ['lax', 'lax'],
  ['strict', 'strict'],
  ['none', 'none'],
]);
const PRIORITY = new Map<string, NextCookie['priority']>([
  ['low', 'low'],
  ['medium', 'medium'],
  ['high', 'high'],
]);

/**
 * Parse a line that Latchkey's serializer made (so: validated, nothing encoded) into a cookie object.
 * Next writes the value through encodeURIComponent; our values are base64url, dots, digits and `~`,
 * which it leaves as they are, and a value it would change is refused here rather than sent altered.
 */
export function cookieFromLine(line: string): NextCookie {
  const [pair = '', ...attributes] = line.split('; ');
  const equals = pair.indexOf('=');
  if (equals <= 0) throw unexpected(line);
  const cookie: NextCookie = { name: pair.slice(0, equals), value: pair.slice(equals + 1) };
  if (encodeURIComponent(cookie.value) !== cookie.value) throw unexpected(line);
  for (const attribute of attributes) {
    const at = attribute.indexOf('=');
    const key = (at === -1 ? attribute : attribute.slice(0, at)).toLowerCase();
    const value = at === -1 ? '' : attribute.slice(at + 1);
    switch (key) {
      case 'path':
        cookie.path = value;
        break;
      case 'domain':
        cookie.domain = value;
        break;
      case 'max-age':
        cookie.maxAge = Number(value);
        break;
      case 'expires':
        cookie.expires = new Date(value);
        break;
      case 'secure':
        cookie.secure = true;
        break;
      case 'httponly':
        cookie.httpOnly = true;
        break;
      case 'partitioned':
        cookie.partitioned = true;
        break;
      case 'samesite': {
        const sameSite = SAME_SITE.get(value.toLowerCase());
        if (sameSite === undefined) throw unexpected(line);
        cookie.sameSite = sameSite;
        break;
      }
      case 'priority': {
        const priority = PRIORITY.get(value.toLowerCase());
        if (priority === undefined) throw unexpected(line);
        cookie.priority = priority;
        break;
      }
      default:
        throw unexpected(line);
    }
  }
  return cookie;
}

function unexpected(line: string): CookieError {
  const name = line.slice(0, Math.max(0, line.indexOf('='))).slice(0, 64);
  return new CookieError(`latchkey/next cannot pass the Set-Cookie line for '${name}' to Next.js`);
}
