import { assembleCandidates, presentChunkNames, splitIntoCookies } from '../cookie/chunk.ts';
import { serializeSetCookie } from '../cookie/serialize.ts';
import { newToken } from '../crypto/random.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { ConfigError, SessionStateError, SessionTooLarge } from '../errors.ts';
import { isUserId } from '../stores/types.ts';
import { BaseSessions } from './base.ts';
import type { ResolvedSessionsOptions } from './options.ts';
import { checkClocks, decodePayload, encodePayload, expiresAt } from './payload.ts';
import { type LoadOptions, type RequestLike, requestFacts, secureTransportOf } from './request.ts';
import { Revocations } from './revocation.ts';
import {
  asImpl,
  type Session,
  type SessionData,
  SessionImpl,
  type SessionLifecycle,
  type SessionOrigin,
} from './session.ts';
import type { DeviceSession, Inspection, Sessions } from './sessions.ts';

const NO_NAMES: readonly string[] = Object.freeze([]);

/** What a request's cookie turned out to hold: a live (or expired) session, or why there is none. */
type Found = Exclude<SessionOrigin, 'loaded'> | Extract<Inspection, { status: 'valid' | 'expired' }>;

/** Cookie mode: the whole session, sealed, in the cookie (chunked when large). DESIGN.md §1. */
export class CookieSessions<T extends SessionData> extends BaseSessions implements Sessions<T> {
  readonly mode = 'cookie' as const;
  readonly #maxSealedLength: number;
  readonly #revocations: Revocations | undefined;
  readonly #lifecycle: SessionLifecycle | undefined;

  constructor(resolved: ResolvedSessionsOptions) {
    super(resolved);
    this.#maxSealedLength = this.cookie.maxChunks * 4096;
    if (resolved.revocation) {
      const revocations = new Revocations({
        store: resolved.revocation,
        keyring: this.keyring,
        policy: this.policy,
        clock: this.clock,
        maxRetries: resolved.maxConflictRetries,
      });
      this.#revocations = revocations;
      // A sign-out, or a new sign-in over an old one, ends the session that was sent to the browser at
      // once, not at commit: captured copies of its cookie are refused from now on. True when the
      // session had been revoked already, while this request was under way.
      const endSession = async (session: SessionImpl<object>): Promise<boolean> => {
        const state = session._state;
        if (session._origin !== 'loaded' || state.userId === undefined) return false;
        return revocations.revokeSession(state as typeof state & { userId: string });
      };
      this.#lifecycle = {
        regenerate: async (session) => {
          if (await endSession(session)) {
            // Signed out (or everywhere) since this request loaded it: the new value carries nothing
            // of it, or a stolen cookie's request could outlive the sign-out by regenerating.
            session._endedElsewhere();
          }
          const state = session._state;
          state.sessionId = newToken();
          if (state.userId === undefined) return;
          const after = revocations.authTimeFor(state.userId, state.authTime ?? state.createdAt);
          if (after !== undefined) state.authTime = after;
        },
        destroy: async (session) => {
          await endSession(session);
        },
        signedIn: (session) => {
          const state = session._state;
          state.authTime = revocations.authTimeFor(state.userId!, state.createdAt);
        },
      };
    }
  }

  /**
   * @internal True when load() needs no I/O (no `revocation` store), so the adapters may call
   * loadNow() and commitNow() and save a promise and a microtask per request.
   */
  get synchronous(): boolean {
    return this.#revocations === undefined;
  }

  async load(request: RequestLike, options?: LoadOptions): Promise<Session<T>> {
    const session = this.loadNow(request, options) as SessionImpl<T>;
    const revocations = this.#revocations;
    if (!revocations || session._origin !== 'loaded' || session._state.userId === undefined) return session;
    if (await revocations.isRevoked(session._state)) {
      this.event({ type: 'revoked' });
      return this.#session('expired', session._readCookie, session._secureTransport);
    }
    return session;
  }

  /**
   * @internal `load()` without the promise, for the adapters when `synchronous`: it skips the
   * revocation check. Never throws for a bad cookie.
   */
  loadNow(request: RequestLike, options?: LoadOptions): Session<T> {
    const facts = requestFacts(request, this.trustProxy, this.allowLoopback, options?.peerAddress);
    const readCookie = this.cookieReader(facts.cookieHeader);
    const found = this.#find(facts.cookieHeader, readCookie);
    return this.#session(found, readCookie, secureTransportOf(facts, options));
  }

  #session(
    found: Found,
    readCookie: (name: string) => readonly string[],
    secureTransport: boolean | undefined,
  ): SessionImpl<T> {
    const loaded = typeof found !== 'string';
    return new SessionImpl<T>({
      state: loaded ? found.state : undefined,
      origin: loaded ? 'loaded' : found,
      forceWrite: loaded && found.stale,
      readCookie,
      secureTransport,
      policy: this.policy,
      clock: this.clock,
      lifecycle: this.#lifecycle,
    });
  }

  /** The live session the request carries, or why there is none (with its event). */
  #find(
    cookieHeader: string | readonly string[] | undefined,
    readCookie: (name: string) => readonly string[],
  ): Found {
    if (cookieHeader === undefined || cookieHeader.length === 0) return 'none';
    const candidates = assembleCandidates(this.cookieName, readCookie, this.cookie.maxChunks);
    if (candidates.length === 0) return this.overLimit(candidates);

    const opened = this.#openOne(candidates);
    if (opened.status === 'invalid') {
      this.event({ type: 'invalid', reason: opened.reason });
      return 'invalid';
    }
    if (opened.status === 'expired') {
      if (opened.verdict === 'future') {
        this.event({ type: 'invalid', reason: 'future' });
        return 'invalid';
      }
      this.event({ type: 'expired', reason: opened.verdict === 'idle' ? 'idle' : 'absolute' });
      return 'expired';
    }
    if (opened.stale) {
      // Reseal with the current key on this response (DESIGN.md §2, checklist #42).
      this.event({ type: 'rotated', fromKid: opened.kid, toKid: this.keyring.current.kid });
    }
    return opened;
  }

  /**
   * Try every candidate; accept only when exactly one distinct value opens (checklist #17). The
   * candidates come from assembleCandidates, which lists each value once.
   */
  #openOne(candidates: readonly string[]): Inspection {
    let found: Inspection | undefined;
    let firstFailure: Inspection | undefined;
    for (const candidate of candidates) {
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
    const result = openValue(this.keyring, 'cookie', this.cookieName, sealed, this.#maxSealedLength);
    if (!result.ok) return { status: 'invalid', reason: result.reason };
    const state = decodePayload(result.plaintext);
    if (!state) return { status: 'invalid', reason: 'payload' };
    const verdict = checkClocks(state, this.policy, this.clock.now());
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
    return this.#openOne(
      assembleCandidates(this.cookieName, this.cookieReader(trimmed), this.cookie.maxChunks),
    );
  }

  async commit(session: Session<T>): Promise<string[]> {
    return this.commitNow(session);
  }

  /** @internal `commit()` without the promise (see loadNow); throws what commit() would reject with. */
  commitNow(session: Session<T>): string[] {
    const impl = asImpl(session);
    const now = this.clock.now();
    // Revoked while this request was under way, then regenerated: nothing of it is sent (checklist #32).
    if (impl._ended && !impl._destroyed) return this.#emit([], impl, false);
    if (impl._isEmpty()) {
      // Nothing to keep. Clear the cookie after a logout, an expired session, or a session emptied on
      // this request; a junk cookie is left alone (no writes for anonymous requests, checklist #35).
      const clear =
        impl._destroyed || impl._origin === 'expired' || (impl._origin === 'loaded' && impl._changed());
      const destroyed = impl._destroyed;
      if (destroyed) this.event({ type: 'destroyed' });
      const lines = this.#emit(clear ? this.#deletions(impl, []) : [], impl, false);
      return destroyed ? this.signedOut(lines) : lines;
    }
    const touchDue = impl._origin === 'loaded' && now - impl._state.lastActiveAt >= this.policy.touchAfter;
    const dataJson = JSON.stringify(impl._state.data); // for the change test and the payload alike
    if (!impl._forceWrite && !impl._destroyed && !touchDue && !impl._changed(dataJson)) return [];

    if (impl.isNew) this.event({ type: 'created' });
    if (impl._regenerated) this.event({ type: 'regenerated' });
    // Never move a clock backwards: a server whose clock lags (within the skew allowance) or steps
    // back must not seal lastActive < createdAt, which would never open again.
    impl._state.lastActiveAt = Math.max(now, impl._state.lastActiveAt, impl._state.createdAt);
    const sealed = sealValue(this.keyring, 'cookie', this.cookieName, encodePayload(impl._state, dataJson));
    const attributes = this.attributesUntil(expiresAt(impl._state, this.policy), now);
    const line = this.ownValueLine(this.cookieName, sealed, attributes);
    if (line !== undefined) {
      // One cookie with the fixed attributes, the common case: made directly, then the deletion of any
      // chunks the request carried from a larger session.
      const stale = this.#deletions(impl, NO_NAMES, true);
      return this.#emit(stale.length === 0 ? [line] : [line, ...stale], impl, true, dataJson);
    }
    const suffix = this.suffixLength(attributes);
    let parts: Array<{ name: string; value: string }>;
    try {
      parts = splitIntoCookies(this.cookieName, sealed, suffix, this.cookie.maxChunks);
    } catch (err) {
      if (err instanceof SessionTooLarge) {
        const limit = this.cookie.maxChunks * (4096 - suffix - this.cookieName.length - 3);
        this.event({ type: 'too-large', bytes: sealed.length, limit });
      }
      throw err;
    }
    const lines = parts.map((part) => serializeSetCookie(part.name, part.value, attributes));
    const written = parts.map((part) => part.name);
    return this.#emit([...lines, ...this.#deletions(impl, written, true)], impl, true, dataJson);
  }

  /** Deletions for the base cookie and every chunk the request carried, except those just written. */
  #deletions(impl: SessionImpl<T>, written: readonly string[], chunksOnly = false): string[] {
    const names = chunksOnly ? [] : [this.cookieName];
    names.push(...presentChunkNames(this.cookieName, impl._readCookie, this.cookie.maxChunks));
    return names.filter((name) => !written.includes(name)).map((name) => this.deletion(name));
  }

  #emit(setCookie: string[], impl: SessionImpl<T>, wroteCookie: boolean, dataJson?: string): string[] {
    if (setCookie.length === 0 || !this.mayEmit(impl)) return [];
    impl._committed(wroteCookie, dataJson);
    return setCookie;
  }

  listUserSessions(): Promise<DeviceSession[]> {
    return Promise.reject(noStore('listUserSessions'));
  }
  /**
   * With `revocation`: every session of the user signed in until now is refused from now on, except
   * `except`, this request's session (such as the one that just changed the password): it gets a later
   * sign-in time and is sent again on this response, so copies of its old cookie end too. How many
   * sessions ended is not known in cookie mode: it resolves to 0.
   */
  async revokeUserSessions(userId: string, options: { except?: Session<T> | string } = {}): Promise<number> {
    if (!this.#revocations) throw noStore('revokeUserSessions', ' or a revocation store');
    if (!isUserId(userId))
      throw new TypeError('revokeUserSessions(userId): userId must be 1 to 256 characters');
    if (typeof options.except === 'string') {
      throw new TypeError('cookie mode: pass the Session to keep as except, not an id');
    }
    const keep = options.except ? asImpl(options.except) : undefined;
    if (keep?._locked) {
      throw new SessionStateError(
        'except: that session was already committed; pass it before its response goes out',
      );
    }
    const revokedAt = await this.#revocations.revokeUser(userId);
    if (keep !== undefined && keep._state.userId === userId) {
      keep._state.authTime = revokedAt + 1;
      keep._forceWrite = true;
    }
    return 0;
  }
  revokeUserSession(): Promise<boolean> {
    return Promise.reject(noStore('revokeUserSession'));
  }
}

function noStore(method: string, or = ''): ConfigError {
  return new ConfigError(`${method}() needs store mode${or}: pass a store to createSessions({ store })`);
}
