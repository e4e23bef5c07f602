/**
 * The contract between Latchkey's core and a session store (DESIGN.md §6). Every shipped store passes
 * `describeStoreConformance` from `latchkey/testing`; a third-party store can run it too.
 *
 * What stores never see: the session token (only `storeKey` = base64url(SHA-256(token))), and the
 * session data in clear (only `sealed`, authenticated with the store key as additional data).
 */

import { isTokenText } from '../crypto/random.ts';
import { LatchkeyError, StoreUnavailable } from '../errors.ts';

/** One session as a store keeps it. Times are UTC milliseconds. */
export interface StoredRecord {
  /** The session's data, sealed (purpose `store`, the store key in the AAD): opaque to the store. */
  readonly sealed: string;
  /** The signed-in user, for listByUser/deleteByUser; absent for anonymous sessions. */
  readonly userId?: string | undefined;
  readonly createdAt: number;
  /** When the record stops being valid: min(lastSeenAt + idle, absoluteAt). `get` treats it as gone then. */
  readonly expiresAt: number;
  /** createdAt + absolute timeout: activity never moves it. */
  readonly absoluteAt: number;
  readonly lastSeenAt: number;
  /** Compare-and-set counter: 1 at create, +1 on every update. */
  readonly version: number;
  /** A short, display-only label for device lists (from the User-Agent), never used for security. */
  readonly label?: string | undefined;
}

/** What `listByUser` returns: enough for a "your devices" page, never the token. */
export interface StoredMeta {
  readonly storeKey: string;
  readonly userId: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly expiresAt: number;
  readonly label?: string | undefined;
}

export type UpdateResult = 'ok' | 'conflict' | 'missing';

export interface SessionStore {
  /** Insert if absent (`SET NX`): false when the key exists, even expired-but-not-purged. Never overwrites. */
  create(storeKey: string, record: StoredRecord): Promise<boolean>;
  /** The record, or null when absent, expired (`expiresAt` ≤ now by the store's clock) or unreadable. */
  get(storeKey: string): Promise<StoredRecord | null>;
  /**
   * Replace the record only if it exists, is live, and has `version === expectedVersion`: 'ok';
   * another version: 'conflict'; absent or expired: 'missing' (never re-created: no resurrection).
   */
  update(storeKey: string, record: StoredRecord, expectedVersion: number): Promise<UpdateResult>;
  /** Move `expiresAt`/`lastSeenAt` of a live record, keeping its version; false (and no write) if absent or expired. */
  touch(storeKey: string, expiresAt: number, lastSeenAt: number): Promise<boolean>;
  /**
   * Remove the record. True when a live record was there; false when none was (absent, expired, or a
   * malformed key): deleting a missing key is a no-op. Of concurrent deletes of one key, exactly one
   * says true, so that of two requests rotating one session only one goes on with it (checklist #32).
   * A store that answers nothing (written before this was asked) is taken as true.
   */
  delete(storeKey: string): Promise<boolean>;
  /** The user's live sessions, oldest first. */
  listByUser(userId: string): Promise<StoredMeta[]>;
  /** Delete every record of the user except `exceptStoreKey`; returns how many were deleted. */
  deleteByUser(userId: string, exceptStoreKey?: string): Promise<number>;
  /** Delete expired records (stores without native expiry); returns how many. */
  purgeExpired?(now?: number): Promise<number>;
  /** Release connections or handles the store opened itself (never a client you passed in). */
  close?(): Promise<void>;
}

/**
 * A store key: base64url of a SHA-256 digest, exactly 43 characters, the same shape as a token.
 * Checked before any I/O (checklist #6).
 */
export const isStoreKey: (value: unknown) => value is string = isTokenText;

/** For writes: a malformed key is a caller bug and must never reach a backend (checklist #52). */
export function assertStoreKey(value: unknown): asserts value is string {
  if (!isStoreKey(value))
    throw new TypeError('store keys are 43 base64url characters (SHA-256 of the token)');
}

export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 256;
}

export function assertUserId(value: unknown): asserts value is string {
  if (!isUserId(value)) throw new TypeError('user ids are non-empty strings of at most 256 characters');
}

/** UTC milliseconds as stores keep them: a safe integer ≥ 0. */
export const isTime = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * Check a record read back from a backend: a corrupt or foreign blob is "no session" (null), never an
 * exception (SECURITY-CHECKLIST bad inputs: "a corrupt blob (= no session)"). Absent optional fields
 * (stored as null, or missing) come back absent, not as explicit undefined: equal to what was stored.
 */
export function parseStoredRecord(value: unknown): StoredRecord | null {
  if (!isStoredRecordShape(value)) return null;
  const r = value as Record<string, unknown>;
  // One copy, made directly (no spread of temporary objects): only the record's own fields, optional
  // ones only when present.
  const record: { -readonly [K in keyof StoredRecord]: StoredRecord[K] } = {
    sealed: r.sealed as string,
    createdAt: r.createdAt as number,
    expiresAt: r.expiresAt as number,
    absoluteAt: r.absoluteAt as number,
    lastSeenAt: r.lastSeenAt as number,
    version: r.version as number,
  };
  if (typeof r.userId === 'string') record.userId = r.userId;
  if (typeof r.label === 'string') record.label = r.label;
  return record;
}

/** parseStoredRecord's checks without its copy. */
function isStoredRecordShape(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  if (typeof r.sealed !== 'string' || r.sealed.length === 0) return false;
  if (!isTime(r.createdAt) || !isTime(r.expiresAt) || !isTime(r.absoluteAt) || !isTime(r.lastSeenAt))
    return false;
  if (!Number.isSafeInteger(r.version) || (r.version as number) < 1) return false;
  if (r.userId !== undefined && r.userId !== null && !isUserId(r.userId)) return false;
  if (r.label !== undefined && r.label !== null && typeof r.label !== 'string') return false;
  return true;
}

/** Check a record before writing it: the core builds valid ones, so a bad one is a caller bug (TypeError). */
export function assertStoredRecord(record: StoredRecord): void {
  if (!isStoredRecordShape(record)) throw new TypeError('invalid session record');
}

/** The device-list entry of a user's record (listByUser). */
export function metaOf(storeKey: string, userId: string, record: StoredRecord): StoredMeta {
  const { createdAt, lastSeenAt, expiresAt, label } = record;
  return { storeKey, userId, createdAt, lastSeenAt, expiresAt, label };
}

/** listByUser's order: oldest first, ties by store key. */
export const oldestFirst = (a: StoredMeta, b: StoredMeta): number =>
  a.createdAt - b.createdAt || (a.storeKey < b.storeKey ? -1 : 1);

/**
 * Wrap a backend failure (connection refused, timeout, a driver error) as the coded StoreUnavailable, so
 * adapters answer 503 and never treat the request as signed in. Never include keys or records.
 */
export function storeUnavailable(store: string, cause: unknown): StoreUnavailable {
  const reason = cause instanceof Error ? cause.message.split('\n')[0]?.slice(0, 200) : String(cause);
  return new StoreUnavailable(`${store} store unavailable: ${reason}`, { cause });
}

/**
 * Run a store call for the core: a coded error or a caller bug (TypeError) passes through; anything
 * else (the backend refused, timed out or failed) becomes StoreUnavailable.
 */
export function callStore<R>(store: string, operation: () => Promise<R>): Promise<R> {
  // No async wrapper of our own: one rejection handler on the store's promise.
  let pending: Promise<R>;
  try {
    pending = Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(asStoreFailure(store, error));
  }
  return pending.then(undefined, (error: unknown) => {
    throw asStoreFailure(store, error);
  });
}

function asStoreFailure(store: string, error: unknown): unknown {
  return error instanceof LatchkeyError || error instanceof TypeError
    ? error
    : storeUnavailable(store, error);
}
