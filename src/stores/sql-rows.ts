/**
 * What the SQL stores (postgres.ts, mysql.ts) share: a row to a record and back, the checks on what a
 * text column can hold, and the time parameters. Internal: not a package entry point.
 */
import {
  assertStoredRecord,
  isStoreKey,
  isTime,
  parseStoredRecord,
  type StoredMeta,
  type StoredRecord,
} from './types.ts';

export type Row = Record<string, unknown>;

export const INT4_MAX = 2_147_483_647;
/**
 * Text a database column cannot hold exactly: NUL, and unpaired surrogates (PostgreSQL's driver and
 * utf8mb4 both turn them into another character, so 'a\uD800' and 'a\uDC00' would meet on one row: two
 * users sharing one index entry, checklist #56). Such values are refused, never stored altered.
 */
const UNSTORABLE = /\0|\p{Cs}/u;
/** The record columns, in the order of {@link recordParams}. */
export const COLUMNS = 'sealed, user_id, created_at, expires_at, absolute_at, last_seen_at, version, label';

/** Drivers give bigint columns as strings (pg), numbers (mysql2) or bigints; all read back. */
export function millis(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^\d{1,16}$/.test(value)) return Number(value);
  return value;
}

/** A row to a record, or null if corrupt (a corrupt blob is no session). Absent optionals stay absent. */
export function toRecord(row: Row | undefined): StoredRecord | null {
  if (row === undefined) return null;
  return parseStoredRecord({
    sealed: row.sealed,
    userId: row.user_id ?? undefined,
    createdAt: millis(row.created_at),
    expiresAt: millis(row.expires_at),
    absoluteAt: millis(row.absolute_at),
    lastSeenAt: millis(row.last_seen_at),
    version: millis(row.version),
    label: row.label ?? undefined,
  });
}

export const storable = (value: string | undefined) => value === undefined || !UNSTORABLE.test(value);

/** A valid record whose text the database can hold and whose version fits a 32-bit column. */
export function assertWritable(record: StoredRecord, database: string): void {
  assertStoredRecord(record);
  if (!storable(record.sealed) || !storable(record.userId) || !storable(record.label))
    throw new TypeError(`${database} text cannot hold NUL or unpaired surrogates`);
  if (record.version > INT4_MAX) throw new TypeError('record versions are stored as 32-bit integers');
}

export function assertTime(value: unknown, what: string): number {
  if (!isTime(value)) throw new TypeError(`${what} must be a non-negative integer of milliseconds`);
  return value;
}

/** `now` as an integer parameter: floor keeps `expires_at > now` exact for integer columns. */
export function queryTime(now: number): number {
  if (typeof now !== 'number' || Number.isNaN(now))
    throw new TypeError('now must be a number of milliseconds');
  return Math.min(Math.max(Math.floor(now), -Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

/** The record's values in {@link COLUMNS} order. */
export const recordParams = (r: StoredRecord) => [
  r.sealed,
  r.userId ?? null,
  r.createdAt,
  r.expiresAt,
  r.absoluteAt,
  r.lastSeenAt,
  r.version,
  r.label ?? null,
];

/** listByUser's rows (key, created_at, last_seen_at, expires_at, label) as metadata; corrupt rows skipped. */
export function metasOf(rows: readonly Row[], userId: string): StoredMeta[] {
  const found: StoredMeta[] = [];
  for (const row of rows) {
    // A corrupt row is skipped, as `get` would read it as no session.
    const [createdAt, lastSeenAt, expiresAt] = [row.created_at, row.last_seen_at, row.expires_at].map(millis);
    if (!isStoreKey(row.key) || !isTime(createdAt) || !isTime(lastSeenAt) || !isTime(expiresAt)) continue;
    const label = typeof row.label === 'string' ? { label: row.label } : {};
    found.push({ storeKey: row.key, userId, createdAt, lastSeenAt, expiresAt, ...label });
  }
  return found;
}

export interface PurgeOptions {
  /** Rows deleted per statement, so a large purge never holds long locks. Default 1000. */
  batchSize?: number;
  /** Called after each batch that deleted rows, with the total purged so far. */
  onProgress?: (purged: number) => void;
}

/**
 * Delete expired rows in small batches, each its own statement (no long lock, no huge log burst,
 * checklist #53): `deleteBatch(cutoff, batchSize)` deletes up to batchSize rows expired at `cutoff`
 * and answers how many went. Returns the total.
 */
export async function purgeInBatches(
  at: number,
  { batchSize = 1000, onProgress }: PurgeOptions,
  deleteBatch: (cutoff: number, batchSize: number) => Promise<number>,
): Promise<number> {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new TypeError('batchSize must be a positive integer');
  const cutoff = queryTime(at);
  let total = 0;
  for (;;) {
    const purged = await deleteBatch(cutoff, batchSize);
    total += purged;
    if (purged > 0) onProgress?.(total);
    if (purged < batchSize) return total;
  }
}
