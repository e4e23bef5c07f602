/**
 * Live migration from another session library (issue 12 §4): on a request with no Latchkey cookie but
 * an old library's cookie, a legacy reader verifies and decodes the old session; the core then starts a
 * Latchkey session with its data, and expires the old cookie on the same response. The readers for
 * the common peers live in `latchkey/legacy`; this file holds only the contract and the core's side.
 */
import type { SetCookieAttributes } from '../cookie/serialize.ts';
import { serializeCookieDeletion } from '../cookie/serialize.ts';
import { ConfigError, LatchkeyError } from '../errors.ts';
import { isUserId } from '../stores/types.ts';
import type { Clock } from './clock.ts';
import { isPlainObject, parseSafeJson } from './json.ts';
import type { SessionState } from './payload.ts';
import type { TimeoutPolicy } from './policy.ts';

/** The old library's session, as a reader decoded it. Times are UTC milliseconds. */
export interface LegacySession {
  /** The session's data: a JSON object (the old library's own fields, such as `cookie`, left out). */
  readonly data: Record<string, unknown>;
  /** The signed-in user, when the old session names one (Passport's `passport.user`, for example). */
  readonly userId?: string | undefined;
  /** When the old session began, if the old library recorded it. */
  readonly createdAt?: number | undefined;
  /** When the old session would have ended: the Latchkey session ends no later. */
  readonly expiresAt?: number | undefined;
}

/**
 * A cookie the old library set, to expire once its session has moved (when the request carried it):
 * its name, Path and Domain.
 */
export interface LegacyCookie {
  readonly name: string;
  /** Default `/`. */
  readonly path?: string | undefined;
  readonly domain?: string | undefined;
  /** Send the deletion with Secure (needed for `__Secure-` and `__Host-` names). Default false. */
  readonly secure?: boolean | undefined;
}

/** What a reader is given: the request's cookies by name (every value sent, in order). */
export interface LegacyRequest {
  /** Every value of the cookie `name` in the request, in order; empty when it was not sent. */
  cookies(name: string): readonly string[];
  /** The request time (UTC ms), from the sessions' clock. */
  readonly now: number;
}

/**
 * Reads one old library's session cookie. Write your own for a library Latchkey has no reader for.
 *
 * - `read()` returns the old session, or `undefined` for anything it does not accept: a forged,
 *   tampered, malformed or expired cookie, or an unknown session id. It may be async (a store read).
 *   To report an outage of the old store, throw a LatchkeyError with code
 *   `ERR_LATCHKEY_STORE_UNAVAILABLE`: the request then fails as on a Latchkey store outage, and the user
 *   is migrated on a later request. Anything else it throws counts as "not accepted".
 * - `migrated()`, if given, runs after the new session's cookie lines were made (to delete the old
 *   record, say); what it throws or rejects with is ignored.
 *
 * @example
 * ```ts
 * import type { LegacyReader } from 'latchkey/legacy';
 *
 * // An (unsigned!) example: a real reader must verify a signature or a seal.
 * const plainJson: LegacyReader = {
 *   name: 'plain-json',
 *   cookieNames: ['prefs'],
 *   expire: [{ name: 'prefs' }],
 *   read(request) {
 *     const [value] = request.cookies('prefs');
 *     return value === undefined ? undefined : { data: { theme: value } };
 *   },
 * };
 * ```
 */
export interface LegacyReader {
  /** For events and errors, such as 'express-session'. */
  readonly name: string;
  /** The reader is asked only when one of these cookies is in the request. */
  readonly cookieNames: readonly string[];
  /** The cookies to expire once the session has moved (with the Path and Domain the old library used). */
  readonly expire: readonly LegacyCookie[];
  /** True when read() never returns a promise: cookie mode then keeps its synchronous fast path. */
  readonly synchronous?: boolean | undefined;
  read(request: LegacyRequest): LegacySession | undefined | Promise<LegacySession | undefined>;
  migrated?: ((request: LegacyRequest) => void | Promise<void>) | undefined;
}

/** A migration in progress on one request: the cookie lines to add to its response, and the clean-up. */
export interface LegacyMigration {
  readonly lines: readonly string[];
  readonly done: (() => void | Promise<void>) | undefined;
}

/** What a reader found: the new session's state and its migration, or 'invalid'; undefined: no cookie. */
export type LegacyFound = { state: SessionState; migration: LegacyMigration; from: string } | 'invalid';

const NOT_ACCEPTED = undefined;

/** The `legacy` and `legacyUntil` options, checked at start-up; undefined when `legacy` is not set. */
export function resolveLegacy(legacy: unknown, until: unknown): LegacyReaders | undefined {
  if (legacy === undefined) {
    if (until !== undefined) throw new ConfigError('legacyUntil is for the legacy option: pass both');
    return undefined;
  }
  if (!Array.isArray(legacy) || legacy.length === 0) {
    throw new ConfigError('legacy must be a non-empty array of legacy readers (from latchkey/legacy)');
  }
  for (const reader of legacy as LegacyReader[]) {
    if (
      typeof reader?.read !== 'function' ||
      typeof reader.name !== 'string' ||
      !Array.isArray(reader.cookieNames) ||
      reader.cookieNames.length === 0 ||
      !Array.isArray(reader.expire)
    ) {
      throw new ConfigError('legacy: each reader needs name, cookieNames, expire and read()');
    }
  }
  // Reading old cookies is a switch-over measure with an end: refusing to run without one keeps the
  // old formats (and their weaker crypto) from staying accepted forever.
  const endsAt =
    until instanceof Date ? until.getTime() : typeof until === 'string' ? Date.parse(until) : Number.NaN;
  if (!Number.isFinite(endsAt)) {
    throw new ConfigError(
      "legacy needs legacyUntil: the date (a Date or an ISO string such as '2027-03-01') after which old cookies are ignored",
    );
  }
  return new LegacyReaders(legacy as LegacyReader[], endsAt);
}

/** The configured readers, until their end date. */
export class LegacyReaders {
  readonly synchronous: boolean;
  /** Every cookie a reader may read or expire (its cookieNames and expire names: chunks too), once each. */
  readonly cookieNames: readonly string[];
  readonly #readers: readonly LegacyReader[];
  readonly #until: number;
  readonly #deletions: ReadonlyMap<LegacyReader, ReadonlyArray<readonly [name: string, line: string]>>;

  constructor(readers: readonly LegacyReader[], until: number) {
    this.#readers = readers;
    this.#until = until;
    this.synchronous = readers.every((reader) => reader.synchronous === true);
    this.cookieNames = Object.freeze([
      ...new Set(readers.flatMap((reader) => [...reader.cookieNames, ...reader.expire.map((c) => c.name)])),
    ]);
    // The deletions are the same on every migration: made (and their names checked) once, here.
    this.#deletions = new Map(
      readers.map((reader) => [
        reader,
        reader.expire.map((cookie) => [cookie.name, deletionOf(cookie, reader.name)] as const),
      ]),
    );
  }

  /**
   * The reader whose cookie the request carries, or undefined (also after legacyUntil). Costs one
   * substring test per cookie name on a request that carries none of them.
   */
  #readerFor(readCookie: (name: string) => readonly string[], now: number): LegacyReader | undefined {
    if (now >= this.#until) return undefined;
    for (const reader of this.#readers) {
      for (const name of reader.cookieNames) if (readCookie(name).length > 0) return reader;
    }
    return undefined;
  }

  /** Try the readers; a promise only when the reader is asynchronous. */
  find(
    readCookie: (name: string) => readonly string[],
    clock: Clock,
    policy: TimeoutPolicy,
  ): LegacyFound | undefined | Promise<LegacyFound | undefined> {
    const now = clock.now();
    const reader = this.#readerFor(readCookie, now);
    if (reader === undefined) return undefined;
    const request: LegacyRequest = { cookies: readCookie, now };
    let result: ReturnType<LegacyReader['read']>;
    try {
      result = reader.read(request);
    } catch (error) {
      return rethrowOutage(error);
    }
    const finish = (session: LegacySession | undefined): LegacyFound => {
      const state = session === undefined ? undefined : migratedState(session, policy, now);
      if (state === undefined) return 'invalid';
      const migrated = reader.migrated;
      const done = migrated === undefined ? undefined : () => migrated.call(reader, request);
      // Only the old cookies the request carried are expired.
      const lines = this.#deletions
        .get(reader)!
        .filter(([name]) => readCookie(name).length > 0)
        .map(([, line]) => line);
      return { state, migration: { lines, done }, from: reader.name };
    };
    if (result instanceof Promise) return result.then(finish, (error) => rethrowOutage(error));
    return finish(result);
  }
}

function rethrowOutage(error: unknown): 'invalid' {
  if (error instanceof LatchkeyError && error.code === 'ERR_LATCHKEY_STORE_UNAVAILABLE') throw error;
  return 'invalid';
}

function deletionOf(cookie: LegacyCookie, reader: string): string {
  const attributes: SetCookieAttributes = { path: cookie.path ?? '/' };
  if (cookie.domain !== undefined) attributes.domain = cookie.domain;
  if (cookie.secure === true) attributes.secure = true;
  try {
    return serializeCookieDeletion(cookie.name, attributes);
  } catch (error) {
    throw new ConfigError(`legacy reader '${reader}': cannot expire cookie '${cookie.name}'`, {
      cause: error,
    });
  }
}

/**
 * The Latchkey session a legacy session becomes: its data (hardened JSON: no prototype keys, bounded
 * depth) and user, fresh idle clock, and an absolute deadline no later than the old session's end.
 * The old sign-in time counts when it lies within the absolute timeout; an older or unknown one starts
 * the clock at the migration, so that nobody is signed out by the switch.
 */
function migratedState(session: LegacySession, policy: TimeoutPolicy, now: number): SessionState | undefined {
  if (session === null || typeof session !== 'object') return NOT_ACCEPTED;
  let data: unknown;
  try {
    data = parseSafeJson(JSON.stringify(session.data ?? {}));
  } catch {
    return NOT_ACCEPTED; // a cycle or a BigInt: not a JSON session
  }
  if (!isPlainObject(data)) return NOT_ACCEPTED;
  const { userId, createdAt, expiresAt } = session;
  if (userId !== undefined && !isUserId(userId)) return NOT_ACCEPTED;
  if (expiresAt !== undefined && !(typeof expiresAt === 'number' && expiresAt > now)) return NOT_ACCEPTED;
  const started =
    typeof createdAt === 'number' && createdAt <= now && createdAt > now - policy.absoluteTimeout
      ? Math.floor(createdAt)
      : now;
  const absoluteDeadline = Math.min(started + policy.absoluteTimeout, Math.floor(expiresAt ?? Infinity));
  return {
    createdAt: started,
    lastActiveAt: now,
    absoluteDeadline,
    userId,
    data,
    flash: undefined,
  };
}

/**
 * The Set-Cookie lines to send for a session, with the old cookies' deletions after them when the
 * session was migrated on this request and not yet sent.
 */
export function withLegacyLines(lines: string[], migration: LegacyMigration | undefined): string[] {
  return migration === undefined ? lines : [...lines, ...migration.lines];
}

/** After the first commit that sent a migrated session: the reader's clean-up, whose failure is ignored. */
export function finishMigration(migration: LegacyMigration): void {
  try {
    const pending = migration.done?.();
    if (pending instanceof Promise) pending.catch(() => {});
  } catch {
    // The old record stays until its own expiry: harmless, and nothing to tell the user.
  }
}
