import { serializeSetCookie } from '../cookie/serialize.ts';
import { encodeBase64url } from '../crypto/base64url.ts';
import { sha256 } from '../crypto/hmac.ts';
import { isTokenText, jitterBelow, newToken } from '../crypto/random.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { ConfigError, ConflictError, SessionTooLarge } from '../errors.ts';
import { callStore, isStoreKey, type SessionStore, type StoredRecord } from '../stores/types.ts';
import { BaseSessions } from './base.ts';
import { CookieCache } from './cookie-cache.ts';
import { asyncCryptoRefused } from './cookie-mode.ts';
import { movedCookie, touchAfterOf } from './cookie-overrides.ts';
import { finishMigration, type LegacyFound, type LegacyReaders, withLegacyLines } from './legacy.ts';
import type { ResolvedSessionsOptions } from './options.ts';
import {
  checkClocks,
  decodeStorePayload,
  encodeStorePayload,
  expiresAt,
  type SessionState,
  storeSessionState,
} from './payload.ts';
import { type LoadOptions, type RequestLike, requestFacts, secureTransportOf } from './request.ts';
import {
  asImpl,
  type Session,
  type SessionData,
  SessionImpl,
  type SessionLifecycle,
  type StoreBacking,
} from './session.ts';
import type { DeviceSession, Inspection, Sessions } from './sessions.ts';
import { deviceLabel } from './user-agent.ts';

/** The store key: base64url(SHA-256(token)). The token itself never reaches a store (checklist #5). */
export function storeKeyOf(token: string): string {
  return encodeBase64url(sha256(token));
}

const CREATE_ATTEMPTS = 3;
/**
 * The longest sealed record store mode writes and reads (characters): 4 MiB, far past any cookie, and the
 * same bound on both sides, so a record that could be written can always be read back. A session over it
 * is refused at commit with ERR_LATCHKEY_TOO_LARGE instead of being written and then lost.
 */
export const MAX_STORE_SEALED_LENGTH = 4 * 1024 * 1024;

/** What a write sent (its Set-Cookie lines) and the data's JSON it wrote, for the next baseline. */
type Written = { lines: string[]; dataJson: string | undefined };

type Loaded = {
  state: SessionState;
  backing: StoreBacking;
  staleKid: string | undefined;
  fromCache: boolean;
};

/**
 * Store mode: the cookie holds an opaque token; the session lives in a store, sealed at rest with the
 * store key in the AAD (DESIGN.md §1, §3). Unknown tokens are never adopted (checklist #3).
 */
export class StoreSessions<T extends SessionData> extends BaseSessions implements Sessions<T> {
  readonly mode = 'store' as const;
  readonly #store: SessionStore;
  readonly #cache: CookieCache | undefined;
  readonly #maxPerUser: number | undefined;
  readonly #maxRetries: number;
  readonly #lifecycle: SessionLifecycle;
  readonly #legacy: LegacyReaders | undefined;

  constructor(resolved: ResolvedSessionsOptions, store: SessionStore) {
    super(resolved);
    if (!this.keyring.synchronous) throw asyncCryptoRefused('store mode');
    this.#legacy = resolved.legacy;
    this.#store = store;
    this.#maxPerUser = resolved.maxSessionsPerUser;
    if (resolved.cookieCacheMaxAge !== undefined) {
      this.#cache = new CookieCache({
        name: `${this.cookieName}.cache`,
        maxAge: resolved.cookieCacheMaxAge,
        keyring: this.keyring,
        policy: this.policy,
        clock: this.clock,
        attributesUntil: (endsAt, now) => this.attributesUntil(endsAt, now),
      });
    }
    this.#maxRetries = resolved.maxConflictRetries;
    // regenerate(), login() and destroy() delete the old record at once: the old token is dead before
    // the response is sent, whatever happens to it (fixation defence, checklist #23, #30).
    // True when the record was gone already: another request rotated or ended this session meanwhile.
    const dropRecord = async (session: SessionImpl<object>): Promise<boolean> => {
      const backing = session._backing;
      session._backing = undefined;
      if (!backing) return false;
      return (await this.#call(() => this.#store.delete(backing.storeKey))) === false;
    };
    this.#lifecycle = {
      regenerate: async (session) => {
        if (await dropRecord(session)) {
          // Two requests rotating one session: the one that ended the old record goes on with it; the
          // other's changes are dropped and it sends no cookie, so at most one new session comes of
          // them and no orphan record (checklist #32), and a request racing a sign-out cannot carry
          // the session past it.
          session._endedElsewhere();
          this.event({ type: 'revoked' });
        }
      },
      destroy: async (session) => {
        await dropRecord(session);
      },
    };
  }

  /** Run a store call; anything but a coded error or a caller bug becomes StoreUnavailable. */
  #call<R>(operation: () => Promise<R>): Promise<R> {
    return callStore('session', operation);
  }

  async load(request: RequestLike, options?: LoadOptions): Promise<Session<T>> {
    const facts = requestFacts(request, this.trustProxy, this.allowLoopback, options?.peerAddress);
    const readCookie = this.cookieReader(facts.cookieHeader);
    let found = await this.#find(readCookie);
    let migrated: LegacyFound | undefined;
    if (found === 'none' && this.#legacy !== undefined) {
      // No Latchkey cookie: an old library's cookie may carry a session to move (issue 12 §4).
      migrated = await this.#legacy.find(readCookie, this.clock, this.policy);
      if (migrated === 'invalid') {
        this.event({ type: 'invalid', reason: 'legacy' });
        found = 'invalid';
      }
    }
    const loaded = typeof found === 'string' ? undefined : found;
    const moved = typeof migrated === 'object' ? migrated : undefined;
    const session = new SessionImpl<T>({
      state: moved?.state ?? loaded?.state,
      origin: moved !== undefined ? 'loaded' : typeof found === 'string' ? found : 'loaded',
      forceWrite: moved !== undefined || loaded?.staleKid !== undefined,
      readCookie,
      secureTransport: secureTransportOf(facts, options),
      policy: this.policy,
      clock: this.clock,
      backing: loaded?.backing,
      lifecycle: this.#lifecycle,
      cookieRules: this.cookieRules,
    });
    session._fromCache = loaded?.fromCache ?? false;
    session._label = loaded?.backing.label;
    session._userAgent = facts.userAgent;
    if (moved !== undefined) {
      session._legacy = moved.migration;
      this.event({ type: 'migrated', from: moved.from });
    }
    return session;
  }

  /** The live session the request's token names, or why there is none (with its event). */
  async #find(
    readCookie: (name: string) => readonly string[],
  ): Promise<Loaded | 'none' | 'expired' | 'invalid'> {
    const values = readCookie(this.cookieName);
    if (values.length === 0) return this.overLimit(values);
    const sent = [...new Set(values)];
    // Only well-formed tokens (32 CSPRNG bytes in base64url) reach the store (DESIGN.md §3, checklist #6).
    const tokens = sent.filter(isTokenText);
    if (tokens.length === 0) {
      this.event({ type: 'invalid', reason: 'malformed' });
      return 'invalid';
    }
    // Each token's store key, hashed once: for the cookie cache and the store read alike.
    const keys = tokens.map(storeKeyOf);
    if (tokens.length === 1 && this.#cache !== undefined) {
      const cached = this.#cache.read(tokens[0]!, keys[0]!, readCookie);
      if (cached) return { ...cached, staleKid: undefined, fromCache: true };
    }
    // Each well-formed token is looked up; exactly one live session must answer (checklist #17).
    let found: Loaded | 'expired' | undefined;
    for (const [i, token] of tokens.entries()) {
      const result = await this.#loadRecord(token, keys[i]!);
      if (result === undefined) continue;
      if (found !== undefined) {
        this.event({ type: 'invalid', reason: 'ambiguous' });
        return 'invalid';
      }
      found = result;
    }
    if (found === undefined) {
      this.event({ type: 'invalid', reason: 'unknown-session' });
      return 'invalid';
    }
    if (found !== 'expired' && found.staleKid !== undefined) {
      // Resealed with the current key on this response's write (checklist #42).
      this.event({ type: 'rotated', fromKid: found.staleKid, toKid: this.keyring.current.kid });
    }
    return found;
  }

  /** One store read; an expired or unreadable record is no session, and an expired one is deleted. */
  async #loadRecord(token: string, storeKey: string): Promise<Loaded | 'expired' | undefined> {
    const record = await this.#call(() => this.#store.get(storeKey));
    if (!record) return undefined;
    const opened = this.#openRecord(storeKey, record);
    if (!opened) {
      this.event({ type: 'invalid', reason: 'payload' });
      // Authenticated under one of our keys yet unreadable (an older bug, a store-side edit): it can never
      // be read, so it goes now instead of lingering in the user's device list until it expires. A record
      // under a key this process lacks (another instance mid-rotation) is left alone.
      if (openValue(this.keyring, 'store', storeKey, record.sealed, MAX_STORE_SEALED_LENGTH).ok)
        await this.#call(() => this.#store.delete(storeKey));
      return undefined;
    }
    const verdict = checkClocks(opened.state, this.policy, this.clock.now());
    if (verdict !== 'live') {
      // Expired by the sealed clocks, whatever the store's TTL said (checklist #24, #28).
      this.event(
        verdict === 'future' ? { type: 'invalid', reason: 'future' } : { type: 'expired', reason: verdict },
      );
      await this.#call(() => this.#store.delete(storeKey));
      return 'expired';
    }
    return {
      state: opened.state,
      backing: { token, storeKey, version: record.version, label: record.label },
      staleKid: opened.staleKid,
      fromCache: false,
    };
  }

  #openRecord(
    storeKey: string,
    record: StoredRecord,
  ): { state: SessionState; staleKid: string | undefined } | undefined {
    const result = openValue(this.keyring, 'store', storeKey, record.sealed, MAX_STORE_SEALED_LENGTH);
    if (!result.ok) return undefined;
    const payload = decodeStorePayload(result.plaintext);
    // The unsealed columns must agree with the sealed payload: a store-side edit is no session.
    if (
      !payload ||
      payload.version !== record.version ||
      payload.createdAt !== record.createdAt ||
      payload.absoluteDeadline !== record.absoluteAt ||
      payload.userId !== record.userId
    ) {
      return undefined;
    }
    return {
      state: storeSessionState(payload, record.lastSeenAt),
      staleKid: result.stale ? result.kid : undefined,
    };
  }

  inspect(): Inspection {
    throw new ConfigError(
      'inspect() opens cookie-mode values; store-mode cookies hold only a token: use inspectStored(token)',
    );
  }

  async inspectStored(value: string): Promise<Inspection> {
    const token = typeof value === 'string' ? value.trim() : '';
    if (!isTokenText(token)) return { status: 'invalid', reason: 'malformed' };
    const storeKey = storeKeyOf(token);
    const record = await this.#call(() => this.#store.get(storeKey));
    if (!record) return { status: 'invalid', reason: 'unknown-session' };
    const result = openValue(this.keyring, 'store', storeKey, record.sealed, MAX_STORE_SEALED_LENGTH);
    if (!result.ok) return { status: 'invalid', reason: result.reason };
    const opened = this.#openRecord(storeKey, record);
    if (!opened) return { status: 'invalid', reason: 'payload' };
    const verdict = checkClocks(opened.state, this.policy, this.clock.now());
    return {
      status: verdict === 'live' ? 'valid' : 'expired',
      verdict,
      kid: result.kid,
      stale: result.stale,
      state: opened.state,
      expiresAt: expiresAt(opened.state, this.policy),
    };
  }

  async commit(session: Session<T>): Promise<string[]> {
    const impl = asImpl(session);
    const now = this.clock.now();
    // Ended elsewhere while this request was under way (a parallel rotation won): nothing to write.
    if (impl._ended && !impl._destroyed) return this.#emit([], impl);
    if (impl._isEmpty()) {
      // Nothing to keep. Clear the cookie after a logout, an expired session, or a session emptied on
      // this request; junk and unknown tokens are left alone (no writes for anonymous requests, #35).
      const destroyed = impl._destroyed;
      // A destroy on a request that carried no cookie has nothing to clear (express-session sends none).
      let clear = (destroyed && impl._origin !== 'none') || impl._origin === 'expired';
      if (destroyed) this.event({ type: 'destroyed' });
      const backing = impl._backing;
      if (backing && impl._changed()) {
        await this.#call(() => this.#store.delete(backing.storeKey));
        impl._backing = undefined;
        clear = true;
      }
      const lines = this.#emit(clear ? this.#deletions(impl) : [], impl);
      return destroyed ? this.signedOut(lines) : lines;
    }
    const written =
      impl._backing === undefined
        ? await this.#create(impl, now)
        : await this.#save(impl, impl._backing, now);
    return this.#emit(written.lines, impl, written.dataJson);
  }

  /** A new record under a new token: insert-if-absent, a fresh token on collision (checklist #4). */
  async #create(impl: SessionImpl<T>, now: number): Promise<Written> {
    if (impl.isNew && !impl._regenerated) this.event({ type: 'created' });
    if (impl._regenerated) this.event({ type: 'regenerated' });
    impl._state.lastActiveAt = Math.max(now, impl._state.createdAt);
    // Worked out here, not per request: only a new record keeps a label.
    const label = impl._label ?? deviceLabel(impl._userAgent);
    const dataJson = JSON.stringify(impl._state.data);
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const token = newToken();
      const backing: StoreBacking = { token, storeKey: storeKeyOf(token), version: 1, label };
      const record = this.#record(impl._state, backing, dataJson);
      if (await this.#call(() => this.#store.create(backing.storeKey, record))) {
        impl._backing = backing;
        if (impl._state.userId !== undefined && this.#maxPerUser !== undefined) {
          await this.#evictOlder(impl._state.userId, backing.storeKey, impl._state.createdAt);
        }
        const endsAt = expiresAt(impl._state, this.policy);
        const attributes = this.attributesFor(impl._state.cookie, endsAt, now);
        const lines = [serializeSetCookie(this.cookieName, token, attributes)];
        if (this.#cache) {
          lines.push(
            this.#cache.line(backing, impl._state, now, dataJson) ?? this.deletion(this.#cache.name),
          );
        }
        return { lines, dataJson };
      }
    }
    throw new ConflictError('could not create a session: every new token collided (is the CSPRNG broken?)');
  }

  /**
   * The concurrent-session limit (checklist #34): once a session of the user is created, end the
   * user's oldest sessions beyond `maxSessionsPerUser`. Only sessions older than the new one (by
   * createdAt, then store key: listByUser's order) are ended, so two sign-ins at once never end each
   * other, and the newest always stays.
   */
  async #evictOlder(userId: string, newKey: string, createdAt: number): Promise<void> {
    const sessions = await this.#call(() => this.#store.listByUser(userId));
    const excess = sessions.length - this.#maxPerUser!;
    if (excess <= 0) return;
    const older = sessions.filter(
      (meta) =>
        meta.storeKey !== newKey &&
        (meta.createdAt < createdAt || (meta.createdAt === createdAt && meta.storeKey < newKey)),
    );
    const evicted = older.slice(0, excess);
    for (const meta of evicted) await this.#call(() => this.#store.delete(meta.storeKey));
    if (evicted.length > 0) this.event({ type: 'evicted', count: evicted.length });
  }

  /**
   * Save a loaded session: compare-and-set on version; on conflict reload, re-apply this request's
   * changed and deleted keys, retry (bounded). A record deleted meanwhile stays deleted (checklist #31).
   */
  async #save(impl: SessionImpl<T>, backing: StoreBacking, now: number): Promise<Written> {
    // The data's JSON, made once: for the change test, the sealed record, the cache and the baseline.
    let dataJson = JSON.stringify(impl._state.data);
    const changed = impl._forceWrite || impl._changed(dataJson);
    const touchDue = now - impl._state.lastActiveAt >= touchAfterOf(impl._state.cookie, this.policy);
    const cookieChanged = impl._cookieChanged();
    const fromCache = impl._fromCache;
    if (!changed && !touchDue) {
      // Unmodified: nothing to write. A store read refreshes the cookie cache, if on.
      if (fromCache || this.#cache === undefined) return { lines: [], dataJson };
      const cache = this.#cache.line(backing, impl._state, now, dataJson);
      return { lines: cache ? [cache] : [], dataJson };
    }
    impl._state.lastActiveAt = Math.max(now, impl._state.lastActiveAt, impl._state.createdAt);
    if (changed) {
      const saved = await this.#compareAndSet(impl, backing, dataJson);
      if (saved === undefined) return this.#gone(impl);
      dataJson = saved;
    } else {
      const endsAt = expiresAt(impl._state, this.policy);
      const touched = await this.#call(() =>
        this.#store.touch(backing.storeKey, endsAt, impl._state.lastActiveAt),
      );
      if (!touched) return this.#gone(impl);
    }
    const lines: string[] = [];
    const overrides = impl._state.cookie;
    if (this.persistentFor(overrides) || cookieChanged) {
      // Keep the browser's copy alive as long as the session (Max-Age moves with the idle deadline),
      // and send it again when this session's own cookie options changed.
      const endsAt = expiresAt(impl._state, this.policy);
      const attributes = this.attributesFor(overrides, endsAt, now);
      const sent = impl._sentCookie;
      if (movedCookie(sent, overrides) && impl._readCookie(this.cookieName).length > 0) {
        // A new Path or Domain makes a second cookie in the browser: end the one it had (first, as
        // they share the name).
        lines.push(this.deletion(this.cookieName, sent));
      }
      lines.push(serializeSetCookie(this.cookieName, backing.token, attributes));
    }
    const cache = this.#cache?.line(backing, impl._state, now, dataJson);
    if (cache) lines.push(cache);
    return { lines, dataJson };
  }

  /** The data's JSON as written, or undefined when the record was gone (never re-created). */
  async #compareAndSet(
    impl: SessionImpl<T>,
    backing: StoreBacking,
    dataJson: string,
  ): Promise<string | undefined> {
    let json = dataJson;
    // This request's changes, worked out at the first conflict (rare), before the state is merged.
    let changes: ReturnType<SessionImpl<T>['_changes']> | undefined;
    for (let attempt = 0; ; attempt++) {
      const next: StoreBacking = { ...backing, version: backing.version + 1 };
      const result = await this.#call(() =>
        this.#store.update(backing.storeKey, this.#record(impl._state, next, json), backing.version),
      );
      if (result === 'ok') {
        backing.version = next.version;
        return json;
      }
      if (result === 'missing') return undefined;
      if (attempt >= this.#maxRetries) {
        throw new ConflictError(`session write conflicted ${attempt + 1} times; giving up`);
      }
      this.event({ type: 'conflict', attempt: attempt + 1 });
      changes ??= impl._changes();
      // Back off a little, with jitter, so racing writers stop colliding in lockstep.
      await new Promise((resolve) => setTimeout(resolve, jitterBelow(Math.min(2 ** attempt, 50) + 1)));
      const fresh = await this.#call(() => this.#store.get(backing.storeKey));
      const opened = fresh ? this.#openRecord(backing.storeKey, fresh) : undefined;
      if (!fresh || !opened) return undefined;
      const merged = opened.state;
      const data = merged.data;
      for (const [key, value] of changes.data) data[key] = value;
      for (const key of changes.dataDeleted) delete data[key];
      merged.flash ??= Object.create(null) as Record<string, unknown>;
      for (const [key, value] of changes.flash) merged.flash[key] = value;
      for (const key of changes.flashDeleted) delete merged.flash[key];
      if (changes.csrfSecretChanged) merged.csrfSecret = impl._state.csrfSecret;
      if (changes.cookieChanged) merged.cookie = impl._state.cookie;
      merged.lastActiveAt = impl._state.lastActiveAt;
      impl._state = merged;
      json = JSON.stringify(merged.data);
      backing.version = fresh.version;
    }
  }

  /** The record vanished under us (logout, revocation, expiry): it stays gone and nothing is sent. */
  #gone(impl: SessionImpl<T>): Written {
    impl._backing = undefined;
    return { lines: [], dataJson: undefined };
  }

  #record(state: SessionState, backing: StoreBacking, dataJson?: string): StoredRecord {
    const payload = encodeStorePayload(state, backing.version, undefined, dataJson);
    const sealed = sealValue(this.keyring, 'store', backing.storeKey, payload);
    if (sealed.length > MAX_STORE_SEALED_LENGTH) {
      throw new SessionTooLarge(
        `the session seals to ${sealed.length} characters; a store record holds at most ${MAX_STORE_SEALED_LENGTH}`,
      );
    }
    return {
      sealed,
      userId: state.userId,
      createdAt: state.createdAt,
      lastSeenAt: state.lastActiveAt,
      expiresAt: expiresAt(state, this.policy),
      absoluteAt: state.absoluteDeadline,
      version: backing.version,
      label: backing.label,
    };
  }

  #deletions(impl: SessionImpl<T>): string[] {
    const lines = [this.deletion(this.cookieName, impl._sentCookie)];
    if (this.#cache !== undefined) lines.push(this.deletion(this.#cache.name));
    return lines;
  }

  /** What was committed becomes the baseline; the session is live afterwards iff a record backs it. */
  #emit(sessionLines: string[], impl: SessionImpl<T>, dataJson?: string): string[] {
    impl._committed(impl._backing !== undefined, dataJson);
    const migration = impl._legacy;
    const setCookie = withLegacyLines(sessionLines, migration);
    if (setCookie.length === 0 || !this.mayEmit(impl)) return [];
    if (migration !== undefined) {
      impl._legacy = undefined;
      finishMigration(migration);
    }
    return setCookie;
  }

  async listUserSessions(userId: string, options: { current?: Session<T> } = {}): Promise<DeviceSession[]> {
    const current = options.current ? asImpl(options.current)._backing?.storeKey : undefined;
    const metas = await this.#call(() => this.#store.listByUser(userId));
    return metas.map((meta) => ({
      id: meta.storeKey,
      createdAt: meta.createdAt,
      lastSeenAt: meta.lastSeenAt,
      expiresAt: meta.expiresAt,
      label: meta.label,
      current: meta.storeKey === current,
    }));
  }

  async revokeUserSessions(userId: string, options: { except?: Session<T> | string } = {}): Promise<number> {
    const except =
      typeof options.except === 'string'
        ? options.except
        : options.except
          ? asImpl(options.except)._backing?.storeKey
          : undefined;
    return this.#call(() => this.#store.deleteByUser(userId, except));
  }

  async revokeUserSession(userId: string, id: string): Promise<boolean> {
    if (!isStoreKey(id)) return false;
    const record = await this.#call(() => this.#store.get(id));
    if (!record || record.userId !== userId) return false;
    await this.#call(() => this.#store.delete(id));
    return true;
  }
}
