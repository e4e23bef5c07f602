import type { ResolvedCookieOptions } from '../cookie/options.ts';
import { newToken } from '../crypto/random.ts';
import { SessionStateError } from '../errors.ts';
import { diff, flashJson, type SessionChanges } from './changes.ts';
import type { Clock } from './clock.ts';
import {
  type CookieOverrides,
  idleTimeoutOf,
  mergeOverrides,
  type SessionCookieOptions,
  viewOf,
} from './cookie-overrides.ts';
import { assertJsonValue, hasKeys, isAllowedKey, type JsonValue } from './json.ts';
import type { LegacyMigration } from './legacy.ts';
import type { SessionState } from './payload.ts';
import { type Duration, parseDuration, type TimeoutPolicy } from './policy.ts';

/** The shape of an application's session data: top-level keys of JSON values. */
export type SessionData = object;

/**
 * One request's view of a session. Reads are synchronous; nothing is written until
 * `sessions.commit(session)` (which the adapters call for you before the response headers go out).
 *
 * @example
 * ```ts
 * const session = await sessions.load(request);
 * session.set('visits', (session.get('visits') ?? 0) + 1);
 * const setCookie = await sessions.commit(session);
 * ```
 */
export interface Session<T extends SessionData = Record<string, unknown>> {
  /**
   * True when no valid session came with the request (first visit, expired, tampered, logged out), or
   * when a `regenerate()` or `login()` found it ended elsewhere meanwhile: then this request's changes
   * are dropped (checklist #32).
   */
  readonly isNew: boolean;
  /**
   * The session's data. You may change it in place (`session.data.cart.push(item)`): changes are found
   * at commit by comparing with what was loaded. Values must survive JSON (no Date, Map, BigInt).
   */
  readonly data: Partial<T>;
  /** The user this session was bound to by `login()`, if any. */
  readonly userId: string | undefined;
  /** When the session began or was last signed in (UTC ms). */
  readonly createdAt: number;
  /** The last request that renewed the session (UTC ms). */
  readonly lastActiveAt: number;
  /** The session ends at this time whatever the activity (UTC ms). */
  readonly absoluteDeadline: number;
  /** The session ends at this time unless a request renews it (UTC ms). */
  readonly idleDeadline: number;
  /** When `login()` last signed the user in (UTC ms): call `login()` again on re-authentication. */
  readonly authenticatedAt: number | undefined;
  /**
   * True when the user signed in, or re-authenticated with `login()`, within `maxAge`: ask for the
   * password again before a sensitive action otherwise (checklist #26).
   *
   * @example
   * ```ts
   * if (!session.authenticatedWithin('5m')) return redirect('/confirm-password');
   * ```
   */
  authenticatedWithin(maxAge: Duration): boolean;
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  /** Set a top-level key. Throws TypeError for a value JSON cannot round-trip, or a key like `__proto__`. */
  set<K extends keyof T & string>(key: K, value: T[K]): void;
  delete(key: keyof T & string): void;
  has(key: keyof T & string): boolean;
  /** Keep a one-time message: it stays in the session until `takeFlash` reads and removes it. */
  flash(key: string, value: JsonValue): void;
  takeFlash<V extends JsonValue = JsonValue>(key: string): V | undefined;
  /**
   * This session's own cookie options, kept with it (sealed in the cookie, or in the store record) and
   * applied whenever its cookie is written: `maxAge` (ms; this session's idle timeout and its cookie's
   * Max-Age, up to the absolute timeout; `null` for a browser-session cookie), `expires` (a fixed end),
   * `httpOnly`, `secure`, `sameSite`, `path`, `domain`, `partitioned`, `priority`. Fields left out keep
   * their value; a field given as `undefined` goes back to the configured default. Returns the
   * options now in force for this session (only those that differ from the configuration). Throws a
   * CookieError for a combination the configuration checks would refuse (checklist #9). Changing
   * them writes the session on this response.
   *
   * @example
   * ```ts
   * // "Remember me": a persistent cookie, and a 30-day idle timeout for this session only.
   * session.cookieOptions({ maxAge: 30 * 24 * 3600 * 1000 });
   * ```
   */
  cookieOptions(changes?: SessionCookieOptions): Readonly<SessionCookieOptions>;
  /** Renew the session on this response even if nothing changed. */
  touch(): void;
  /** Issue a fresh cookie value (store mode: a new token) keeping the data. Call on privilege change. */
  regenerate(): Promise<void>;
  /** Sign `userId` in: regenerate, bind the user, and restart both timeout clocks (checklist #23). */
  login(userId: string): Promise<void>;
  /** Sign out: forget the data and clear the cookie on this response (checklist #30). */
  destroy(): Promise<void>;
}

/** How the incoming cookie turned out; `loaded` is the only one that carried a live session. */
export type SessionOrigin = 'none' | 'loaded' | 'expired' | 'invalid';

/** Store mode: which record backs the session. The token never leaves the core and the cookie. */
export interface StoreBacking {
  token: string;
  storeKey: string;
  version: number;
  /** The device label kept with the record. */
  label?: string | undefined;
  /** Integer fields sealed with the record and kept by every write (token issue time, network). */
  extra?: Record<string, number> | undefined;
  /** The token was renewed on this request (src/core/renewal.ts): the commit sends it. */
  renewed?: boolean | undefined;
  /**
   * Reached through a renewed token's link (src/core/renewal.ts): `token` is the old one, which must
   * never be sent back over the new one the browser holds. Nothing sends the session cookie.
   */
  silent?: boolean | undefined;
}

/** What a session's own cookie options are checked against: the configured cookie and the mode. */
export interface CookieRules {
  readonly config: ResolvedCookieOptions;
  readonly development: boolean;
}

/** Store mode's side effects of regenerate() and destroy(), which happen at once, not at commit. */
export interface SessionLifecycle {
  regenerate(session: SessionImpl<object>): Promise<void>;
  destroy(session: SessionImpl<object>): Promise<void>;
  /** After login() has bound the user and reset the clocks. */
  signedIn?(session: SessionImpl<object>): void;
}

function emptyState(now: number, absoluteTimeout: number): SessionState {
  return {
    createdAt: now,
    lastActiveAt: now,
    absoluteDeadline: now + absoluteTimeout,
    userId: undefined,
    data: Object.create(null),
    flash: undefined,
  };
}

/**
 * The one Session implementation. Fields starting with `_` are for `Sessions` (same package) only.
 * @internal
 */
export class SessionImpl<T extends SessionData = Record<string, unknown>> implements Session<T> {
  /** @internal */ _state: SessionState;
  /** @internal */ _origin: SessionOrigin;
  /** @internal */ _forceWrite = false;
  /**
   * @internal Write this session even with nothing in it (express-session's `saveUninitialized: true`,
   * asked for by latchkey/express); never after a destroy.
   */
  _keepEmpty = false;
  /** @internal */ _destroyed = false;
  /** @internal */ _regenerated = false;
  /**
   * @internal A regenerate() or login() found the session ended elsewhere meanwhile (rotated by a
   * parallel request, signed out, revoked): this request's changes are dropped at commit, and it sends
   * no cookie (checklist #32).
   */
  _ended = false;
  /** @internal Set once the response headers are out: later changes could not be sent. */
  _locked = false;
  /** @internal Store mode: the record behind this session, if any. */
  _backing: StoreBacking | undefined;
  /** @internal Store mode: loaded from the cookie cache, not the store. */
  _fromCache = false;
  /** @internal Store mode: the label of the loaded record, kept by a record that replaces it. */
  _label: string | undefined;
  /** @internal Store mode: the request's User-Agent, labelling a record created without `_label`. */
  _userAgent: string | undefined;
  /** @internal The client's address, for signals only (src/core/signals.ts). */
  _clientAddress: string | undefined;
  /** @internal Migrated from a legacy reader: the old cookies' deletions, sent with the first commit. */
  _legacy: LegacyMigration | undefined;
  readonly #lifecycle: SessionLifecycle | undefined;
  /** The user and clocks _startOver() dropped on this request, for _restoreUser. */
  #before:
    | { userId: string; createdAt: number; absoluteDeadline: number; authTime: number | undefined }
    | undefined;
  // What was loaded (or last committed), the data and flash as JSON text: one JSON.stringify each, for
  // change detection in both modes, and for re-applying just this request's changes after a
  // store-mode conflict (rare, so that one parses the text back).
  #baselineUser: string | undefined;
  #baselineData = '{}';
  #baselineFlash: string | undefined;
  #baselineCsrf: string | undefined;
  #baselineCookie: string | undefined;
  /**
   * @internal The cookie options of the cookie the browser holds (as loaded, or last committed): a
   * deletion must match its Path and Domain (checklist #14) even after destroy() dropped the state.
   */
  _sentCookie: CookieOverrides | undefined;
  /** @internal */ readonly _readCookie: (name: string) => readonly string[];
  /** @internal */ readonly _secureTransport: boolean | undefined;
  readonly #absoluteTimeout: number;
  readonly #idleTimeout: number;
  readonly #clock: Clock;
  readonly #policy: TimeoutPolicy;
  readonly #cookieRules: CookieRules | undefined;

  constructor(init: {
    state: SessionState | undefined;
    origin: SessionOrigin;
    forceWrite: boolean;
    readCookie: (name: string) => readonly string[];
    secureTransport: boolean | undefined;
    policy: TimeoutPolicy;
    clock: Clock;
    backing?: StoreBacking | undefined;
    lifecycle?: SessionLifecycle | undefined;
    cookieRules?: CookieRules | undefined;
  }) {
    this.#clock = init.clock;
    this.#policy = init.policy;
    this.#cookieRules = init.cookieRules;
    this.#idleTimeout = init.policy.idleTimeout;
    this.#absoluteTimeout = init.policy.absoluteTimeout;
    this._state = init.state ?? emptyState(init.clock.now(), this.#absoluteTimeout);
    this._origin = init.origin;
    this._forceWrite = init.forceWrite;
    this._readCookie = init.readCookie;
    this._secureTransport = init.secureTransport;
    this._backing = init.backing;
    this.#lifecycle = init.lifecycle;
    this.#remember();
  }

  /** `dataJson`: the data's JSON when the caller has just made it (a commit), so it is not made twice. */
  #remember(dataJson?: string): void {
    this.#baselineUser = this._state.userId;
    this.#baselineData = dataJson ?? JSON.stringify(this._state.data);
    this.#baselineFlash = flashJson(this._state.flash);
    this.#baselineCsrf = this._state.csrfSecret;
    const cookie = this._state.cookie;
    this.#baselineCookie = cookie === undefined ? undefined : JSON.stringify(cookie);
    this._sentCookie = cookie;
  }

  /** @internal True when this request changed the session's own cookie options. */
  _cookieChanged(): boolean {
    const cookie = this._state.cookie;
    return (cookie === undefined ? undefined : JSON.stringify(cookie)) !== this.#baselineCookie;
  }

  /** @internal The top-level keys this request set or deleted, in data and in flash. */
  _changes(): SessionChanges {
    const data = diff(this.#baselineData, this._state.data);
    const flash = diff(this.#baselineFlash, this._state.flash);
    return {
      data: data.changed,
      dataDeleted: data.deleted,
      flash: flash.changed,
      flashDeleted: flash.deleted,
      csrfSecretChanged: this._state.csrfSecret !== this.#baselineCsrf,
      cookieChanged: this._cookieChanged(),
    };
  }

  get isNew(): boolean {
    return this._origin !== 'loaded' || this._destroyed || this._ended;
  }
  get data(): Partial<T> {
    return this._state.data as unknown as Partial<T>;
  }
  get userId(): string | undefined {
    return this._state.userId;
  }
  get createdAt(): number {
    return this._state.createdAt;
  }
  get lastActiveAt(): number {
    return this._state.lastActiveAt;
  }
  get absoluteDeadline(): number {
    return Math.min(this._state.absoluteDeadline, this._state.createdAt + this.#absoluteTimeout);
  }
  get idleDeadline(): number {
    const cookie = this._state.cookie;
    const idle = cookie === undefined ? this.#idleTimeout : idleTimeoutOf(cookie, this.#policy);
    return Math.min(this._state.lastActiveAt + idle, cookie?.expires ?? Number.POSITIVE_INFINITY);
  }
  get authenticatedAt(): number | undefined {
    // login() binds the user and restarts createdAt; nothing else sets a user.
    return this._state.userId === undefined ? undefined : this._state.createdAt;
  }

  authenticatedWithin(maxAge: Duration): boolean {
    const limit = parseDuration(maxAge, 'authenticatedWithin(maxAge)');
    const at = this.authenticatedAt;
    return at !== undefined && this.#clock.now() - at < limit;
  }

  get<K extends keyof T & string>(key: K): T[K] | undefined {
    return Object.hasOwn(this._state.data, key) ? (this._state.data[key] as T[K]) : undefined;
  }

  set<K extends keyof T & string>(key: K, value: T[K]): void {
    this.#assertOpen();
    checkKey(key);
    if (value === undefined) {
      this.delete(key);
      return;
    }
    assertJsonValue(value, `session value '${key}'`);
    this._state.data[key] = value;
  }

  delete(key: keyof T & string): void {
    this.#assertOpen();
    delete this._state.data[key as string];
  }

  has(key: keyof T & string): boolean {
    return Object.hasOwn(this._state.data, key);
  }

  flash(key: string, value: JsonValue): void {
    this.#assertOpen();
    checkKey(key);
    assertJsonValue(value, `flash value '${key}'`);
    this._state.flash ??= Object.create(null) as Record<string, unknown>;
    this._state.flash[key] = value;
  }

  takeFlash<V extends JsonValue = JsonValue>(key: string): V | undefined {
    const flash = this._state.flash;
    if (!flash || !Object.hasOwn(flash, key)) return undefined;
    const value = flash[key] as V;
    delete flash[key];
    return value;
  }

  cookieOptions(changes?: SessionCookieOptions): Readonly<SessionCookieOptions> {
    if (changes === undefined) return viewOf(this._state.cookie);
    this.#assertOpen();
    const rules = this.#cookieRules;
    if (rules === undefined) throw new SessionStateError('cookieOptions() needs a session from load()');
    this._state.cookie = mergeOverrides(this._state.cookie, changes, rules.config, rules.development);
    return viewOf(this._state.cookie);
  }

  touch(): void {
    this.#assertOpen();
    this._forceWrite = true;
  }

  async regenerate(): Promise<void> {
    this.#assertOpen();
    if (this._ended) return;
    await this.#lifecycle?.regenerate(this);
    if (this._ended) return;
    this._forceWrite = true;
    this._regenerated = true;
  }

  async login(userId: string): Promise<void> {
    this.#assertOpen();
    checkUserId(userId, 'login(userId)');
    if (this._ended) return;
    await this.#lifecycle?.regenerate(this);
    if (this._ended) return;
    const now = this.#clock.now();
    this._state.userId = userId;
    // A new CSRF secret with the new identity: a token rendered before sign-in is no use after it.
    this._state.csrfSecret = undefined;
    this._state.createdAt = now;
    this._state.lastActiveAt = now;
    this._state.absoluteDeadline = now + this.#absoluteTimeout;
    this._state.authTime = undefined;
    this.#lifecycle?.signedIn?.(this);
    this._forceWrite = true;
    this._regenerated = true;
  }

  /**
   * @internal latchkey/express's userId option, for the user the app put back into req.session after
   * its own regenerate (a privilege change that copies Passport's data over): the same user as before
   * the regenerate keeps its sign-in time and deadlines, so it is no fresh authentication and no
   * longer session. False when `userId` is not that user: then it is a sign-in, and login() follows.
   */
  _restoreUser(userId: string): boolean {
    const before = this.#before;
    if (before === undefined || before.userId !== userId) return false;
    this.#assertOpen();
    const state = this._state;
    state.userId = userId;
    state.createdAt = before.createdAt;
    state.absoluteDeadline = before.absoluteDeadline;
    state.authTime = before.authTime;
    state.lastActiveAt = Math.max(state.lastActiveAt, before.createdAt);
    this._forceWrite = true;
    return true;
  }

  async destroy(): Promise<void> {
    this.#assertOpen();
    await this.#lifecycle?.destroy(this);
    this._destroyed = true;
    this._forceWrite = false;
    this._state = emptyState(this.#clock.now(), this.#absoluteTimeout);
  }

  /** @internal latchkey/csrf: the session's CSRF secret, made on first use when `create` is true. */
  _csrfSecret(create: boolean): string | undefined {
    if (this._state.csrfSecret === undefined && create) {
      this.#assertOpen();
      this._state.csrfSecret = newToken(); // 32 CSPRNG bytes in base64url, like a session token
    }
    return this._state.csrfSecret;
  }

  #assertOpen(): void {
    if (this._locked) {
      throw new SessionStateError(
        'the session was already committed with the response headers; change it before writeHead/write/end',
      );
    }
  }

  /**
   * @internal latchkey/express's regenerate(): after the new token, a brand-new session as
   * express-session makes one: no data, no user, no flash, no CSRF secret, fresh clocks.
   */
  _startOver(): void {
    const { userId, createdAt, absoluteDeadline, authTime } = this._state;
    this.#before = userId === undefined ? undefined : { userId, createdAt, absoluteDeadline, authTime };
    this._state = emptyState(this.#clock.now(), this.#absoluteTimeout);
  }

  /**
   * @internal latchkey/express's userId option, when the app removed its user: a new token (the old
   * one ends, as at any sign-out), the data kept, the user, its sign-in time and the CSRF secret gone.
   */
  async _signOutUser(): Promise<void> {
    await this.regenerate();
    if (this._ended) return;
    this._state.userId = undefined;
    this._state.authTime = undefined;
    this._state.csrfSecret = undefined;
  }

  /**
   * @internal For the modes' regenerate hook: the session ended elsewhere while this request was under
   * way. Nothing of it stays, not even for _restoreUser, and the request's commit writes nothing.
   */
  _endedElsewhere(): void {
    this._ended = true;
    this.#before = undefined;
    this._state = emptyState(this.#clock.now(), this.#absoluteTimeout);
  }

  /**
   * @internal After a commit: what was written becomes the new baseline, so a second commit is a no-op.
   * `dataJson`: the data's JSON as the commit made it, if it did.
   */
  _committed(wroteCookie: boolean, dataJson?: string): void {
    this.#remember(dataJson);
    this._forceWrite = false;
    this._regenerated = false;
    this._destroyed = false;
    this._origin = wroteCookie ? 'loaded' : 'none';
  }

  /** @internal True when nothing is in the session worth a cookie. */
  _isEmpty(): boolean {
    if (this._keepEmpty && !this._destroyed && !this._ended) return false;
    const { data, flash, userId, csrfSecret } = this._state;
    return userId === undefined && csrfSecret === undefined && !hasKeys(data) && !hasKeys(flash);
  }

  /**
   * @internal True when the data, flash or user differ from what was loaded. `dataJson`: the data's
   * JSON, when the caller has made it for its own use (so it is made once).
   */
  _changed(dataJson: string = JSON.stringify(this._state.data)): boolean {
    return (
      this._state.userId !== this.#baselineUser ||
      this._state.csrfSecret !== this.#baselineCsrf ||
      dataJson !== this.#baselineData ||
      flashJson(this._state.flash) !== this.#baselineFlash ||
      this._cookieChanged()
    );
  }
}

/** A user id: 1 to 256 characters, no NUL or lone surrogates (drivers rewrite them, so two ids could meet). */
function checkUserId(userId: unknown, where: string): asserts userId is string {
  if (
    typeof userId !== 'string' ||
    userId.length === 0 ||
    userId.length > 256 ||
    /[\0\uD800-\uDFFF]/u.test(userId)
  ) {
    throw new TypeError(`${where}: userId must be a well-formed string of 1 to 256 characters, without NUL`);
  }
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0)
    throw new TypeError('session keys must be non-empty strings');
  if (!isAllowedKey(key)) throw new TypeError(`'${key}' cannot be a session key`);
}

/** Narrow a Session passed back by the application to the implementation, or throw. */
export function asImpl<T extends SessionData>(session: Session<T>): SessionImpl<T> {
  if (!(session instanceof SessionImpl)) {
    throw new SessionStateError('commit() takes a session returned by load() of the same Latchkey');
  }
  return session;
}
