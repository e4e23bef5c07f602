/**
 * A MySQL / MariaDB session store over mysql2 (an optional peer) or any driver with the same promise
 * `query(sql, values)` answering `[rows, fields]`. This file never loads mysql2 itself: you pass a pool.
 *
 * As in the PostgreSQL store, every expiry decision uses the store's clock, sent as a parameter, never
 * SQL `NOW()` (checklist #28, #53); keys and user ids compare byte-exactly (binary collations, #56);
 * statements are parameterized and the table name is validated and quoted (#52). It works the same on
 * MySQL 8 and MariaDB 10.5+: no `RETURNING`, no JSON, no window functions.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import {
  assertTime,
  assertWritable,
  COLUMNS,
  INT4_MAX,
  metasOf,
  type PurgeOptions,
  purgeInBatches,
  queryTime,
  type Row,
  recordParams,
  storable,
  toRecord,
} from './sql-rows.ts';
import {
  assertStoreKey,
  assertUserId,
  isStoreKey,
  isUserId,
  type SessionStore,
  storeUnavailable,
  type UpdateResult,
} from './types.ts';

/** What the store needs of a pool: mysql2/promise's `Pool` (or `pool.promise()` of a callback pool). */
export interface MysqlQueryable {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
}

/** A mysql2 callback pool: the store uses its `promise()` wrapper. */
interface PromiseCapable {
  promise(): MysqlQueryable;
}

export interface MysqlTableOptions {
  /** Table name, `[A-Za-z_][A-Za-z0-9_]*`, at most 64 characters. Default `latchkey_sessions`. */
  table?: string;
}

export interface MysqlStoreOptions extends MysqlTableOptions {
  /** Your pool (mysql2/promise `createPool`, or a callback pool). The store never ends it. */
  client: MysqlQueryable | PromiseCapable;
  /** The time source for expiry; tests pass a fake clock. */
  clock?: Clock;
  /** Create the table on first use if missing (default true); false when your migrations do. */
  createSchema?: boolean;
}

/** The same as the PostgreSQL store's purge options. */
export type MysqlPurgeOptions = PurgeOptions;

export interface MysqlStore extends SessionStore {
  /** Delete records expired at `now` (default: the clock), in batches; returns how many. */
  purgeExpired(now?: number, options?: MysqlPurgeOptions): Promise<number>;
  /** A no-op: the pool is yours to end. */
  close(): Promise<void>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** ER_DUP_ENTRY: the key exists (create is insert-if-absent). */
const DUPLICATE_KEY = 1062;

function tableName(options: MysqlTableOptions): string {
  const table = options.table ?? 'latchkey_sessions';
  if (typeof table !== 'string' || !IDENTIFIER.test(table))
    throw new TypeError(`table must match ${IDENTIFIER.source}`);
  return table;
}

/**
 * The DDL: ascii_bin keys (base64url of SHA-256), utf8mb4_bin user ids (byte-exact, #56), the sealed
 * record as MEDIUMTEXT (up to 16 MiB: never the limit), times as BIGINT milliseconds.
 */
export function mysqlSchemaSql(options: MysqlTableOptions = {}): string {
  const table = tableName(options);
  return `CREATE TABLE IF NOT EXISTS \`${table}\` (
  \`key\` VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  user_id VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  sealed MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  absolute_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  version INT NOT NULL,
  label TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  INDEX \`${table.slice(0, 52)}_user_id_idx\` (user_id),
  INDEX \`${table.slice(0, 49)}_expires_at_idx\` (expires_at)
) ENGINE=InnoDB`;
}

function asQueryable(client: unknown): MysqlQueryable {
  const candidate = client as Partial<MysqlQueryable & PromiseCapable> | undefined;
  // A callback pool's query takes a callback; its promise() wrapper is the one to use.
  if (typeof candidate?.promise === 'function') return candidate.promise();
  if (typeof candidate?.query === 'function') return candidate as MysqlQueryable;
  throw new TypeError('mysqlStore: client must be a mysql2 pool (mysql2/promise createPool, or createPool)');
}

async function run(client: MysqlQueryable, sql: string, values: unknown[]): Promise<unknown> {
  try {
    const [result] = await client.query(sql, values);
    return result;
  } catch (err) {
    throw storeUnavailable('mysql', err);
  }
}

const rowsOf = (result: unknown): Row[] => {
  if (!Array.isArray(result)) throw storeUnavailable('mysql', 'the driver returned no rows array');
  return result as Row[];
};

const affected = (result: unknown): number => {
  const count = (result as { affectedRows?: unknown } | null)?.affectedRows;
  if (typeof count !== 'number') throw storeUnavailable('mysql', 'the driver returned no affectedRows');
  return count;
};

/**
 * Create the session table and its indexes if missing; safe to run again and from several processes.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * import { migrateMysql } from 'latchkey/stores/mysql';
 * const pool = mysql.createPool({ host: '127.0.0.1', user: 'app', database: 'app' });
 * await migrateMysql(pool);
 * ```
 */
export async function migrateMysql(
  client: MysqlQueryable | PromiseCapable,
  options: MysqlTableOptions = {},
): Promise<{ table: string }> {
  const table = tableName(options);
  await run(asQueryable(client), mysqlSchemaSql(options), []);
  return { table };
}

/**
 * A session store in a MySQL or MariaDB table. Each operation is one or two parameterized statements;
 * expiry is checked in every WHERE clause from the store's clock. Driver failures reject with
 * `StoreUnavailable` (a 503 from the adapters). Set `connectTimeout` on the pool so an outage answers fast.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * import { createSessions } from 'latchkey';
 * import { mysqlStore } from 'latchkey/stores/mysql';
 * const pool = mysql.createPool({ host: '127.0.0.1', user: 'app', database: 'app', connectTimeout: 1000 });
 * const sessions = createSessions({ keys: process.env.LATCHKEY_KEYS, store: mysqlStore({ client: pool }) });
 * ```
 */
export function mysqlStore(options: MysqlStoreOptions): MysqlStore {
  const client = asQueryable(options.client);
  const table = tableName(options);
  const t = `\`${table}\``;
  const clock = options.clock ?? systemClock;
  let ready: Promise<unknown> | undefined = options.createSchema === false ? Promise.resolve() : undefined;
  // Once per store; a failure is not cached, so the next request retries once the database is back.
  const ensureSchema = () =>
    (ready ??= run(client, mysqlSchemaSql(options), []).catch((err: unknown) => {
      ready = undefined;
      throw err;
    }));
  const query = async (sql: string, values: unknown[]) => {
    await ensureSchema();
    return run(client, sql, values);
  };
  const now = () => queryTime(clock.now());

  return {
    async create(storeKey, record) {
      assertStoreKey(storeKey);
      assertWritable(record, 'MySQL utf8mb4');
      // Insert-if-absent, atomic under concurrency; an expired-but-unpurged row still blocks (checklist #4).
      await ensureSchema();
      try {
        await client.query(`INSERT INTO ${t} (\`key\`, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
          storeKey,
          ...recordParams(record),
        ]);
        return true;
      } catch (err) {
        if ((err as { errno?: unknown } | null)?.errno === DUPLICATE_KEY) return false;
        throw storeUnavailable('mysql', err);
      }
    },
    async get(storeKey) {
      if (!isStoreKey(storeKey)) return null;
      const rows = rowsOf(
        await query(`SELECT ${COLUMNS} FROM ${t} WHERE \`key\` = ? AND expires_at > ?`, [storeKey, now()]),
      );
      return toRecord(rows[0]);
    },
    async update(storeKey, record, expectedVersion): Promise<UpdateResult> {
      assertStoreKey(storeKey);
      assertWritable(record, 'MySQL utf8mb4');
      // Compare-and-set on a live row (checklist #31). A miss is told apart by a second read: a row that is
      // live but has another version is a conflict; no live row is missing (nothing is resurrected).
      const expected = Number.isInteger(expectedVersion) && Math.abs(expectedVersion) <= INT4_MAX;
      if (!expected) return (await this.get(storeKey)) ? 'conflict' : 'missing';
      const at = now();
      const result = await query(
        `UPDATE ${t} SET sealed = ?, user_id = ?, created_at = ?, expires_at = ?, absolute_at = ?, ` +
          'last_seen_at = ?, version = ?, label = ? WHERE `key` = ? AND version = ? AND expires_at > ?',
        [...recordParams(record), storeKey, expectedVersion, at],
      );
      // mysql2 connects with FOUND_ROWS, so affectedRows counts matched rows, changed or not.
      if (affected(result) > 0) return 'ok';
      const live = rowsOf(
        await query(`SELECT version FROM ${t} WHERE \`key\` = ? AND expires_at > ?`, [storeKey, at]),
      );
      return live.length > 0 ? 'conflict' : 'missing';
    },
    async touch(storeKey, expiresAt, lastSeenAt) {
      assertStoreKey(storeKey);
      // Only a live row moves, version kept: touch never resurrects (checklist #31).
      const result = await query(
        `UPDATE ${t} SET expires_at = ?, last_seen_at = ? WHERE \`key\` = ? AND expires_at > ?`,
        [assertTime(expiresAt, 'expiresAt'), assertTime(lastSeenAt, 'lastSeenAt'), storeKey, now()],
      );
      return affected(result) > 0;
    },
    async delete(storeKey) {
      if (!isStoreKey(storeKey)) return false;
      // The live row first: of two concurrent deletes, only one sees it go. Then any expired leftover.
      const live = affected(
        await query(`DELETE FROM ${t} WHERE \`key\` = ? AND expires_at > ?`, [storeKey, now()]),
      );
      if (live === 0) await query(`DELETE FROM ${t} WHERE \`key\` = ?`, [storeKey]);
      return live > 0;
    },
    async listByUser(userId) {
      if (!isUserId(userId) || !storable(userId)) return [];
      const rows = rowsOf(
        await query(
          `SELECT \`key\`, created_at, last_seen_at, expires_at, label FROM ${t} ` +
            'WHERE user_id = ? AND expires_at > ? ORDER BY created_at, `key`',
          [userId, now()],
        ),
      );
      return metasOf(rows, userId);
    },
    async deleteByUser(userId, exceptStoreKey) {
      assertUserId(userId);
      if (!storable(userId)) return 0;
      const except = isStoreKey(exceptStoreKey) ? exceptStoreKey : null;
      const at = now();
      // Every row of the user goes; the count is of live ones, as the memory store counts.
      const live = affected(
        await query(`DELETE FROM ${t} WHERE user_id = ? AND (? IS NULL OR \`key\` <> ?) AND expires_at > ?`, [
          userId,
          except,
          except,
          at,
        ]),
      );
      await query(`DELETE FROM ${t} WHERE user_id = ? AND (? IS NULL OR \`key\` <> ?)`, [
        userId,
        except,
        except,
      ]);
      return live;
    },
    async purgeExpired(at = clock.now(), options: MysqlPurgeOptions = {}) {
      return purgeInBatches(at, options, async (cutoff, batchSize) =>
        affected(await query(`DELETE FROM ${t} WHERE expires_at <= ? LIMIT ?`, [cutoff, batchSize])),
      );
    },
    async close() {
      // The pool is the caller's: ending a shared pool here would break the rest of the app.
    },
  };
}
