/**
 * An in-process store for tests and local development: bounded, never shared between processes, gone
 * on restart (checklist #55). Use fs, SQLite, Redis or PostgreSQL in production.
 *
 * @example
 * ```ts
 * import { memoryStore } from 'latchkey/stores/memory';
 * const sessions = createSessions({ store: memoryStore() });
 * ```
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import {
  assertStoredRecord,
  assertStoreKey,
  assertUserId,
  isStoreKey,
  isUserId,
  metaOf,
  oldestFirst,
  type SessionStore,
  type StoredMeta,
  type StoredRecord,
  type UpdateResult,
} from './types.ts';

export interface MemoryStoreOptions {
  /** The most sessions kept; past it the one closest to expiry is evicted. Default 10,000. */
  maxSessions?: number;
  /** The time source for expiry; tests pass a fake clock. */
  clock?: Clock;
}

let warnedProduction = false;

export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  const maxSessions = options.maxSessions ?? 10_000;
  if (!Number.isSafeInteger(maxSessions) || maxSessions < 1) {
    throw new TypeError('maxSessions must be a positive integer');
  }
  if (process.env.NODE_ENV === 'production' && !warnedProduction) {
    warnedProduction = true;
    process.emitWarning(
      'latchkey: the memory store keeps sessions in one process and loses them on restart; use the fs, ' +
        'SQLite, Redis or PostgreSQL store in production.',
      { code: 'LATCHKEY_MEMORY_STORE' },
    );
  }
  const clock = options.clock ?? systemClock;
  const records = new Map<string, StoredRecord>();
  const live = (record: StoredRecord | undefined): record is StoredRecord =>
    record !== undefined && record.expiresAt > clock.now();

  function makeRoom(): void {
    if (records.size < maxSessions) return;
    const now = clock.now();
    for (const [key, record] of records) if (record.expiresAt <= now) records.delete(key);
    if (records.size < maxSessions) return;
    // Still full: a flood of new sessions evicts the one closest to its end, never grows without bound.
    let victim: string | undefined;
    let soonest = Number.POSITIVE_INFINITY;
    for (const [key, record] of records) {
      if (record.expiresAt < soonest) {
        soonest = record.expiresAt;
        victim = key;
      }
    }
    if (victim !== undefined) records.delete(victim);
  }

  const copy = (record: StoredRecord): StoredRecord => ({ ...record });

  return {
    async create(storeKey, record) {
      assertStoreKey(storeKey);
      assertStoredRecord(record);
      if (records.has(storeKey)) return false;
      makeRoom();
      records.set(storeKey, copy(record));
      return true;
    },
    async get(storeKey) {
      if (!isStoreKey(storeKey)) return null;
      const record = records.get(storeKey);
      return live(record) ? copy(record) : null;
    },
    async update(storeKey, record, expectedVersion): Promise<UpdateResult> {
      assertStoreKey(storeKey);
      assertStoredRecord(record);
      const current = records.get(storeKey);
      if (!live(current)) return 'missing';
      if (current.version !== expectedVersion) return 'conflict';
      records.set(storeKey, copy(record));
      return 'ok';
    },
    async touch(storeKey, expiresAt, lastSeenAt) {
      assertStoreKey(storeKey);
      const current = records.get(storeKey);
      if (!live(current)) return false;
      records.set(storeKey, { ...current, expiresAt, lastSeenAt });
      return true;
    },
    async delete(storeKey) {
      if (!isStoreKey(storeKey)) return false;
      const record = records.get(storeKey);
      records.delete(storeKey);
      return live(record);
    },
    async listByUser(userId) {
      if (!isUserId(userId)) return [];
      const found: StoredMeta[] = [];
      for (const [storeKey, record] of records) {
        if (record.userId === userId && live(record)) found.push(metaOf(storeKey, userId, record));
      }
      return found.sort(oldestFirst);
    },
    async deleteByUser(userId, exceptStoreKey) {
      assertUserId(userId);
      let deleted = 0;
      for (const [key, record] of records) {
        if (record.userId === userId && key !== exceptStoreKey) {
          records.delete(key);
          if (record.expiresAt > clock.now()) deleted++;
        }
      }
      return deleted;
    },
    async purgeExpired(now = clock.now()) {
      let purged = 0;
      for (const [key, record] of records) {
        if (record.expiresAt <= now) {
          records.delete(key);
          purged++;
        }
      }
      return purged;
    },
  };
}
