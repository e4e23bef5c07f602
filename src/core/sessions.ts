import { assembleCandidates, presentChunkNames, splitIntoCookies } from '../cookie/chunk.ts';
import type { ResolvedCookieOptions } from '../cookie/options.ts';
import { type CookieOptions, MAX_COOKIE_AGE_SECONDS, resolveCookieOptions } from '../cookie/options.ts';
import { type ParseLimits, readCookie } from '../cookie/parse.ts';
import type { SetCookieAttributes } from '../cookie/serialize.ts';
import { attributesOf, serializeCookieDeletion, serializeSetCookie } from '../cookie/serialize.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { SessionTooLarge } from '../errors.ts';
import type { Clock } from './clock.ts';
import { type EventListener, type SessionEvent, safeListener } from './events.ts';
import { resolveSessionsOptions, type SessionsOptions } from './options.ts';
import { checkClocks, decodePayload, encodePayload, expiresAt, type SessionState } from './payload.ts';
import type { TimeoutPolicy } from './policy.ts';
import { type RequestLike, requestFacts } from './request.ts';
import { asImpl, type Session, type SessionData, SessionImpl } from './session.ts';

/**
 * What a commit produces: the Set-Cookie lines, and (in modes that keep data on a server) the writes
 * to await before the response ends. Cookie mode has none, so adapters can end responses synchronously.
 */
export interface PreparedCommit {
  readonly setCookie: string[];
  persist?: (() => Promise<void>) | undefined;
}

/** What `inspect()` finds in a cookie value: for the CLI and for debugging, never for authorization. */
export type Inspection =
  | { status: 'invalid'; reason: 'malformed' | 'tampered' | 'unknown-key' | 'payload' | 'ambiguous' }
  | {
      status: 'valid' | 'expired';
      verdict: 'live' | 'idle' | 'absolute' | 'future';
      kid: string;
      stale: boolean;
      state: SessionState;
      expiresAt: number;
    };

export interface Sessions<T extends SessionData = Record<string, unknown>> {
  readonly mode: 'cookie';
  /** The session cookie's name (chunks are `name.1`, `name.2`, …). */
  readonly cookieName: string;
  readonly policy: TimeoutPolicy;
  readonly development: boolean;
  /** Read the session from a request. Never throws for a bad, expired or tampered cookie. */
  load(request: RequestLike, options?: { secure?: boolean }): Promise<Session<T>>;
  /** The Set-Cookie header lines to send (empty when nothing changed). Adapters call this for you. */
  commit(session: Session<T>): Promise<string[]>;
  /** The synchronous part of commit, for adapters that must set headers synchronously. */
  prepareCommit(session: Session<T>): PreparedCommit;
  /** Open a cookie value (or a Cookie header holding its chunks) and report what is inside. */
  inspect(value: string): Inspection;
}

const NO_WRITES: PreparedCommit = Object.freeze({ setCookie: [] });
const SUFFIX_PROBE = 'x=';
const NO_VALUES: readonly string[] = Object.freeze([]);

class CookieSessions<T extends SessionData> implements Sessions<T> {
  readonly mode = 'cookie' as const;
  readonly cookieName: string;
  readonly policy: TimeoutPolicy;
  readonly development: boolean;
  readonly #keyring: Keyring;
  readonly #cookie: ResolvedCookieOptions;
  readonly #attributes: SetCookieAttributes;
  readonly #attributeSuffix: number;
  readonly #clock: Clock;
  readonly #trustProxy: boolean;
  readonly #emit: EventListener;
  readonly #maxSealedLength: number;
  readonly #parseLimits: ParseLimits;
  #warnedInsecure = false;

  constructor(options: SessionsOptions) {
    const resolved = resolveSessionsOptions(options);
    this.#keyring = resolved.keyring;
    this.policy = resolved.policy;
    this.development = resolved.development;
    this.#cookie = resolveCookieOptions(resolved.cookie, { development: resolved.development });
    this.cookieName = this.#cookie.name;
    this.#attributes = attributesOf(this.#cookie);
    this.#attributeSuffix = serializeSetCookie('x', '', this.#attributes).length - SUFFIX_PROBE.length;
    this.#clock = resolved.clock;
    this.#trustProxy = resolved.trustProxy;
    this.#emit = safeListener(resolved.onEvent);
    this.#maxSealedLength = this.#cookie.maxChunks * 4096;
    // Room for every chunk plus the app's other cookies.
    this.#parseLimits = { maxHeaderBytes: Math.max(32_768, this.#cookie.maxChunks * 4096 + 8192) };
  }

  #event(event: SessionEvent): void {
    this.#emit({ ...event, at: this.#clock.now() });
  }

  async load(request: RequestLike, options?: { secure?: boolean }): Promise<Session<T>> {
    return this.loadSync(request, options);
  }

  loadSync(request: RequestLike, options?: { secure?: boolean }): Session<T> {
    const facts = requestFacts(request, this.#trustProxy);
    const header = facts.cookieHeader;
    // The header is scanned once per name asked about, and not at all for names it does not contain
    // (most requests carry no chunk cookies, and commit asks about name.1 … name.9).
    const joined = typeof header === 'string' ? header : header?.join('; ');
    const seen = new Map<string, readonly string[]>();
    const readValues = (name: string): readonly string[] => {
      if (joined === undefined || !joined.includes(name)) return NO_VALUES;
      let values = seen.get(name);
      if (values === undefined) {
        values = readCookie(joined, name, this.#parseLimits);
        seen.set(name, values);
      }
      return values;
    };
    const base = {
      readCookie: readValues,
      secureTransport: options?.secure ?? facts.secure,
      idleTimeout: this.policy.idleTimeout,
      absoluteTimeout: this.policy.absoluteTimeout,
      now: () => this.#clock.now(),
    };
    const fresh = (origin: 'none' | 'expired' | 'invalid') =>
      new SessionImpl<T>({ ...base, state: undefined, origin, forceWrite: false });

    if (header === undefined || header.length === 0) return fresh('none');
    const candidates = assembleCandidates(this.cookieName, readValues, this.#cookie.maxChunks);
    if (candidates.length === 0) return fresh('none');

    const opened = this.#openOne(candidates);
    if (opened.status === 'invalid') {
      this.#event({ type: 'invalid', reason: opened.reason });
      return fresh('invalid');
    }
    if (opened.status === 'expired') {
      if (opened.verdict === 'future') {
        this.#event({ type: 'invalid', reason: 'future' });
        return fresh('invalid');
      }
      this.#event({ type: 'expired', reason: opened.verdict === 'idle' ? 'idle' : 'absolute' });
      return fresh('expired');
    }
    if (opened.stale) {
      // Reseal with the current key on this response (DESIGN.md §2, checklist #42).
      this.#event({ type: 'rotated', fromKid: opened.kid, toKid: this.#keyring.current.kid });
    }
    return new SessionImpl<T>({ ...base, state: opened.state, origin: 'loaded', forceWrite: opened.stale });
  }

  /** Try every candidate; accept only when exactly one distinct value opens (checklist #17). */
  #openOne(candidates: readonly string[]): Inspection {
    let found: Inspection | undefined;
    let firstFailure: Inspection | undefined;
    for (const candidate of new Set(candidates)) {
      const result = this.#inspectSealed(candidate);
      if (result.status === 'invalid') {
        firstFailure ??= result;
        continue;
      }
      if (found) return { status: 'invalid', reason: 'ambiguous' };
      found = result;
    }
    return found ?? firstFailure ?? { status: 'invalid', reason: 'malformed' };
  }

  #inspectSealed(sealed: string): Inspection {
    const result = openValue(this.#keyring, 'cookie', this.cookieName, sealed, this.#maxSealedLength);
    if (!result.ok) return { status: 'invalid', reason: result.reason };
    const state = decodePayload(result.plaintext);
    if (!state) return { status: 'invalid', reason: 'payload' };
    const verdict = checkClocks(state, this.policy, this.#clock.now());
    return {
      status: verdict === 'live' ? 'valid' : 'expired',
      verdict,
      kid: result.kid,
      stale: result.stale,
      state,
      expiresAt: expiresAt(state, this.policy),
    };
  }

  inspect(value: string): Inspection {
    if (typeof value !== 'string') return { status: 'invalid', reason: 'malformed' };
    const trimmed = value.trim();
    if (!trimmed.includes('=')) return this.#inspectSealed(trimmed);
    const candidates = assembleCandidates(
      this.cookieName,
      (name) => readCookie(trimmed, name, this.#parseLimits),
      this.#cookie.maxChunks,
    );
    return this.#openOne(candidates);
  }

  async commit(session: Session<T>): Promise<string[]> {
    const prepared = this.prepareCommit(session);
    await prepared.persist?.();
    return prepared.setCookie;
  }

  prepareCommit(session: Session<T>): PreparedCommit {
    const impl = asImpl(session);
    const now = this.#clock.now();
    if (impl._isEmpty()) {
      // Nothing to keep. Clear the cookie after a logout, an expired session, or a session emptied on
      // this request; a junk cookie is left alone (no writes for anonymous requests, checklist #35).
      const clear =
        impl._destroyed || impl._origin === 'expired' || (impl._origin === 'loaded' && impl._changed());
      if (impl._destroyed) this.#event({ type: 'destroyed' });
      return this.#writes(clear ? this.#deletions(impl, []) : [], impl, false);
    }
    const touchDue = impl._origin === 'loaded' && now - impl._state.lastActiveAt >= this.policy.touchAfter;
    if (!impl._forceWrite && !impl._destroyed && !touchDue && !impl._changed()) return NO_WRITES;

    if (impl.isNew) this.#event({ type: 'created' });
    if (impl._regenerated) this.#event({ type: 'regenerated' });
    // Never move a clock backwards: a server whose clock lags (within the skew allowance) or steps
    // back must not seal lastActive < createdAt, which would never open again.
    impl._state.lastActiveAt = Math.max(now, impl._state.lastActiveAt, impl._state.createdAt);
    const sealed = sealValue(this.#keyring, 'cookie', this.cookieName, encodePayload(impl._state));
    const attributes = this.#attributesAt(impl._state, now);
    const suffix = this.#cookie.persistent
      ? serializeSetCookie('x', '', attributes).length - SUFFIX_PROBE.length
      : this.#attributeSuffix;
    let parts: Array<{ name: string; value: string }>;
    try {
      parts = splitIntoCookies(this.cookieName, sealed, suffix, this.#cookie.maxChunks);
    } catch (err) {
      if (err instanceof SessionTooLarge) {
        const limit = this.#cookie.maxChunks * (4096 - suffix - this.cookieName.length - 3);
        this.#event({ type: 'too-large', bytes: sealed.length, limit });
      }
      throw err;
    }
    const lines = parts.map((part) => serializeSetCookie(part.name, part.value, attributes));
    const written = parts.map((part) => part.name);
    return this.#writes([...lines, ...this.#deletions(impl, written, true)], impl, true);
  }

  /** Deletions for the base cookie and every chunk the request carried, except those just written. */
  #deletions(impl: SessionImpl<T>, written: readonly string[], chunksOnly = false): string[] {
    const names = chunksOnly ? [] : [this.cookieName];
    names.push(...presentChunkNames(this.cookieName, impl._readCookie, this.#cookie.maxChunks));
    return names
      .filter((name) => !written.includes(name))
      .map((name) => serializeCookieDeletion(name, this.#attributes));
  }

  #attributesAt(state: SessionState, now: number): SetCookieAttributes {
    if (!this.#cookie.persistent) return this.#attributes;
    // Max-Age and Expires from one server timestamp, never past the session's end (checklist #13).
    const seconds = Math.floor((expiresAt(state, this.policy) - now) / 1000);
    const maxAge = Math.max(0, Math.min(seconds, MAX_COOKIE_AGE_SECONDS));
    return { ...this.#attributes, maxAge, expires: new Date(now + maxAge * 1000) };
  }

  #writes(setCookie: string[], impl: SessionImpl<T>, wroteCookie: boolean): PreparedCommit {
    if (setCookie.length === 0) return NO_WRITES;
    if (this.#cookie.secure && impl._secureTransport === false) {
      // A Secure cookie over plain HTTP would not be stored by the browser, and sending session
      // state over it is what Secure exists to prevent (checklist #15).
      this.#event({ type: 'insecure-transport' });
      if (!this.#warnedInsecure) {
        this.#warnedInsecure = true;
        process.emitWarning(
          'latchkey: a session cookie was not sent because the request came over plain HTTP. Serve over ' +
            'HTTPS, set trustProxy: true behind a TLS-terminating proxy, or use development: true locally.',
          { code: 'LATCHKEY_INSECURE_TRANSPORT' },
        );
      }
      return NO_WRITES;
    }
    impl._committed(wroteCookie);
    return { setCookie };
  }
}

/**
 * Create the session manager for your app: once, at start-up. Throws a coded LatchkeyError for any
 * unsafe or contradictory configuration.
 *
 * @example
 * ```ts
 * const sessions = createSessions<{ userName: string; visits: number }>({
 *   keys: process.env.LATCHKEY_KEYS, // 'k1:<base64url>', from `npx latchkey keygen`
 * });
 * ```
 */
export function createSessions<T extends SessionData = Record<string, unknown>>(
  options: SessionsOptions = {},
): Sessions<T> {
  return new CookieSessions<T>(options);
}

export type { CookieOptions, SessionsOptions };
