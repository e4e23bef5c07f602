import { encodeBase64url } from '../crypto/base64url.ts';
import { sha256 } from '../crypto/hmac.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { isTokenText } from '../crypto/random.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { ConflictError } from '../errors.ts';
import { callStore, type SessionStore, type StoredRecord } from '../stores/types.ts';
import type { Clock } from './clock.ts';
import { hasKeys, isPlainObject } from './json.ts';
import { openPayloadObject, type SessionState } from './payload.ts';
import type { TimeoutPolicy } from './policy.ts';

/**
 * Past this many signed-out sessions listed in one record, the record stops listing them and ends every
 * session it covers that began before now instead: safe, and the record stays small.
 */
export const MAX_DENIED_SESSIONS = 500;

/** What one revocation record says. Times are UTC ms. */
interface Revoked {
  /** Sessions whose sign-in time (authTime, else createdAt) is at or before this are refused. */
  notBefore: number;
  /** Single sessions that signed out, each until its absolute deadline (plus the skew allowance). */
  denied: Record<string, number>;
  /**
   * Store mode's "sign out everywhere else": the session kept, with the not-before time it was kept
   * through. A later revocation raises notBefore past it, and then it no longer counts.
   */
  kept: Record<string, number>;
}

const NOTHING_REVOKED: Revoked = Object.freeze({
  notBefore: -1,
  denied: Object.freeze({}),
  kept: Object.freeze({}),
});

/**
 * The id of a signed-in session sealed before revocation was configured, which has none of its own: made
 * from what every copy of that cookie holds, so that its sign-out ends all of them.
 */
export function sessionIdOf(state: SessionState & { userId: string }): string {
  if (state.sessionId !== undefined) return state.sessionId;
  return encodeBase64url(
    sha256(`latchkey/v1|session-id|${state.createdAt}|${state.absoluteDeadline}|${state.userId}`),
  );
}

/**
 * Which record covers sign-ins of `userId` at `signedInAt` for sessions lasting at most `lifetime` ms:
 * one record per user and lifetime-long window of sign-in times. All its sessions have ended by the end
 * of the next window, when the record expires; so a write never meets an expired record still in the
 * store (which `create` would refuse to replace).
 */
export function revocationRecord(userId: string, lifetime: number, signedInAt: number) {
  const window = Math.floor(signedInAt / lifetime);
  const key = encodeBase64url(sha256(`latchkey/v1|revocation|${lifetime}|${window}|${userId}`));
  return { key, expiresAt: (window + 2) * lifetime };
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= -1;
}

/** The sealed JSON (UTF-8, version 1), checked field by field; undefined for anything malformed. */
function decodeRevoked(plaintext: Uint8Array): Revoked | undefined {
  const value = openPayloadObject(plaintext);
  if (!value || !isTime(value.nb) || !isPlainObject(value.deny)) return undefined;
  const denied = idTimes(value.deny);
  const kept = value.keep === undefined ? Object.create(null) : idTimes(value.keep);
  if (denied === undefined || kept === undefined) return undefined;
  return { notBefore: value.nb, denied, kept };
}

/** A sealed map of session ids to times, checked entry by entry; undefined for anything malformed. */
function idTimes(value: unknown): Record<string, number> | undefined {
  if (!isPlainObject(value)) return undefined;
  const times: Record<string, number> = Object.create(null);
  for (const [sessionId, time] of Object.entries(value)) {
    if (!isTokenText(sessionId) || !isTime(time)) return undefined;
    times[sessionId] = time;
  }
  return times;
}

/**
 * Cookie mode's per-user revocation (DESIGN.md §6, checklist #41). A sealed cookie cannot be recalled,
 * so with `createSessions({ revocation: store })` a user with something revoked has a record in any
 * Latchkey store: a not-before time (sign out everywhere) and the ids of single sessions that signed
 * out, each listed until that session would have expired anyway. A signed-in request reads its record
 * once; anonymous requests never touch the store.
 *
 * Records are keyed by user and window of sign-in time (see revocationRecord), so each expires once
 * nothing it covers can be live. A session kept by "sign out everywhere else" gets a sign-in time
 * (`authTime`) just after this server's time of the revocation, and so does a sign-in of that user in
 * the same millisecond. A record is sealed (purpose `revocation`, its key in the AAD); one that
 * no longer opens (its key was retired) still ends every session it covers that began before its last
 * write. Writes are compare-and-set, so concurrent sign-outs of one user are all kept.
 *
 * Store mode keeps the same records in its session store for "sign out everywhere": written before the
 * user's records are deleted, read only by a renewal's copy or a rotation's new record after its create
 * (src/core/store-mode.ts). There the session "everywhere else" keeps is named in the record (`keep`).
 * @internal
 */
export class Revocations {
  readonly #store: SessionStore;
  readonly #keyring: Keyring;
  readonly #policy: TimeoutPolicy;
  readonly #clock: Clock;
  readonly #maxRetries: number;
  /**
   * Per user, the local time at which this process last ended sessions up to now (revokeUser, or a
   * record that overflowed): a sign-in in that same millisecond is stamped just after it. Only entries
   * of the current millisecond matter; older ones are dropped as new ones come.
   */
  readonly #revokedAt = new Map<string, number>();

  constructor(init: {
    store: SessionStore;
    keyring: Keyring;
    policy: TimeoutPolicy;
    clock: Clock;
    maxRetries: number;
  }) {
    this.#store = init.store;
    this.#keyring = init.keyring;
    this.#policy = init.policy;
    this.#clock = init.clock;
    this.#maxRetries = init.maxRetries;
  }

  /**
   * The records that cover a signed-in session: the one for the lifetime it was signed in with (its
   * sealed deadline less its sign-in time), and, when absoluteTimeout has changed since, the one that
   * revokeUser writes now.
   */
  #recordsOf(state: SessionState & { userId: string }): string[] {
    const lifetime = state.absoluteDeadline - state.createdAt;
    const own = revocationRecord(state.userId, lifetime, state.createdAt).key;
    if (lifetime === this.#policy.absoluteTimeout || lifetime <= 0) return [own];
    return [own, revocationRecord(state.userId, this.#policy.absoluteTimeout, state.createdAt).key];
  }

  /** True when a live, signed-in session was revoked. Rejects with StoreUnavailable in an outage. */
  async isRevoked(state: SessionState): Promise<boolean> {
    if (state.userId === undefined) return false;
    const signedIn = state as SessionState & { userId: string };
    const keys = this.#recordsOf(signedIn);
    const records = await Promise.all(keys.map((key) => callStore('revocation', () => this.#store.get(key))));
    const signedInAt = state.authTime ?? state.createdAt;
    const id = sessionIdOf(signedIn);
    return records.some((record, i) => {
      if (!record) return false;
      const revoked = this.#open(keys[i]!, record);
      const ended = signedInAt <= revoked.notBefore && revoked.kept[id] !== revoked.notBefore;
      return ended || Object.hasOwn(revoked.denied, id);
    });
  }

  /**
   * The sign-in time for the user's session signing in (or kept) at `signedInAt`: undefined (its
   * createdAt) unless this process ended the user's sessions in that same millisecond, which would
   * refuse it; then the next millisecond. Never a time ahead of this server's clock by more than 1 ms.
   */
  authTimeFor(userId: string, signedInAt: number): number | undefined {
    const revokedAt = this.#revokedAt.get(userId);
    return revokedAt !== undefined && signedInAt <= revokedAt ? revokedAt + 1 : undefined;
  }

  #remember(userId: string, now: number): void {
    for (const [user, at] of this.#revokedAt) if (at < now) this.#revokedAt.delete(user);
    this.#revokedAt.set(userId, now);
  }

  /**
   * End every session of the user that signed in until now (this server's clock), which it resolves
   * to. The records of this
   * window of sign-in times and the one before (and, for a server whose clock lags by up to clockSkew,
   * the one before that) hold every session that may still be live. `keep`: the id of one session
   * (sessionIdOf) to leave out, for store mode's "sign out everywhere else"; cookie mode gives the kept
   * session a later sign-in time instead.
   */
  async revokeUser(userId: string, keep?: string): Promise<number> {
    const now = this.#clock.now();
    const lifetime = this.#policy.absoluteTimeout;
    const records = new Map<string, { key: string; expiresAt: number }>();
    for (const signedInAt of [now, now - lifetime, now - lifetime - this.#policy.clockSkew]) {
      const record = revocationRecord(userId, lifetime, Math.max(0, signedInAt));
      records.set(record.key, record);
    }
    for (const record of records.values()) {
      await this.#change(record, (current) => {
        const notBefore = Math.max(current.notBefore, now);
        // An entry kept through an earlier notBefore is dropped when the record is built (#build).
        const kept = keep === undefined ? current.kept : { ...current.kept, [keep]: notBefore };
        return { notBefore, denied: current.denied, kept };
      });
    }
    this.#remember(userId, now);
    return now;
  }

  /**
   * End one signed-in session (a sign-out) until its absolute deadline. Resolves to true when it had
   * already been revoked (by a request that ran while this one was under way): then nothing of it
   * may be carried into a new cookie value.
   */
  async revokeSession(state: SessionState & { userId: string }): Promise<boolean> {
    const lifetime = state.absoluteDeadline - state.createdAt;
    const now = this.#clock.now();
    const deadline = Math.min(state.absoluteDeadline, state.createdAt + this.#policy.absoluteTimeout);
    // Past its deadline the cookie opens nowhere (within the skew allowance, whose record outlives it).
    if (lifetime <= 0 || now >= deadline) return true;
    const record = revocationRecord(state.userId, lifetime, state.createdAt);
    // A server whose clock lags by up to clockSkew may accept the cookie a little past its deadline.
    const until = deadline + this.#policy.clockSkew;
    const id = sessionIdOf(state);
    const signedInAt = state.authTime ?? state.createdAt;
    let already = false;
    const written = await this.#change(record, (current) => {
      already = signedInAt <= current.notBefore || Object.hasOwn(current.denied, id);
      return { ...current, denied: { ...current.denied, [id]: until } };
    });
    if (written.overflowed) this.#remember(state.userId, written.notBefore);
    return already;
  }

  /**
   * Read, change and compare-and-set one record, retrying on a concurrent write; resolves to what was
   * written. A key that stays unreadable yet taken (a corrupt or foreign row) is a coded conflict.
   */
  async #change(
    target: { key: string; expiresAt: number },
    change: (current: Revoked) => Revoked,
  ): Promise<Revoked & { overflowed: boolean }> {
    const { key } = target;
    let blocked = 0;
    for (let attempt = 0; attempt <= this.#maxRetries && blocked < 2; attempt++) {
      const record = await callStore('revocation', () => this.#store.get(key));
      const wanted = change(record ? this.#open(key, record) : NOTHING_REVOKED);
      const next = this.#record(key, target.expiresAt + this.#policy.clockSkew, record, wanted);
      const done = record
        ? (await callStore('revocation', () => this.#store.update(key, next.record, record.version))) === 'ok'
        : await callStore('revocation', () => this.#store.create(key, next.record));
      if (done) return next.revoked;
      blocked = record ? 0 : blocked + 1;
    }
    throw new ConflictError(
      blocked >= 2
        ? 'a revocation record cannot be written: the store holds an unreadable or expired row under its key'
        : 'a revocation record kept changing under concurrent writes',
    );
  }

  #open(key: string, record: StoredRecord): Revoked {
    const opened = openValue(this.#keyring, 'revocation', key, record.sealed);
    const revoked = opened.ok ? decodeRevoked(opened.plaintext) : undefined;
    // Unreadable (a retired key, or an edit in the store): fail closed, as of the record's last write.
    return (
      revoked ?? { notBefore: record.lastSeenAt, denied: NOTHING_REVOKED.denied, kept: NOTHING_REVOKED.kept }
    );
  }

  /** The record to write, with the sign-outs whose cookies have expired by themselves dropped. */
  #record(
    key: string,
    expiresAt: number,
    previous: StoredRecord | null,
    wanted: Revoked,
  ): { record: StoredRecord; revoked: Revoked & { overflowed: boolean } } {
    const now = this.#clock.now();
    const denied: Record<string, number> = Object.create(null);
    let count = 0;
    for (const [sessionId, until] of Object.entries(wanted.denied)) {
      if (until > now) {
        denied[sessionId] = until;
        count++;
      }
    }
    let { notBefore, kept } = wanted;
    const overflowed = count > MAX_DENIED_SESSIONS;
    if (overflowed) {
      // Too many to list: end them all, and every other session of the record signed in until now.
      notBefore = Math.max(notBefore, now);
      for (const sessionId of Object.keys(denied)) delete denied[sessionId];
    }
    // Only entries kept through the current notBefore still mean anything.
    const keep: Record<string, number> = Object.create(null);
    for (const [sessionId, at] of Object.entries(kept)) if (at === notBefore) keep[sessionId] = at;
    kept = keep;
    const text = JSON.stringify({ v: 1, nb: notBefore, deny: denied, ...(hasKeys(keep) && { keep }) });
    const record: StoredRecord = {
      sealed: sealValue(this.#keyring, 'revocation', key, text),
      createdAt: previous?.createdAt ?? now,
      lastSeenAt: now,
      expiresAt,
      absoluteAt: expiresAt,
      version: (previous?.version ?? 0) + 1,
    };
    return { record, revoked: { notBefore, denied, kept, overflowed } };
  }
}
