import { MAX_COOKIE_LINE_BYTES } from '../cookie/chunk.ts';
import type { ResolvedCookieOptions } from '../cookie/options.ts';
import { MAX_COOKIE_AGE_SECONDS, resolveCookieOptions } from '../cookie/options.ts';
import { overLimitReason, type ParseLimits, readCookie } from '../cookie/parse.ts';
import type { SetCookieAttributes } from '../cookie/serialize.ts';
import { attributesOf, serializeCookieDeletion, serializeSetCookie } from '../cookie/serialize.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { emitWarning, environmentVariable } from '../crypto/runtime.ts';
import type { Clock } from './clock.ts';
import { applyOverrides, type CookieOverrides, isPersistent } from './cookie-overrides.ts';
import { type EventListener, type SessionEvent, safeListener } from './events.ts';
import { markSignOut } from './headers.ts';
import type { ResolvedSessionsOptions } from './options.ts';
import type { TimeoutPolicy } from './policy.ts';
import type { CookieRules, SessionImpl } from './session.ts';
import { Signals } from './signals.ts';
import { countEvent } from './telemetry.ts';

const NO_VALUES: readonly string[] = Object.freeze([]);

/** `name` is `<base>.<one character>`, the form of the chunk names `<base>.1` … `<base>.9`. */
function isChunkOf(name: string, base: string): boolean {
  return name.length === base.length + 2 && name.charCodeAt(base.length) === 0x2e && name.startsWith(base);
}
const SUFFIX_PROBE = 'x=';

/** What both modes share: cookie options and attributes, events, header reading, the HTTPS gate. */
export abstract class BaseSessions {
  readonly cookieName: string;
  readonly policy: TimeoutPolicy;
  readonly development: boolean;
  protected readonly keyring: Keyring;
  protected readonly cookie: ResolvedCookieOptions;
  protected readonly attributes: SetCookieAttributes;
  protected readonly clock: Clock;
  protected readonly trustProxy: boolean;
  /** Plain-HTTP requests from loopback to a loopback name may get Secure cookies (src/core/loopback.ts). */
  protected readonly allowLoopback: boolean;
  protected readonly parseLimits: ParseLimits;
  /** What sessions check their own cookie options against (session.cookieOptions()). */
  protected readonly cookieRules: CookieRules;
  readonly #emit: EventListener;
  /** The signal events asked for (src/core/signals.ts), or undefined. */
  protected readonly signals: Signals | undefined;
  readonly #clearSiteData: boolean;
  /** `; Path=/; Secure; …` for the session cookie's fixed attributes (not persistent: no Max-Age). */
  readonly #staticSuffix: string;
  #warnedInsecure = false;
  /**
   * @internal The legacy readers' cookie names (empty without `legacy`): adapters that pick the
   * session's own cookies out of a cookie jar (latchkey/next) pass these on too.
   */
  readonly _legacyCookieNames: readonly string[];

  constructor(resolved: ResolvedSessionsOptions) {
    this._legacyCookieNames = resolved.legacy?.cookieNames ?? [];
    this.keyring = resolved.keyring;
    this.policy = resolved.policy;
    this.development = resolved.development;
    this.cookie = resolveCookieOptions(resolved.cookie, { development: resolved.development });
    this.cookieName = this.cookie.name;
    this.attributes = attributesOf(this.cookie);
    this.#staticSuffix = serializeSetCookie('x', '', this.attributes).slice(SUFFIX_PROBE.length);
    this.cookieRules = Object.freeze({ config: this.cookie, development: resolved.development });
    this.clock = resolved.clock;
    this.trustProxy = resolved.trustProxy;
    this.allowLoopback = environmentVariable('NODE_ENV') !== 'production';
    this.#emit = safeListener(resolved.onEvent);
    this.signals = resolved.signals && new Signals(resolved.signals, (event) => this.event(event));
    this.#clearSiteData = resolved.clearSiteData;
    // Room for every chunk plus the app's other cookies.
    this.parseLimits = { maxHeaderBytes: Math.max(32_768, this.cookie.maxChunks * 4096 + 8192) };
  }

  /** Stop what runs in the background (store mode's purge schedule); nothing in cookie mode. */
  async close(): Promise<void> {}

  protected event(event: SessionEvent): void {
    countEvent(event);
    this.#emit({ ...event, at: this.clock.now() });
  }

  /**
   * A reader of one request's Cookie header: each name is scanned once, and names the header does not
   * contain cost nothing (most requests carry no chunk cookies, and commits ask about name.1 … name.9).
   */
  protected cookieReader(
    header: string | readonly string[] | undefined,
  ): (name: string) => readonly string[] {
    const joined = typeof header === 'string' ? header : header?.join('; ');
    // Nearly every request reads one name (the session cookie), so that one is kept without a Map.
    let firstName: string | undefined;
    let firstValues: readonly string[] = NO_VALUES;
    let others: Map<string, readonly string[]> | undefined;
    // Whether the header holds `<first name>.` at all: one scan answers for name.1 … name.9.
    let chunksMentioned: boolean | undefined;
    return (name) => {
      if (joined === undefined) return NO_VALUES;
      if (name === firstName) return firstValues;
      if (firstName !== undefined && isChunkOf(name, firstName)) {
        chunksMentioned ??= joined.includes(`${firstName}.`);
        if (!chunksMentioned) return NO_VALUES;
      }
      if (!joined.includes(name)) return NO_VALUES;
      let values = others?.get(name);
      if (values === undefined) {
        values = readCookie(joined, name, this.parseLimits);
        if (firstName === undefined) {
          firstName = name;
          firstValues = values;
        } else {
          others ??= new Map();
          others.set(name, values);
        }
      }
      return values;
    };
  }

  /**
   * No session cookie to try: 'none', or 'invalid' with an anomaly event when a parse limit emptied
   * the list (too many duplicates or pairs, or a header too large: checklist #17, #62).
   */
  protected overLimit(values: readonly string[]): 'none' | 'invalid' {
    const reason = overLimitReason(values);
    if (reason === undefined) return 'none';
    this.event({ type: 'invalid', reason });
    return 'invalid';
  }

  /** The length of `; Path=/; Secure; …` after `name=value`, for fitting chunks into 4096 bytes. */
  protected suffixLength(attributes: SetCookieAttributes): number {
    if (attributes === this.attributes) return this.#staticSuffix.length;
    return serializeSetCookie('x', '', attributes).length - SUFFIX_PROBE.length;
  }

  /**
   * The Set-Cookie line serializeSetCookie would make, without its checks, for a value this library
   * made (a sealed value or a token: cookie-octets only, never starting with a chunk header) that fits
   * one cookie with the fixed attributes. Undefined otherwise: take the general path.
   */
  protected ownValueLine(name: string, value: string, attributes: SetCookieAttributes): string | undefined {
    if (attributes !== this.attributes) return undefined;
    const line = `${name}=${value}${this.#staticSuffix}`;
    return line.length <= MAX_COOKIE_LINE_BYTES ? line : undefined;
  }

  /** Attributes for a cookie that should live until `endsAt`: Max-Age and Expires only if persistent. */
  protected attributesUntil(endsAt: number, now: number): SetCookieAttributes {
    if (!this.cookie.persistent) return this.attributes;
    // Max-Age and Expires from one server timestamp, never past the session's end (checklist #13).
    const seconds = Math.floor((endsAt - now) / 1000);
    const maxAge = Math.max(0, Math.min(seconds, MAX_COOKIE_AGE_SECONDS));
    return { ...this.attributes, maxAge, expires: new Date(now + maxAge * 1000) };
  }

  /**
   * The attributes for a session's cookie that should live until `endsAt`: the configured ones, with
   * the session's own cookie options (session.cookieOptions()) on top when it has any.
   */
  protected attributesFor(
    overrides: CookieOverrides | undefined,
    endsAt: number,
    now: number,
  ): SetCookieAttributes {
    if (overrides === undefined) return this.attributesUntil(endsAt, now);
    const attributes: SetCookieAttributes = applyOverrides(this.cookie, overrides);
    if (!isPersistent(this.cookie, overrides)) return attributes;
    // Max-Age and Expires from one server timestamp, never past the session's end (checklist #13).
    const seconds = Math.floor((endsAt - now) / 1000);
    const maxAge = Math.max(0, Math.min(seconds, MAX_COOKIE_AGE_SECONDS));
    attributes.maxAge = maxAge;
    attributes.expires = new Date(now + maxAge * 1000);
    return attributes;
  }

  /** True when a session with these cookie options gets a persistent cookie (Max-Age/Expires). */
  protected persistentFor(overrides: CookieOverrides | undefined): boolean {
    return isPersistent(this.cookie, overrides);
  }

  /** A sign-out's lines: marked for Clear-Site-Data when that option is on (checklist #58). */
  protected signedOut(lines: string[]): string[] {
    if (this.#clearSiteData && lines.length > 0) markSignOut(lines);
    return lines;
  }

  /** The deletion of a cookie set with the configured attributes, or with a session's own (checklist #14). */
  protected deletion(name: string, overrides?: CookieOverrides): string {
    const attributes = overrides === undefined ? this.attributes : applyOverrides(this.cookie, overrides);
    return serializeCookieDeletion(name, attributes);
  }

  /**
   * The HTTPS gate: a Secure cookie is not sent on a request known to have come over plain HTTP, where
   * the browser would drop it and the network could read it (checklist #15). Local development on
   * loopback counts as secure (src/core/loopback.ts). Returns false (and warns once) when the lines must
   * not be sent.
   */
  protected mayEmit(impl: SessionImpl<object>): boolean {
    const secure = impl._state.cookie?.secure ?? impl._sentCookie?.secure ?? this.cookie.secure;
    if (!secure || impl._secureTransport !== false) return true;
    this.event({ type: 'insecure-transport' });
    if (!this.#warnedInsecure) {
      this.#warnedInsecure = true;
      emitWarning(
        'latchkey: a session cookie was not sent because the request came over plain HTTP. Serve over ' +
          'HTTPS, set trustProxy: true behind a TLS-terminating proxy, browse http://localhost in development, ' +
          'or use development: true locally.',
        'LATCHKEY_INSECURE_TRANSPORT',
      );
    }
    return false;
  }
}
