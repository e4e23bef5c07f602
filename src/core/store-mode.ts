import { serializeSetCookie } from '../cookie/serialize.ts';
import { sha256Base64url } from '../crypto/hmac.ts';
import { isTokenText, jitterBelow, newToken } from '../crypto/random.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { ConfigError, ConflictError, SessionTooLarge } from '../errors.ts';
import { callStore, isStoreKey, isUserId, type SessionStore, type StoredRecord } from '../stores/types.ts';
import { AnonymousCsrf } from './anonymous-csrf.ts';
import { BaseSessions } from './base.ts';
import { clientKeyOf } from './client-address.ts';
import { CookieCache } from './cookie-cache.ts';
import { asyncCryptoRefused } from './cookie-mode.ts';
import { movedCookie, touchAfterOf } from './cookie-overrides.ts';
import { CreationLimiter, creationLimited } from './creation-limit.ts';
import { hasKeys } from './json.ts';
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
import { type PurgeOwner, type PurgeSchedule, startPurgeSchedule } from './purge-schedule.ts';
import { ISSUED_AT, type Loaded, type Opened, openLink, TokenRenewal } from './renewal.ts';
import { type LoadOptions, type RequestLike, requestFacts, secureTransportOf } from './request.ts';
import { Revocations, sessionIdOf } from './revocation.ts';
import {
  asImpl,
  type Session,
  type SessionData,
  SessionImpl,
  type SessionLifecycle,
  type StoreBacking,
} from './session.ts';
import type { DeviceSession, Inspection, Sessions } from './sessions.ts';
import { NETWORK_FIELD } from './signals.ts';
import { countCommit, countLoad, countRevocations, instrumentStore } from './telemetry.ts';
import { deviceLabel } from './user-agent.ts';

/** The store key: base64url(SHA-256(token)). The token itself never reaches a store (checklist #5). */
export function storeKeyOf(token: string): string {
  return sha256Base64url(token);
}

const CREATE_ATTEMPTS = 3;
/**
 * The longest sealed record store mode writes and reads (characters): 4 MiB, far past any cookie, and the
 * same bound on both sides, so a record that could be written can always be read back. A session over it
 * is refused at commit with ERR_LATCHKEY_TOO_LARGE instead of being written and then lost.
 */
export const MAX_STORE_SEALED_LENGTH = 4 * 1024 * 1024;
/** Integer fields a record may seal beside the session, kept by every write (src/core/renewal.ts). */
const KEPT_FIELDS = [ISSUED_AT, NETWORK_FIELD];

/** What a write re-applied on a fresher record keeps: its issue time from the record, the rest from ours. */
function keptFields(
  ours: Record<string, number> | undefined,
  record: Record<string, number> | undefined,
): Record<string, number> | undefined {
  const issuedAt = record?.[ISSUED_AT];
  const { [ISSUED_AT]: _, ...rest } = ours ?? {};
  const kept = { ...record, ...rest, ...(issuedAt !== undefined && { [ISSUED_AT]: issuedAt }) };
  return Object.keys(kept).length > 0 ? kept : undefined;
}

/** What a write sent (its Set-Cookie lines) and the data's JSON it wrote, for the next baseline. */
type Written = { lines: string[]; dataJson: string | undefined };

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
  /** Scheduled token renewal and the links it leaves (src/core/renewal.ts). */
  readonly #tokens: TokenRenewal;
  /** An anonymous visitor's CSRF secret, kept in a sealed cookie instead of a record (checklist #35). */
  readonly #anonymous: AnonymousCsrf;
  /** creationLimit (checklist #35): each new record takes from its client's bucket and the overall one. */
  readonly #limiter: CreationLimiter | undefined;
  /** The client of each session's request, for the limiter. */
  readonly #clients = new WeakMap<SessionImpl<object>, string | undefined>();
  /** Sessions whose record regenerate() or login() ended: their new record replaces it, no new one. */
  readonly #replaced = new WeakSet<SessionImpl<object>>();
  /** Sessions that login() signed in on this request: a new sign-in, no continuation of an older one. */
  readonly #signedIn = new WeakSet<SessionImpl<object>>();
  /**
   * Per user, the time of the last "sign out everywhere" (src/core/revocation.ts's records, in this
   * store). Read only where a record is made that carries an existing sign-in on (a renewed token, a
   * rotation): such a record may land after revokeUserSessions() enumerated the user's sessions, and
   * then it is deleted here instead of living on (docs/concurrency.md, store mode rule 8).
   */
  readonly #revocations: Revocations;
  /** The purge schedule holds this weakly; kept here for as long as these sessions live. */
  readonly #purgeOwner: PurgeOwner;
  readonly #purge: PurgeSchedule | undefined;

  constructor(resolved: ResolvedSessionsOptions, store: SessionStore) {
    super(resolved);
    if (!this.keyring.synchronous) throw asyncCryptoRefused('store mode');
    this.#legacy = resolved.legacy;
    this.#store = instrumentStore(store); // spans around store calls, with @opentelemetry/api
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
    this.#revocations = new Revocations({
      store: this.#store,
      keyring: this.keyring,
      policy: this.policy,
      clock: this.clock,
      maxRetries: this.#maxRetries,
    });
    this.#tokens = new TokenRenewal(
      {
        store: this.#store,
        keyring: this.keyring,
        now: () => this.clock.now(),
        call: (operation) => this.#call(operation),
        event: (event) => this.event(event),
        load: (token, storeKey, hops) => this.#loadRecord(token, storeKey, hops),
        open: (storeKey, record) => this.#openRecord(storeKey, record),
        seal: (state, backing) => this.#record(state, backing),
        revoked: (state) => this.#revokedSince(state),
      },
      resolved.tokenRenewal,
    );
    this.#limiter = resolved.creationLimit && new CreationLimiter(resolved.creationLimit, this.clock.now());
    this.#purgeOwner = { store, clock: this.clock, event: (event) => this.event(event) };
    this.#purge = startPurgeSchedule(this.#purgeOwner, resolved.purgeEvery);
    this.#anonymous = new AnonymousCsrf({
      name: `${this.cookieName}.csrf`,
      keyring: this.keyring,
      policy: this.policy,
      clock: this.clock,
    });
    // regenerate(), login() and destroy() delete the old record at once: the old token is dead before
    // the response is sent, whatever happens to it (fixation defence, checklist #23, #30).
    // True when the record was gone already: another request rotated or ended this session meanwhile.
    const dropRecord = async (session: SessionImpl<object>): Promise<boolean> => {
      const backing = session._backing;
      session._backing = undefined;
      if (!backing) return false;
      this.#replaced.add(session);
      return (await this.#tokens.deleteSession(backing.storeKey)) === false;
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
      signedIn: (session) => {
        this.#signedIn.add(session);
        // Signed in in the same millisecond as this process's last "sign out everywhere" of the user (a
        // handler that signs the device in again right after): begun just after it, or its next renewal
        // or rotation would read as revoked. Store records keep createdAt, not authTime; the clock
        // checks accept a start up to clockSkew ahead.
        const state = session._state;
        const after = this.#revocations.authTimeFor(state.userId!, state.createdAt);
        const shift = after === undefined ? 0 : after - state.createdAt;
        if (shift > 0 && shift <= this.policy.clockSkew) {
          state.createdAt += shift;
          state.lastActiveAt += shift;
          state.absoluteDeadline += shift;
        }
      },
    };
  }

  /**
   * True when a "sign out everywhere" of the session's user covers its sign-in (the session kept by
   * "everywhere else" excepted). Rejects with StoreUnavailable in an outage.
   */
  #revokedSince(state: SessionState): Promise<boolean> {
    if (state.userId === undefined) return Promise.resolve(false);
    return this.#revocations.isRevoked(state);
  }

  /** Stop the purge schedule, if any. The store is the app's: it stays open. */
  override async close(): Promise<void> {
    this.#purge?.stop();
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
    if (found === 'invalid') this.signals?.rejected(facts.clientAddress, this.clock.now());
    // A new network is sealed with the record on this request's commit (src/core/signals.ts).
    const network =
      loaded &&
      this.signals?.sighted({
        label: loaded.backing.label,
        userAgent: facts.userAgent,
        network: loaded.backing.extra?.[NETWORK_FIELD],
        clientAddress: facts.clientAddress,
      });
    if (loaded && network !== undefined)
      loaded.backing.extra = { ...loaded.backing.extra, [NETWORK_FIELD]: network };
    const session = new SessionImpl<T>({
      state: moved?.state ?? loaded?.state,
      origin: moved !== undefined ? 'loaded' : typeof found === 'string' ? found : 'loaded',
      forceWrite: moved !== undefined || loaded?.staleKid !== undefined || network !== undefined,
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
    session._clientAddress = facts.clientAddress;
    countLoad('store', session._origin);
    if (this.#limiter !== undefined) this.#clients.set(session, clientKeyOf(facts.clientAddress));
    if (loaded === undefined && moved === undefined) this.#anonymous.adopt(session, readCookie);
    else this.#anonymous.seen(session, readCookie);
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
      if (result === 'reused') return 'invalid'; // the whole session ended (token-reuse event)
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
  async #loadRecord(
    token: string,
    storeKey: string,
    hops = 0,
  ): Promise<Loaded | 'expired' | 'reused' | undefined> {
    const record = await this.#call(() => this.#store.get(storeKey));
    if (!record) return undefined;
    const opened = this.#openRecord(storeKey, record);
    if (!opened) {
      // A renewed token's record is a link to the session's new record (src/core/renewal.ts).
      const link = openLink(this.keyring, storeKey, record);
      if (link !== undefined) return this.#tokens.presented(token, storeKey, link, hops);
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
    const loaded: Loaded = {
      state: opened.state,
      backing: { token, storeKey, version: record.version, label: record.label, extra: opened.extra },
      staleKid: opened.staleKid,
      fromCache: false,
    };
    const now = this.clock.now();
    // Reached through a link (hops > 0): renewed a moment ago, never renewed again from an old token.
    return hops === 0 && this.#tokens.due(loaded, now) ? this.#tokens.renew(loaded, record, now) : loaded;
  }

  #openRecord(
    storeKey: string,
    record: StoredRecord,
  ):
    | { state: SessionState; staleKid: string | undefined; extra: Record<string, number> | undefined }
    | undefined {
    const result = openValue(this.keyring, 'store', storeKey, record.sealed, MAX_STORE_SEALED_LENGTH);
    if (!result.ok) return undefined;
    const payload = decodeStorePayload(result.plaintext, [], KEPT_FIELDS);
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
      extra: hasKeys(payload.extra) ? payload.extra : undefined,
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
    const anonymous = impl._backing === undefined && this.#anonymous.holdsOnlySecret(impl);
    if (anonymous || impl._isEmpty()) {
      // Nothing to keep. Clear the cookie after a logout, an expired session, or a session emptied on
      // this request; junk and unknown tokens are left alone (no writes for anonymous requests, #35).
      // A CSRF secret alone is no reason for a record: it goes in its own sealed cookie.
      const destroyed = impl._destroyed;
      // A destroy on a request that carried no cookie has nothing to clear (express-session sends none).
      let clear = (destroyed && impl._origin !== 'none') || impl._origin === 'expired';
      if (destroyed) this.event({ type: 'destroyed' });
      const backing = impl._backing;
      if (backing && impl._changed()) {
        await this.#tokens.deleteSession(backing.storeKey);
        impl._backing = undefined;
        clear = true;
      }
      const sent = clear ? this.#deletions(impl) : [];
      if (anonymous)
        sent.push(...this.#anonymous.line(impl, (endsAt, at) => this.attributesUntil(endsAt, at)));
      else if (this.#anonymous.needsDeletion(impl)) sent.push(this.deletion(this.#anonymous.name));
      const lines = this.#emit(sent, impl);
      return destroyed ? this.signedOut(lines) : lines;
    }
    const written =
      impl._backing === undefined
        ? await this.#create(impl, now)
        : await this.#save(impl, impl._backing, now);
    // The anonymous secret, if any, is in the record now.
    if (this.#anonymous.needsDeletion(impl)) written.lines.push(this.deletion(this.#anonymous.name));
    return this.#emit(written.lines, impl, written.dataJson);
  }

  /** A new record under a new token: insert-if-absent, a fresh token on collision (checklist #4). */
  async #create(impl: SessionImpl<T>, now: number): Promise<Written> {
    if (this.#limiter !== undefined && !this.#replaced.has(impl)) {
      const refusal = this.#limiter.take(this.#clients.get(impl), now);
      if (refusal !== undefined) {
        this.event({ type: 'creation-limited', scope: refusal.scope });
        throw creationLimited(refusal);
      }
    }
    if (impl.isNew && !impl._regenerated) this.event({ type: 'created' });
    if (impl._regenerated) this.event({ type: 'regenerated' });
    impl._state.lastActiveAt = Math.max(now, impl._state.createdAt);
    // Worked out here, not per request: only a new record keeps a label.
    const label = impl._label ?? deviceLabel(impl._userAgent);
    const dataJson = JSON.stringify(impl._state.data);
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      const token = newToken();
      const backing: StoreBacking = {
        token,
        storeKey: storeKeyOf(token),
        version: 1,
        label,
        extra: this.#newFields(impl, now),
      };
      const record = this.#record(impl._state, backing, dataJson);
      if (await this.#call(() => this.#store.create(backing.storeKey, record))) {
        // A rotation carries the sign-in on under the new token. If "sign out everywhere" enumerated the
        // user's sessions between the old record's delete and this create, it missed this one: checked
        // after the create, so that either the revocation's enumeration sees it or this sees the
        // revocation. A fresh login() is a new sign-in, not checked.
        if (
          this.#replaced.has(impl) &&
          !this.#signedIn.has(impl) &&
          (await this.#revokedSince(impl._state))
        ) {
          await this.#call(() => this.#store.delete(backing.storeKey));
          this.event({ type: 'revoked' });
          return this.#gone(impl);
        }
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

  /** The kept fields a new record starts with: its token's issue time, its network (when asked for). */
  #newFields(impl: SessionImpl<T>, now: number): Record<string, number> | undefined {
    const network = this.signals?.networkId(impl._clientAddress);
    const issued = this.#tokens.issuedNow(now);
    if (network === undefined) return issued;
    return { ...issued, [NETWORK_FIELD]: network };
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
    const touchDue = now - impl._state.lastActiveAt >= touchAfterOf(impl._state.cookie, this.policy);
    // With renewal on, a touch is a compare-and-set write: a bare touch would land on a link (the old
    // token's record) and not on the renewed session, and send the old token back.
    const changed = impl._forceWrite || impl._changed(dataJson) || (touchDue && this.#tokens.enabled);
    const cookieChanged = impl._cookieChanged();
    const fromCache = impl._fromCache;
    if (!changed && !touchDue && backing.renewed !== true) {
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
    // A token renewed on this request is sent whatever the cookie's kind; a session reached through a
    // renewed token's link (silent) never sends its token: that is the old one (src/core/renewal.ts).
    const renewed = backing.renewed === true;
    backing.renewed = false;
    if (backing.silent !== true && (this.persistentFor(overrides) || cookieChanged || renewed)) {
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
      let fresh = await this.#call(() => this.#store.get(backing.storeKey));
      let opened: Opened | undefined = fresh ? this.#openRecord(backing.storeKey, fresh) : undefined;
      if (fresh && opened === undefined) {
        // Renewed since this request loaded it: re-apply on the renewed record (src/core/renewal.ts).
        const renewed = await this.#tokens.followForWrite(backing, fresh);
        fresh = renewed?.record ?? null;
        opened = renewed?.opened;
      }
      if (!fresh || opened === undefined) return undefined;
      // The record's own token issue time; this request's other kept fields (its network) win.
      backing.extra = keptFields(backing.extra, opened.extra);
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
    const payload = encodeStorePayload(state, backing.version, backing.extra, dataJson);
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
    countCommit('store', sessionLines.length > 0);
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
    if (!isUserId(userId))
      throw new TypeError('revokeUserSessions(userId): userId must be 1 to 256 characters');
    // First the user's revocation time, then the deletes: a record that carries one of the user's
    // sign-ins on (a renewal, a rotation) and lands after deleteByUser enumerated the sessions reads it
    // and goes (docs/concurrency.md, store mode rule 8).
    await this.#revocations.revokeUser(userId, await this.#keptSessionId(userId, options.except, except));
    const count = await this.#call(() => this.#store.deleteByUser(userId, except));
    countRevocations(count);
    return count;
  }

  /** The id (sessionIdOf) of the session "sign out everywhere else" keeps, if it is one of the user's. */
  async #keptSessionId(
    userId: string,
    session: Session<T> | string | undefined,
    storeKey: string | undefined,
  ): Promise<string | undefined> {
    let state: SessionState | undefined;
    if (session !== undefined && typeof session !== 'string') state = asImpl(session)._state;
    else if (storeKey !== undefined && isStoreKey(storeKey)) {
      const record = await this.#call(() => this.#store.get(storeKey));
      state = record ? this.#openRecord(storeKey, record)?.state : undefined;
    }
    if (state?.userId !== userId) return undefined;
    return sessionIdOf(state as SessionState & { userId: string });
  }

  async revokeUserSession(userId: string, id: string): Promise<boolean> {
    if (!isStoreKey(id)) return false;
    const record = await this.#call(() => this.#store.get(id));
    if (!record || record.userId !== userId) return false;
    await this.#call(() => this.#store.delete(id));
    countRevocations(1);
    return true;
  }
}
