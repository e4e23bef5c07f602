/**
 * Store mode's token renewal (`tokenRenewal: { every, grace }`, checklist #27): every `every`, a
 * session moves to a new token, and the old token's record becomes a forwarding record that names the
 * session's new store key and the end of a short grace window. Requests already under way with the old
 * token, or sent before the browser saw the new cookie, still reach the session until then, and never
 * get the new token; after it the old token is dead.
 *
 * The moves are compare-and-set on the old record's version, so a move, a concurrent write and a
 * sign-out never cross: whichever lands first wins, and the others follow the forwarding record or
 * give up. @internal
 */

import type { Keyring } from '../crypto/keyring.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { ConflictError } from '../errors.ts';
import type { SessionStore, StoredRecord } from '../stores/types.ts';
import type { Clock } from './clock.ts';
import type { SessionState } from './payload.ts';
import { decodeRenewal, encodeRenewal } from './payload.ts';
import type { StoreBacking } from './session.ts';

export interface RenewalPolicy {
  /** How long a token serves before the session moves to a new one (ms). */
  readonly every: number;
  /** How long the old token still works after the move (ms). */
  readonly grace: number;
}

/** Where a renewed token's record sends its requests. */
export interface Forward {
  /** The store key of the session's record. */
  readonly to: string;
  /** The end of the grace window (UTC ms). */
  readonly until: number;
}

export class TokenRenewal {
  readonly #policy: RenewalPolicy;
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #store: SessionStore;
  readonly #call: <R>(operation: () => Promise<R>) => Promise<R>;
  readonly #maxRetries: number;

  constructor(init: {
    policy: RenewalPolicy;
    keyring: Keyring;
    clock: Clock;
    store: SessionStore;
    call: <R>(operation: () => Promise<R>) => Promise<R>;
    maxRetries: number;
  }) {
    this.#policy = init.policy;
    this.#keyring = init.keyring;
    this.#clock = init.clock;
    this.#store = init.store;
    this.#call = init.call;
    this.#maxRetries = init.maxRetries;
  }

  /** True when the token behind `backing` has served `every`: this commit moves the session. */
  due(backing: StoreBacking, state: SessionState, now: number): boolean {
    return backing.token !== undefined && now - (backing.issuedAt ?? state.createdAt) >= this.#policy.every;
  }

  /**
   * The record the old token's key holds after a move to `to` (or, with `until` ≤ now, after a sign-out
   * that met no move: a record nobody can follow, deleted right after). Not a session: no user, no
   * data, and its version one past the record it replaces.
   */
  record(storeKey: string, version: number, to: string, until: number, now: number): StoredRecord {
    const expires = Math.max(until, now + 1000);
    return {
      sealed: sealValue(this.#keyring, 'store', storeKey, encodeRenewal(to, until)),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: expires,
      absoluteAt: expires,
      version,
    };
  }

  /** The record for a move of the session at `storeKey` (at `version`) to `to`, made at `now`. */
  moveRecord(storeKey: string, version: number, to: string, now: number): StoredRecord {
    return this.record(storeKey, version + 1, to, now + this.#policy.grace, now);
  }

  /** The forwarding record's contents, or undefined when `record` is something else. */
  open(storeKey: string, record: StoredRecord): Forward | undefined {
    if (record.userId !== undefined) return undefined;
    const result = openValue(this.#keyring, 'store', storeKey, record.sealed);
    return result.ok ? decodeRenewal(result.plaintext) : undefined;
  }

  /**
   * Where a request with the old token goes: the session's store key while the grace lasts, null once it
   * is over (or for a record a sign-out left), undefined when `record` is no forwarding record.
   */
  follow(storeKey: string, record: StoredRecord): string | null | undefined {
    const forward = this.open(storeKey, record);
    if (!forward) return undefined;
    return forward.to === storeKey || this.#clock.now() >= forward.until ? null : forward.to;
  }

  /**
   * End the session behind `backing` for good (a sign-out, or the old token of a regenerate): true when
   * a live session ended here. A plain delete could remove the forwarding record of a move that landed
   * after this request loaded the session, and leave the session itself alive under its new token; a
   * compare-and-set either lands before any move (which then fails) or finds the move and follows it.
   */
  async end(backing: StoreBacking): Promise<boolean> {
    let storeKey = backing.storeKey;
    let version = backing.version;
    for (let attempt = 0; ; attempt++) {
      const now = this.#clock.now();
      const ended = this.record(storeKey, version + 1, storeKey, now, now);
      const result = await this.#call(() => this.#store.update(storeKey, ended, version));
      if (result === 'missing') return false;
      if (result === 'ok') {
        await this.#call(() => this.#store.delete(storeKey));
        return true;
      }
      if (attempt >= this.#maxRetries) {
        throw new ConflictError(`ending a session conflicted ${attempt + 1} times; giving up`);
      }
      const fresh = await this.#call(() => this.#store.get(storeKey));
      if (!fresh) return false;
      const forward = this.open(storeKey, fresh);
      if (forward === undefined) {
        version = fresh.version; // a concurrent write: end the fresher record
        continue;
      }
      if (forward.to === storeKey) return false; // ended by another request
      // Moved since this request loaded it: end it where it went, and drop the forwarding record.
      await this.#call(() => this.#store.delete(storeKey));
      const target = await this.#call(() => this.#store.get(forward.to));
      if (!target) return false;
      storeKey = forward.to;
      version = target.version;
    }
  }
}
