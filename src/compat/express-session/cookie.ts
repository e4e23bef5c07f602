/**
 * express-session's `Cookie`: the mutable `req.session.cookie`. Its fields are plain, enumerable
 * properties as in express-session; `maxAge` and `expires` are accessors over `_expires` and
 * `originalMaxAge`. latchkey/express reads back what the app changed at commit and keeps it with the
 * session (`session.cookieOptions()`), so `req.session.cookie.maxAge = 30 * 864e5` ("remember me")
 * lasts for that session.
 */
import { serializeSetCookie } from '../../cookie/serialize.ts';

/** express-session's cookie options, as `new Cookie(options)` and `req.session.cookie` take them. */
export interface CookieFields {
  maxAge?: number | null | undefined;
  expires?: Date | null | undefined;
  originalMaxAge?: number | null | undefined;
  httpOnly?: boolean | undefined;
  secure?: boolean | 'auto' | undefined;
  sameSite?: boolean | 'lax' | 'strict' | 'none' | 'auto' | undefined;
  path?: string | undefined;
  domain?: string | undefined;
  partitioned?: boolean | undefined;
  priority?: 'low' | 'medium' | 'high' | undefined;
}

/**
 * @example
 * ```ts
 * import { Cookie } from 'latchkey/express';
 * const cookie = new Cookie({ maxAge: 60_000 });
 * cookie.maxAge; // 60000 (counting down)
 * ```
 */
export class Cookie {
  path = '/';
  _expires: Date | null = null;
  originalMaxAge: number | null = null;
  httpOnly = true;
  declare secure?: boolean | undefined;
  declare domain?: string | undefined;
  declare sameSite?: boolean | 'lax' | 'strict' | 'none' | undefined;
  declare partitioned?: boolean | undefined;
  declare priority?: 'low' | 'medium' | 'high' | undefined;

  constructor(options?: CookieFields | null) {
    if (options === undefined || options === null) return;
    if (typeof options !== 'object') throw new TypeError('argument options must be a object');
    for (const key of Object.keys(options) as Array<keyof CookieFields>) {
      if (key === 'maxAge' || key === 'expires') continue;
      const value = options[key];
      if (value !== undefined) (this as Record<string, unknown>)[key] = value;
    }
    if (options.expires !== undefined) this.expires = options.expires;
    if (options.maxAge !== undefined) this.maxAge = options.maxAge;
    if (options.originalMaxAge !== undefined) this.originalMaxAge = options.originalMaxAge;
  }

  /** When the cookie expires; setting it also sets `originalMaxAge` to the time left. */
  get expires(): Date | null {
    return this._expires;
  }
  set expires(date: Date | null) {
    this._expires = date;
    this.originalMaxAge = this.maxAge;
  }

  /** Milliseconds left, or null for a browser-session cookie. Setting it restarts the countdown. */
  get maxAge(): number | null {
    return this._expires instanceof Date ? this._expires.valueOf() - Date.now() : this._expires;
  }
  set maxAge(ms: number | Date | null) {
    if (ms !== null && typeof ms !== 'number' && !(ms instanceof Date)) {
      throw new TypeError('maxAge must be a number or Date');
    }
    if (ms instanceof Date) {
      process.emitWarning('maxAge as Date; pass number of milliseconds instead', 'DeprecationWarning');
    }
    this.expires = typeof ms === 'number' ? new Date(Date.now() + ms) : ms;
    // The expires setter measured the time left a moment later (a millisecond may have passed): the
    // original is the number given.
    if (typeof ms === 'number') this.originalMaxAge = ms;
  }

  /** The options the cookie is written with. */
  get data(): CookieFields {
    return {
      originalMaxAge: this.originalMaxAge,
      partitioned: this.partitioned,
      priority: this.priority,
      expires: this._expires,
      secure: this.secure,
      httpOnly: this.httpOnly,
      domain: this.domain,
      path: this.path,
      sameSite: this.sameSite,
    };
  }

  /** Restart the countdown from `originalMaxAge` (express-session's `touch()`). */
  resetMaxAge(): void {
    this.maxAge = this.originalMaxAge;
  }

  toJSON(): CookieFields {
    return this.data;
  }

  /**
   * A Set-Cookie value for `name=value` with this cookie's attributes (express-session's
   * `cookie.serialize`, for an app's own cookies; the session cookie is written by Latchkey).
   */
  serialize(name: string, value: string): string {
    // express-session encodes the value the same way (the `cookie` package's default encoder).
    return serializeSetCookie(name, encodeURIComponent(value), {
      path: this.path,
      ...(this._expires instanceof Date ? { expires: this._expires } : {}),
      httpOnly: this.httpOnly,
      secure: this.secure === true,
      ...(typeof this.domain === 'string' ? { domain: this.domain } : {}),
      ...(this.sameSite === true ? { sameSite: 'strict' as const } : {}),
      ...(typeof this.sameSite === 'string' ? { sameSite: this.sameSite } : {}),
      partitioned: this.partitioned === true,
      ...(this.priority !== undefined ? { priority: this.priority } : {}),
    });
  }
}
