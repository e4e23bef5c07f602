/**
 * Store mode: scheduled token renewal with a grace window, and stolen-token detection (checklist #27).
 *
 * Every `every`, the token of a session is replaced on a request's load: the record is copied under a
 * new random token's store key (insert-if-absent), and the old key's record becomes a *link*
 * (compare-and-set on its version): a small sealed record naming the new store key and the end of the
 * grace window. Both are ordinary records to a store, so every store keeps them with no change, and ids
 * stay hashes (a link holds the new store key, never a token). Only the renewing request is sent the new
 * token.
 *
 * Designed against the race that sank the first attempt, where a second tab's response wrote the old
 * token back over the new one, and the tab was signed out when the grace ended:
 *  - of requests renewing one session at once, only the one whose compare-and-set lands renews; the
 *    others (and a write that landed on the old record meanwhile, which makes the swap fail: no lost
 *    update) go on with the old token;
 *  - a request presenting the old token within the grace follows the link to the same session, and one
 *    that loaded the old record before the swap and writes after it meets the link at its compare-and-set
 *    and re-applies its changes on the renewed record (whatever the time: it was let in while the token
 *    was current). Such a request is *silent*: it never sends the session cookie, so the new token the
 *    browser got from the renewing response stays;
 *  - after the grace, the old token presented again means two holders (OAuth 2.0 Security BCP §4.14,
 *    refresh-token reuse detection): the whole session — the record and every link met on the way — is
 *    deleted and a `token-reuse` event names it. The old token is never exchanged for the new one, so a
 *    thief replaying it cannot catch up with the victim's renewal: one of the two is left with the old
 *    token, and its next request after the grace ends the session for both.
 */
import { encodeBase64url } from '../crypto/base64url.ts';
import { sha256 } from '../crypto/hmac.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { newToken } from '../crypto/random.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import { ConfigError } from '../errors.ts';
import { isStoreKey, isTime, type SessionStore, type StoredRecord } from '../stores/types.ts';
import type { SessionEvent } from './events.ts';
import type { SessionState } from './payload.ts';
import { type Duration, parseDuration, type TimeoutPolicy } from './policy.ts';
import type { StoreBacking } from './session.ts';

/** `createSessions({ tokenRenewal })`: renew store-mode tokens on a schedule. */
export interface TokenRenewalOptions {
  /** How long a token lives before a request renews it, such as `'15m'`. At least 10 s. */
  every: Duration;
  /**
   * How long the old token keeps working after a renewal, for requests already in flight (parallel
   * tabs, slow uploads); default `'30s'`. After it, the old token ends the whole session.
   */
  grace?: Duration | undefined;
}

export interface RenewalPolicy {
  readonly every: number;
  readonly grace: number;
}

/** The sealed payload field holding when the record's token was issued (UTC ms). */
export const ISSUED_AT = 'r';
const LINK_PURPOSE = 'renewal-link';
/** Links followed for one request at most: a chain longer than this is no session. */
const MAX_HOPS = 64;
const MIN_EVERY = 10_000;
const MAX_GRACE = 5 * 60_000;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Check `tokenRenewal` at start-up (a coded ConfigError for anything off). */
export function resolveTokenRenewal(
  value: unknown,
  context: { store: boolean; cookieCache: boolean; policy: TimeoutPolicy },
): RenewalPolicy | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object')
    throw new ConfigError("tokenRenewal must be an object such as { every: '15m', grace: '30s' }");
  const options = value as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (key !== 'every' && key !== 'grace') throw new ConfigError(`unknown tokenRenewal option '${key}'`);
  }
  if (!context.store)
    throw new ConfigError('tokenRenewal needs store mode: a cookie-mode session has no token');
  if (context.cookieCache) {
    // A cached snapshot lets requests skip the store, so they would neither see a link nor renew, and a
    // snapshot under the old token would outlive the grace: the two cannot be combined safely.
    throw new ConfigError('tokenRenewal cannot be combined with cookieCache: choose one');
  }
  const every = parseDuration(options.every, 'tokenRenewal.every');
  const grace = options.grace === undefined ? 30_000 : parseDuration(options.grace, 'tokenRenewal.grace');
  if (every < MIN_EVERY || every > context.policy.absoluteTimeout) {
    throw new ConfigError('tokenRenewal.every must be at least 10 s and at most absoluteTimeout');
  }
  if (grace < 1000 || grace > MAX_GRACE || grace * 2 > every) {
    throw new ConfigError('tokenRenewal.grace must be from 1 s to 5 min, and at most half of every');
  }
  return { every, grace };
}

/** base64url(SHA-256(token)), as store-mode.ts makes it (kept here so the two files need no circle). */
function storeKeyOfToken(token: string): string {
  return encodeBase64url(sha256(token));
}

/** Where a renewed token went: the new record's store key, and until when the old token still counts. */
export interface RenewalLink {
  readonly to: string;
  readonly graceUntil: number;
}

/** The record that replaces the old key's: the link, sealed with the old store key in the AAD. */
export function linkRecord(
  keyring: Keyring,
  fromKey: string,
  link: RenewalLink,
  old: StoredRecord,
  now: number,
): StoredRecord {
  const sealed = sealValue(
    keyring,
    LINK_PURPOSE,
    fromKey,
    utf8.encode(JSON.stringify({ v: 1, to: link.to, g: link.graceUntil })),
  );
  return {
    sealed,
    // No userId: a link is no device of its own in listByUser.
    createdAt: old.createdAt,
    lastSeenAt: now,
    // Kept (for reuse detection) as long as the session itself could have lasted.
    expiresAt: Math.max(link.graceUntil, old.absoluteAt),
    absoluteAt: Math.max(link.graceUntil, old.absoluteAt),
    version: old.version + 1,
  };
}

/** The link a record holds, or undefined when it is none (a session record, or anything else). */
export function openLink(keyring: Keyring, storeKey: string, record: StoredRecord): RenewalLink | undefined {
  const opened = openValue(keyring, LINK_PURPOSE, storeKey, record.sealed, 4096);
  if (!opened.ok) return undefined;
  try {
    const value = JSON.parse(utf8Decoder.decode(opened.plaintext)) as Record<string, unknown>;
    if (value?.v !== 1 || !isStoreKey(value.to) || !isTime(value.g)) return undefined;
    return { to: value.to, graceUntil: value.g };
  } catch {
    return undefined;
  }
}

/** A session record opened: its state, and the integer fields sealed beside it. */
export type Opened = { state: SessionState; extra: Record<string, number> | undefined };

/** One store read in store mode: a live session, an expired one, or none. */
export type Loaded = {
  state: SessionState;
  backing: StoreBacking;
  staleKid: string | undefined;
  fromCache: boolean;
};

/** What renewal needs from StoreSessions: its store calls, sealing, reading and events. */
export interface RenewalHost {
  readonly store: SessionStore;
  readonly keyring: Keyring;
  now(): number;
  call<R>(operation: () => Promise<R>): Promise<R>;
  event(event: SessionEvent): void;
  /** Read and open the record at `storeKey` (following links, `hops` deep so far). */
  load(token: string, storeKey: string, hops: number): Promise<Loaded | 'expired' | 'reused' | undefined>;
  /** Open a session record; undefined when it is no session record of ours. */
  open(storeKey: string, record: StoredRecord): Opened | undefined;
  /** Seal a session record for a backing. */
  seal(state: SessionState, backing: StoreBacking): StoredRecord;
  /** True when a "sign out everywhere" of the session's user covers it (src/core/store-mode.ts). */
  revoked(state: SessionState): Promise<boolean>;
}

export class TokenRenewal {
  readonly #host: RenewalHost;
  readonly #policy: RenewalPolicy | undefined;

  constructor(host: RenewalHost, policy: RenewalPolicy | undefined) {
    this.#host = host;
    this.#policy = policy;
  }

  get enabled(): boolean {
    return this.#policy !== undefined;
  }

  /** The sealed extra fields a new record starts with: its token's issue time, when renewal is on. */
  issuedNow(now: number): Record<string, number> | undefined {
    return this.#policy === undefined ? undefined : { [ISSUED_AT]: now };
  }

  /**
   * A link met at load: within its grace, the session it leads to (silent: the old token is never sent
   * back, nor exchanged for the new one); after it, the old token is in two hands, and the whole
   * session ends ('reused').
   */
  async presented(
    token: string,
    storeKey: string,
    link: RenewalLink,
    hops: number,
  ): Promise<Loaded | 'expired' | 'reused' | undefined> {
    const host = this.#host;
    if (hops >= MAX_HOPS) return undefined;
    if (host.now() >= link.graceUntil) {
      const ended = await this.#revokeChain(storeKey, link);
      // The session was over already (signed out, revoked, expired): only an unknown token now.
      if (ended === undefined) return undefined;
      host.event(
        ended.userId === undefined ? { type: 'token-reuse' } : { type: 'token-reuse', userId: ended.userId },
      );
      return 'reused';
    }
    const found = await host.load(token, link.to, hops + 1);
    if (typeof found === 'object') found.backing.silent = true;
    return found;
  }

  /** Whether the loaded session's token is due for renewal. */
  due(loaded: Loaded, now: number): boolean {
    if (this.#policy === undefined) return false;
    const issuedAt = loaded.backing.extra?.[ISSUED_AT] ?? loaded.state.createdAt;
    return now - issuedAt >= this.#policy.every;
  }

  /**
   * Renew the loaded session's token: insert the copy under a new key, then swap the old record for
   * the link (compare-and-set). The loaded session comes back unchanged when another request renewed
   * or wrote it meanwhile (its link or its newer version catches this request's writes), and undefined
   * when the record was deleted meanwhile.
   */
  async renew(loaded: Loaded, record: StoredRecord, now: number): Promise<Loaded | undefined> {
    const host = this.#host;
    const policy = this.#policy!;
    const old = loaded.backing;
    const token = newToken();
    const backing: StoreBacking = {
      token,
      storeKey: storeKeyOfToken(token),
      version: 1,
      label: old.label,
      extra: { ...old.extra, [ISSUED_AT]: now },
      renewed: true,
    };
    const copy = host.seal(loaded.state, backing);
    // A collision of 256-bit random keys is no renewal this time (checklist #4: never overwrite).
    if (!(await host.call(() => host.store.create(backing.storeKey, copy)))) return loaded;
    // "Sign out everywhere" may have enumerated the user's sessions before this copy existed and delete
    // the old record only after the swap below made it a link (no user's record): then the copy would
    // outlive it. Checked after the create, either that enumeration sees the copy or this sees the
    // revocation it wrote first.
    if (await host.revoked(loaded.state)) {
      await host.call(() => host.store.delete(backing.storeKey));
      await host.call(() => host.store.delete(old.storeKey));
      host.event({ type: 'revoked' });
      return undefined;
    }
    const link = linkRecord(
      host.keyring,
      old.storeKey,
      { to: backing.storeKey, graceUntil: now + policy.grace },
      record,
      now,
    );
    const swapped = await host.call(() => host.store.update(old.storeKey, link, old.version));
    if (swapped === 'ok') {
      host.event({ type: 'renewed' });
      return { ...loaded, backing };
    }
    // Renewed by another request, written or ended meanwhile: the copy is stale and nothing links to it.
    await host.call(() => host.store.delete(backing.storeKey));
    return swapped === 'missing' ? undefined : loaded;
  }

  /**
   * A compare-and-set met a link where the loaded record was: the session was renewed since this request
   * loaded it. Move the backing onto the renewed record (silent: this request's token is the old one)
   * and return that record, or undefined when the chain leads nowhere (the session ended).
   */
  async followForWrite(
    backing: StoreBacking,
    record: StoredRecord,
  ): Promise<{ record: StoredRecord; opened: Opened } | undefined> {
    const host = this.#host;
    let current = record;
    for (let hops = 0; hops < MAX_HOPS; hops++) {
      const link = openLink(host.keyring, backing.storeKey, current);
      if (link === undefined) return undefined;
      const next = await host.call(() => host.store.get(link.to));
      if (!next) return undefined;
      backing.storeKey = link.to;
      backing.silent = true;
      const opened = host.open(link.to, next);
      if (opened !== undefined) return { record: next, opened };
      current = next;
    }
    return undefined;
  }

  /**
   * Delete a session record and, with renewal on, the session it was renewed into (a sign-out or a
   * rotation through an old token must end the renewed record too). True when a live record was there.
   */
  async deleteSession(storeKey: string): Promise<boolean> {
    const host = this.#host;
    if (this.#policy !== undefined) {
      const record = await host.call(() => host.store.get(storeKey));
      const link = record ? openLink(host.keyring, storeKey, record) : undefined;
      if (link !== undefined) {
        await this.#revokeChain(storeKey, link);
        return true;
      }
    }
    return host.call(() => host.store.delete(storeKey));
  }

  /**
   * Delete every link from `storeKey` on and the session record it ends at. The ended session (its
   * user, if signed in), or undefined when the chain led to no live session.
   */
  async #revokeChain(
    storeKey: string,
    link: RenewalLink,
  ): Promise<{ userId: string | undefined } | undefined> {
    const host = this.#host;
    const keys = [storeKey];
    let ended: { userId: string | undefined } | undefined;
    let next: RenewalLink | undefined = link;
    for (let hops = 0; next !== undefined && hops < MAX_HOPS; hops++) {
      const key: string = next.to;
      keys.push(key);
      const record = await host.call(() => host.store.get(key));
      if (!record) break;
      next = openLink(host.keyring, key, record);
      if (next === undefined && host.open(key, record) !== undefined) ended = { userId: record.userId };
    }
    for (const key of keys) await host.call(() => host.store.delete(key));
    return ended;
  }
}
