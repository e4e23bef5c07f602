import { assembleCandidates, presentChunkNames, splitIntoCookies } from '../cookie/chunk.ts';
import { serializeSetCookie } from '../cookie/serialize.ts';
import { newToken } from '../crypto/random.ts';
import { type OpenResult, openValue, openValueAsync, sealValue, sealValueAsync } from '../crypto/seal.ts';
import { ConfigError, SessionStateError, SessionTooLarge } from '../errors.ts';
import { isUserId } from '../stores/types.ts';
import { BaseSessions } from './base.ts';
import { movedCookie, touchAfterOf } from './cookie-overrides.ts';
import { finishMigration, type LegacyFound, type LegacyReaders, withLegacyLines } from './legacy.ts';
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
import { countCommit, countLoad } from './telemetry.ts';

const NO_NAMES: readonly string[] = Object.freeze([]);

/** What a request's cookie turned out to hold: a live (or expired) session, or why there is none. */
type Found = Exclude<SessionOrigin, 'loaded'> | Extract<Inspection, { status: 'valid' | 'expired' }>;

/** Cookie mode: the whole session, sealed, in the cookie (chunked when large). DESIGN.md §1. */
export class CookieSessions<T extends SessionData> extends BaseSessions implements Sessions<T> {
  readonly mode = 'cookie' as const;
  readonly #maxSealedLength: number;
  readonly #revocations: Revocations | undefined;
  readonly #lifecycle: SessionLifecycle | undefined;
  readonly #legacy: LegacyReaders | undefined;

  constructor(resolved: ResolvedSessionsOptions) {
    super(resolved);
    this.#legacy = resolved.legacy;
    this.#maxSealedLength = this.cookie.maxChunks * 4096;
    if (resolved.revocation) {
      if (!this.keyring.synchronous) throw asyncCryptoRefused('a revocation store');
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
    return this.#revocations === undefined && this.keyring.synchronous && (this.#legacy?.synchronous ?? true);
  }

  async load(request: RequestLike, options?: LoadOptions): Promise<Session<T>> {
    const session = (await this.#loadWithLegacy(request, options)) as SessionImpl<T>;
    if (session._legacy !== undefined) return session;
    const revocations = this.#revocations;
    if (!revocations || session._origin !== 'loaded' || session._state.userId === undefined) return session;
    if (await revocations.isRevoked(session._state)) {
      this.event({ type: 'revoked' });
      this.signals?.rejected(session._clientAddress, this.clock.now());
      return this.#session('expired', session._readCookie, session._secureTransport);
    }
    return session;
  }

  /**
   * @internal `load()` without the promise, for the adapters when `synchronous`: it skips the
   * revocation check. Never throws for a bad cookie.
   */
  loadNow(request: RequestLike, options?: LoadOptions): Session<T> {
    const session = this.#loadWithLegacy(request, options);
    if (session instanceof Promise) {
      throw new SessionStateError(
        'loadNow() met asynchronous work (a legacy reader, or WebCrypto-only crypto): call load()',
      );
    }
    return session;
  }

  /** The session, or a promise of it only when an asynchronous legacy reader has an old cookie to read. */
  #loadWithLegacy(request: RequestLike, options?: LoadOptions): SessionImpl<T> | Promise<SessionImpl<T>> {
    const facts = requestFacts(request, this.trustProxy, this.allowLoopback, options?.peerAddress);
    const readCookie = this.cookieReader(facts.cookieHeader);
    const secure = secureTransportOf(facts, options);
    const observe = (session: SessionImpl<T>): SessionImpl<T> => {
      session._clientAddress = facts.clientAddress;
      countLoad('cookie', session._origin);
      if (session._origin === 'invalid') this.signals?.rejected(facts.clientAddress, this.clock.now());
      return session;
    };
    if (!this.keyring.synchronous) {
      // WebCrypto only (docs/crypto.md): the same steps, with the cookie values opened asynchronously.
      return this.#findAsync(facts.cookieHeader, readCookie)
        .then((found) => this.#withLegacy(found, readCookie, secure))
        .then(observe);
    }
    const session = this.#withLegacy(this.#find(facts.cookieHeader, readCookie), readCookie, secure);
    return session instanceof Promise ? session.then(observe) : observe(session);
  }

  async #findAsync(
    cookieHeader: string | readonly string[] | undefined,
    readCookie: (name: string) => readonly string[],
  ) {
    const candidates = this.#candidates(cookieHeader, readCookie);
    if (typeof candidates === 'string') return candidates;
    return this.#found(
      await Promise.all(
        candidates.map((candidate) =>
          openValueAsync(this.keyring, 'cookie', this.cookieName, candidate, this.#maxSealedLength),
        ),
      ),
    );
  }

  /** With no Latchkey session: an old library's cookie may carry one to move (issue 12 §4). */
  #withLegacy(
    found: Found,
    readCookie: (name: string) => readonly string[],
    secure: boolean | undefined,
  ): SessionImpl<T> | Promise<SessionImpl<T>> {
    if (found === 'none' && this.#legacy !== undefined) {
      const legacy = this.#legacy.find(readCookie, this.clock, this.policy);
      if (legacy instanceof Promise)
        return legacy.then((result) => this.#migrated(result, readCookie, secure));
      if (legacy !== undefined) return this.#migrated(legacy, readCookie, secure);
    }
    return this.#session(found, readCookie, secure);
  }

  /** A session moved from an old library's cookie, or none (with its event) when the reader refused it. */
  #migrated(
    found: LegacyFound | undefined,
    readCookie: (name: string) => readonly string[],
    secureTransport: boolean | undefined,
  ): SessionImpl<T> {
    if (found === undefined) return this.#session('none', readCookie, secureTransport);
    if (found === 'invalid') {
      this.event({ type: 'invalid', reason: 'legacy' });
      return this.#session('invalid', readCookie, secureTransport);
    }
    const state = found.state;
    if (this.#revocations !== undefined && state.userId !== undefined) {
      // As at a sign-in: an id for this session's own sign-out, after any revocation of the user.
      state.sessionId = newToken();
      state.authTime = this.#revocations.authTimeFor(state.userId, state.createdAt);
    }
    const session = this.#session(
      {
        status: 'valid',
        verdict: 'live',
        kid: this.keyring.current.kid,
        stale: true,
        state,
        expiresAt: expiresAt(state, this.policy),
      },
      readCookie,
      secureTransport,
    );
    session._legacy = found.migration;
    this.event({ type: 'migrated', from: found.from });
    return session;
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
      cookieRules: this.cookieRules,
    });
  }

  /** The live session the request carries, or why there is none (with its event). */
  #find(
    cookieHeader: string | readonly string[] | undefined,
    readCookie: (name: string) => readonly string[],
  ): Found {
    const candidates = this.#candidates(cookieHeader, readCookie);
    if (typeof candidates === 'string') return candidates;
    return this.#found(candidates.map((candidate) => this.#open(candidate)));
  }

  /** The sealed values the request's cookies assemble into, or why there are none. */
  #candidates(
    cookieHeader: string | readonly string[] | undefined,
    readCookie: (name: string) => readonly string[],
  ): readonly string[] | 'none' | 'invalid' {
    if (cookieHeader === undefined || cookieHeader.length === 0) return 'none';
    const candidates = assembleCandidates(this.cookieName, readCookie, this.cookie.maxChunks);
    return candidates.length === 0 ? this.overLimit(candidates) : candidates;
  }

  #open(sealed: string): OpenResult {
    return openValue(this.keyring, 'cookie', this.cookieName, sealed, this.#maxSealedLength);
  }

  /** The session among the candidates' opened values, with its event. */
  #found(results: readonly OpenResult[]): Found {
    const opened = this.#openOne(results);
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
  #openOne(results: readonly OpenResult[]): Inspection {
    let found: Inspection | undefined;
    let firstFailure: Inspection | undefined;
    for (const opened of results) {
      const result = this.#inspectOpened(opened);
      if (result.status === 'invalid') {
        firstFailure ??= result;
        continue;
      }
      if (found) return { status: 'invalid', reason: 'ambiguous' };
      found = result;
    }
    return found ?? firstFailure ?? { status: 'invalid', reason: 'malformed' };
  }

  #inspectOpened(result: OpenResult): Inspection {
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
    if (!trimmed.includes('=')) return this.#inspectOpened(this.#open(trimmed));
    const candidates = assembleCandidates(this.cookieName, this.cookieReader(trimmed), this.cookie.maxChunks);
    return this.#openOne(candidates.map((candidate) => this.#open(candidate)));
  }

  async inspectStored(value: string): Promise<Inspection> {
    return this.inspect(value);
  }

  async commit(session: Session<T>): Promise<string[]> {
    if (this.keyring.synchronous) return this.commitNow(session);
    const impl = asImpl(session);
    const plan = this.#plan(impl);
    if (Array.isArray(plan)) return plan;
    const sealed = await sealValueAsync(this.keyring, 'cookie', this.cookieName, plan.payload);
    return this.#written(impl, sealed, plan);
  }

  /** @internal `commit()` without the promise (see loadNow); throws what commit() would reject with. */
  commitNow(session: Session<T>): string[] {
    const impl = asImpl(session);
    const plan = this.#plan(impl);
    if (Array.isArray(plan)) return plan;
    return this.#written(impl, sealValue(this.keyring, 'cookie', this.cookieName, plan.payload), plan);
  }

  /** What commit sends without sealing anything (its lines), or the payload to seal and when. */
  #plan(impl: SessionImpl<T>): string[] | { payload: string; dataJson: string; now: number } {
    const now = this.clock.now();
    // Revoked while this request was under way, then regenerated: nothing of it is sent (checklist #32).
    if (impl._ended && !impl._destroyed) return this.#emit([], impl, false);
    if (impl._isEmpty()) {
      // Nothing to keep. Clear the cookie after a logout, an expired session, or a session emptied on
      // this request; a junk cookie is left alone (no writes for anonymous requests, checklist #35).
      // A destroy on a request that carried no cookie has nothing to clear (express-session sends none).
      const clear =
        (impl._destroyed && impl._origin !== 'none') ||
        impl._origin === 'expired' ||
        (impl._origin === 'loaded' && impl._changed());
      const destroyed = impl._destroyed;
      if (destroyed) this.event({ type: 'destroyed' });
      const lines = this.#emit(clear ? this.#deletions(impl, []) : [], impl, false);
      return destroyed ? this.signedOut(lines) : lines;
    }
    const touchDue =
      impl._origin === 'loaded' &&
      now - impl._state.lastActiveAt >= touchAfterOf(impl._state.cookie, this.policy);
    const dataJson = JSON.stringify(impl._state.data); // for the change test and the payload alike
    if (!impl._forceWrite && !impl._destroyed && !touchDue && !impl._changed(dataJson)) return [];

    if (impl.isNew) this.event({ type: 'created' });
    if (impl._regenerated) this.event({ type: 'regenerated' });
    // Never move a clock backwards: a server whose clock lags (within the skew allowance) or steps
    // back must not seal lastActive < createdAt, which would never open again.
    impl._state.lastActiveAt = Math.max(now, impl._state.lastActiveAt, impl._state.createdAt);
    return { payload: encodePayload(impl._state, dataJson), dataJson, now };
  }

  /** The Set-Cookie lines for the freshly sealed value: one cookie, or chunks. */
  #written(impl: SessionImpl<T>, sealed: string, plan: { dataJson: string; now: number }): string[] {
    const { dataJson, now } = plan;
    const attributes = this.attributesFor(impl._state.cookie, expiresAt(impl._state, this.policy), now);
    const moved =
      impl._sentCookie !== impl._state.cookie && movedCookie(impl._sentCookie, impl._state.cookie);
    const line = moved ? undefined : this.ownValueLine(this.cookieName, sealed, attributes);
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
    if (moved && impl._readCookie(this.cookieName).length > 0) {
      // Moved to another Path or Domain: the cookies of the old place are ended (first, as they
      // share the name) or the browser would send both.
      return this.#emit([...this.#deletions(impl, []), ...lines], impl, true, dataJson);
    }
    return this.#emit([...lines, ...this.#deletions(impl, written, true)], impl, true, dataJson);
  }

  /** Deletions for the base cookie and every chunk the request carried, except those just written. */
  #deletions(impl: SessionImpl<T>, written: readonly string[], chunksOnly = false): string[] {
    const names = chunksOnly ? [] : [this.cookieName];
    names.push(...presentChunkNames(this.cookieName, impl._readCookie, this.cookie.maxChunks));
    // The cookie the browser holds was set with the options it was sent with (checklist #14).
    const sent = impl._sentCookie;
    return names.filter((name) => !written.includes(name)).map((name) => this.deletion(name, sent));
  }

  #emit(sessionLines: string[], impl: SessionImpl<T>, wroteCookie: boolean, dataJson?: string): string[] {
    const migration = impl._legacy;
    const setCookie = withLegacyLines(sessionLines, migration);
    countCommit('cookie', wroteCookie);
    if (setCookie.length === 0 || !this.mayEmit(impl)) return [];
    impl._committed(wroteCookie, dataJson);
    if (migration !== undefined) {
      impl._legacy = undefined;
      finishMigration(migration);
    }
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

/** Store I/O paths seal synchronously; on WebCrypto-only runtimes cookie mode is what works today. */
export function asyncCryptoRefused(what: string): ConfigError {
  return new ConfigError(
    `${what} needs synchronous crypto (node:crypto or sodium-native); this runtime has WebCrypto only: ` +
      'use cookie mode without a revocation store here, or enable node:crypto (workerd: nodejs_compat)',
  );
}

function noStore(method: string, or = ''): ConfigError {
  return new ConfigError(`${method}() needs store mode${or}: pass a store to createSessions({ store })`);
}
