/**
 * A session store in one SQLite table, through better-sqlite3 or Node's built-in `node:sqlite` (≥ 22.5):
 * both expose the same synchronous `prepare(sql).run/get/all` and `exec`, so either handle works. Every
 * value is a positional `?` parameter (checklist #52); keys are TEXT with SQLite's default BINARY
 * collation, compared byte-exactly, case included (#56).
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3'; // or: import { DatabaseSync } from 'node:sqlite';
 * import { sqliteStore } from 'latchkey/stores/sqlite';
 * const db = new Database('sessions.db');
 * db.pragma('journal_mode = WAL');
 * const sessions = createSessions({ store: sqliteStore({ db }) });
 * ```
 */
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import {
  assertStoredRecord,
  assertStoreKey,
  assertUserId,
  isStoreKey,
  isUserId,
  parseStoredRecord,
  type SessionStore,
  type StoredRecord,
  storeUnavailable,
  type UpdateResult,
} from './types.ts';

/** What the store needs of a prepared statement: satisfied by better-sqlite3 and node:sqlite alike. */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/** better-sqlite3's `Database` or node:sqlite's `DatabaseSync`. */
export interface SqliteDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): SqliteStatement;
}

export interface SqliteStore extends SessionStore {
  /** Delete expired rows in batches of 1000; returns how many. */
  purgeExpired(now?: number): Promise<number>;
}

export interface SqliteStoreOptions {
  /** An open database. The store never closes it. */
  db: SqliteDatabase;
  /** The table, created if missing. Default `latchkey_sessions`. */
  table?: string;
  /** The time source for expiry; tests pass a fake clock. */
  clock?: Clock;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const PURGE_BATCH = 1000;
const COLUMNS = 'key, user_id, sealed, created_at, expires_at, absolute_at, last_seen_at, version, label';

/** The table name is the one identifier spliced into SQL, so only a plain identifier passes. */
function checkTable(table: unknown): string {
  if (typeof table !== 'string' || !TABLE_NAME.test(table) || /^sqlite_/i.test(table))
    throw new TypeError(
      'sqliteStore: table must match /^[A-Za-z_][A-Za-z0-9_]{0,62}$/ and not start with sqlite_',
    );
  return table;
}

function checkDb(db: unknown): SqliteDatabase {
  const candidate = db as Partial<SqliteDatabase> | null;
  if (typeof candidate?.prepare !== 'function' || typeof candidate.exec !== 'function')
    throw new TypeError('sqliteStore: db must be a better-sqlite3 Database or a node:sqlite DatabaseSync');
  return candidate as SqliteDatabase;
}

/**
 * Create the sessions table and its indexes if they are missing (idempotent). `sqliteStore` does this on
 * first use; call it yourself to migrate at deploy time.
 */
export function migrateSqlite(db: SqliteDatabase, options: { table?: string } = {}): void {
  const table = checkTable(options.table ?? 'latchkey_sessions');
  try {
    checkDb(db).exec(`
      CREATE TABLE IF NOT EXISTS "${table}" (
        key TEXT PRIMARY KEY NOT NULL,
        user_id TEXT,
        sealed TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        absolute_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        label TEXT
      );
      CREATE INDEX IF NOT EXISTS "${table}_user_id" ON "${table}" (user_id);
      CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON "${table}" (expires_at);
    `);
  } catch (err) {
    throw storeUnavailable('sqlite', err);
  }
}

/** A row back into a record; a row that does not parse (edited by hand, another schema) is no session. */
function toRecord(row: unknown): StoredRecord | null {
  if (row === undefined || row === null || typeof row !== 'object') return null;
  const r = row as Record<string, unknown>;
  // A database opened with safeIntegers/readBigInts returns bigint; times fit in 53 bits.
  const int = (value: unknown) => (typeof value === 'bigint' ? Number(value) : value);
  return parseStoredRecord({
    sealed: r.sealed,
    userId: r.user_id,
    createdAt: int(r.created_at),
    expiresAt: int(r.expires_at),
    absoluteAt: int(r.absolute_at),
    lastSeenAt: int(r.last_seen_at),
    version: int(r.version),
    label: r.label,
  });
}

/** The record's columns after the key, in COLUMNS order; SQL NULL for absent optional fields. */
const values = (r: StoredRecord) => [
  r.userId ?? null,
  r.sealed,
  r.createdAt,
  r.expiresAt,
  r.absoluteAt,
  r.lastSeenAt,
  r.version,
  r.label ?? null,
];

export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  const db = checkDb(options?.db);
  const table = checkTable(options.table ?? 'latchkey_sessions');
  const clock = options.clock ?? systemClock;
  const t = `"${table}"`;
  const sql = {
    insert: `INSERT INTO ${t} (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
    get: `SELECT ${COLUMNS} FROM ${t} WHERE key = ? AND expires_at > ?`,
    update:
      `UPDATE ${t} SET user_id = ?, sealed = ?, created_at = ?, expires_at = ?, absolute_at = ?, ` +
      'last_seen_at = ?, version = ?, label = ? WHERE key = ? AND version = ? AND expires_at > ?',
    exists: `SELECT 1 AS found FROM ${t} WHERE key = ? AND expires_at > ?`,
    touch: `UPDATE ${t} SET expires_at = ?, last_seen_at = ? WHERE key = ? AND expires_at > ?`,
    // RETURNING (SQLite 3.35+) makes the delete and the answer one statement: of two concurrent
    // deletes, only one sees the row.
    delete: `DELETE FROM ${t} WHERE key = ? RETURNING expires_at`,
    list:
      `SELECT key, created_at, last_seen_at, expires_at, label FROM ${t} ` +
      'WHERE user_id = ? AND expires_at > ? ORDER BY created_at, key',
    // Without an exception `?` is NULL: `key IS NOT NULL` matches every row, where `key <> NULL` matches none.
    deleteLive: `DELETE FROM ${t} WHERE user_id = ? AND key IS NOT ? AND expires_at > ?`,
    deleteRest: `DELETE FROM ${t} WHERE user_id = ? AND key IS NOT ?`,
    purge: `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${t} WHERE expires_at <= ? LIMIT ${PURGE_BATCH})`,
  };
  type Name = keyof typeof sql;
  let statements: Record<Name, SqliteStatement> | undefined;

  /** Runs against the database; the schema and statements are prepared on first use, retried after a failure. */
  const run = async <T>(body: (s: Record<Name, SqliteStatement>) => T): Promise<T> => {
    if (statements === undefined) {
      migrateSqlite(db, { table });
      try {
        const prepared: Partial<Record<Name, SqliteStatement>> = {};
        for (const name of Object.keys(sql) as Name[]) prepared[name] = db.prepare(sql[name]);
        statements = prepared as Record<Name, SqliteStatement>;
      } catch (err) {
        throw storeUnavailable('sqlite', err);
      }
    }
    try {
      return body(statements);
    } catch (err) {
      throw storeUnavailable('sqlite', err);
    }
  };
  const changed = (result: { changes: number | bigint }) => Number(result.changes);

  return {
    async create(storeKey, record) {
      assertStoreKey(storeKey);
      assertStoredRecord(record);
      return run((s) => changed(s.insert.run(storeKey, ...values(record))) === 1);
    },
    async get(storeKey) {
      if (!isStoreKey(storeKey)) return null;
      const now = clock.now();
      const record = await run((s) => toRecord(s.get.get(storeKey, now)));
      // Checked here too: the row's time columns could hold anything, and expiresAt == now has expired (#28).
      return record !== null && record.expiresAt > now ? record : null;
    },
    async update(storeKey, record, expectedVersion): Promise<UpdateResult> {
      assertStoreKey(storeKey);
      assertStoredRecord(record);
      const now = clock.now();
      return run((s) => {
        // One statement is the compare-and-set (#31, #50); a second read only tells why nothing changed.
        if (changed(s.update.run(...values(record), storeKey, expectedVersion, now)) > 0) return 'ok';
        return s.exists.get(storeKey, now) === undefined ? 'missing' : 'conflict';
      });
    },
    async touch(storeKey, expiresAt, lastSeenAt) {
      assertStoreKey(storeKey);
      return run((s) => changed(s.touch.run(expiresAt, lastSeenAt, storeKey, clock.now())) > 0);
    },
    async delete(storeKey) {
      if (!isStoreKey(storeKey)) return false;
      return run((s) => {
        const row = s.delete.get(storeKey) as { expires_at?: unknown } | undefined;
        return row !== undefined && Number(row.expires_at) > clock.now();
      });
    },
    async listByUser(userId) {
      if (!isUserId(userId)) return [];
      const rows = await run((s) => s.list.all(userId, clock.now()) as Array<Record<string, unknown>>);
      return rows.map((row) => ({
        storeKey: String(row.key),
        userId,
        createdAt: Number(row.created_at),
        lastSeenAt: Number(row.last_seen_at),
        expiresAt: Number(row.expires_at),
        label: typeof row.label === 'string' ? row.label : undefined,
      }));
    },
    async deleteByUser(userId, exceptStoreKey) {
      assertUserId(userId);
      const except = typeof exceptStoreKey === 'string' ? exceptStoreKey : null;
      return run((s) => {
        const deleted = changed(s.deleteLive.run(userId, except, clock.now()));
        s.deleteRest.run(userId, except); // expired leftovers go too, uncounted, as in the memory store
        return deleted;
      });
    },
    async purgeExpired(now = clock.now()) {
      // Batches keep each write transaction short, so requests on other connections are not held up (#53).
      let purged = 0;
      for (let batch = PURGE_BATCH; batch === PURGE_BATCH; purged += batch) {
        if (purged > 0) await yieldToRequests();
        batch = await run((s) => changed(s.purge.run(now)));
      }
      return purged;
    },
  };
}
