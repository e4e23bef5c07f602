/**
 * A PostgreSQL session store over node-postgres (`pg`) or any driver with the same `query(text, params)`.
 * This file never loads `pg` itself: you pass a client, and only this subpath knows SQL (DESIGN.md §6).
 *
 * Every expiry decision uses the store's clock, sent as a query parameter, never SQL `now()`: the app
 * servers' clock is the one the core reasons with, and tests can move it (checklist #28, #53).
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import {
  assertQueryable,
  migratePostgres,
  type PostgresTableOptions,
  type Queryable,
  run,
  schemaSteps,
} from './postgres-schema.ts';
import {
  assertTime,
  assertWritable,
  COLUMNS,
  INT4_MAX,
  metasOf,
  millis,
  type PurgeOptions,
  purgeInBatches,
  queryTime,
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
  type UpdateResult,
} from './types.ts';

export type { PostgresMigration, PostgresTableOptions, Queryable } from './postgres-schema.ts';
export { migratePostgres, postgresSchemaSql } from './postgres-schema.ts';

export interface PostgresStoreOptions extends PostgresTableOptions {
  /** Your pool or client. The store never ends it: `close()` leaves it open. */
  client: Queryable;
  /** The time source for expiry; tests pass a fake clock. */
  clock?: Clock;
  /** Create the table and indexes on first use if missing (default true); false when your migrations do. */
  createSchema?: boolean;
}

export type { PurgeOptions } from './sql-rows.ts';

export interface PostgresStore extends SessionStore {
  /** Delete records expired at `now` (default: the clock), in batches; returns how many. */
  purgeExpired(now?: number, options?: PurgeOptions): Promise<number>;
  /** A no-op: the pool or client is yours to end. */
  close(): Promise<void>;
}

/**
 * A session store in a PostgreSQL table. Reads and writes are single parameterized statements; expiry is
 * checked in every WHERE clause from the store's clock. Driver failures reject with `StoreUnavailable`.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { postgresStore } from 'latchkey/stores/postgres';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 3000 });
 * const sessions = createSessions({ keys, store: postgresStore({ client: pool }) });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const client = options.client;
  assertQueryable(client);
  const { table: t } = schemaSteps(options);
  const clock = options.clock ?? systemClock;
  let ready: Promise<unknown> | undefined = options.createSchema === false ? Promise.resolve() : undefined;
  // Once per store; a failure is not cached, so the next request retries once the database is back.
  const ensureSchema = () =>
    (ready ??= migratePostgres(client, options).catch((err: unknown) => {
      ready = undefined;
      throw err;
    }));
  const query = async (text: string, params: unknown[]) => {
    await ensureSchema();
    return run(client, text, params);
  };
  const now = () => queryTime(clock.now());

  return {
    async create(storeKey, record) {
      assertStoreKey(storeKey);
      assertWritable(record, 'PostgreSQL');
      // Insert-if-absent, atomic under concurrency; an expired-but-unpurged row still blocks (checklist #4).
      const rows = await query(
        `INSERT INTO ${t} (key, ${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ` +
          'ON CONFLICT (key) DO NOTHING RETURNING 1 AS created',
        [storeKey, ...recordParams(record)],
      );
      return rows.length === 1;
    },
    async get(storeKey) {
      if (!isStoreKey(storeKey)) return null;
      const rows = await query(`SELECT ${COLUMNS} FROM ${t} WHERE key = $1 AND expires_at > $2`, [
        storeKey,
        now(),
      ]);
      return toRecord(rows[0]);
    },
    async update(storeKey, record, expectedVersion): Promise<UpdateResult> {
      assertStoreKey(storeKey);
      assertWritable(record, 'PostgreSQL');
      // Compare-and-set, only on a live row (checklist #31). The `live` CTE reads the same snapshot, so one
      // round trip tells 'conflict' from 'missing'. A delete that commits while the UPDATE waits on the row
      // reads as 'conflict': the core's reload then finds nothing, and nothing is resurrected.
      const expected = Number.isInteger(expectedVersion) && Math.abs(expectedVersion) <= INT4_MAX;
      const rows = await query(
        `WITH live AS (SELECT 1 FROM ${t} WHERE key = $1 AND expires_at > $10), ` +
          `changed AS (UPDATE ${t} SET sealed = $2, user_id = $3, created_at = $4, expires_at = $5, ` +
          'absolute_at = $6, last_seen_at = $7, version = $8, label = $9 ' +
          'WHERE key = $1 AND version = $11 AND expires_at > $10 RETURNING 1) ' +
          'SELECT (SELECT count(*) FROM changed) AS changed, (SELECT count(*) FROM live) AS live',
        [storeKey, ...recordParams(record), now(), expected ? expectedVersion : null],
      );
      if (Number(rows[0]?.changed) > 0) return 'ok';
      return Number(rows[0]?.live) > 0 ? 'conflict' : 'missing';
    },
    async touch(storeKey, expiresAt, lastSeenAt) {
      assertStoreKey(storeKey);
      // Only a live row moves, version kept: touch never resurrects (checklist #31).
      const rows = await query(
        `UPDATE ${t} SET expires_at = $2, last_seen_at = $3 WHERE key = $1 AND expires_at > $4 RETURNING 1`,
        [storeKey, assertTime(expiresAt, 'expiresAt'), assertTime(lastSeenAt, 'lastSeenAt'), now()],
      );
      return rows.length === 1;
    },
    async delete(storeKey) {
      if (!isStoreKey(storeKey)) return false;
      // One statement deletes and answers: of two concurrent deletes, only one gets the row back. The
      // time is compared here, as every read here does, so a client's own type parsers cannot mislead it.
      const rows = await query(`DELETE FROM ${t} WHERE key = $1 RETURNING expires_at`, [storeKey]);
      const expires = rows.length === 0 ? undefined : millis(rows[0]!.expires_at);
      return typeof expires === 'number' && expires > now();
    },
    async listByUser(userId) {
      if (!isUserId(userId) || !storable(userId)) return [];
      const rows = await query(
        `SELECT key, created_at, last_seen_at, expires_at, label FROM ${t} ` +
          'WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, key',
        [userId, now()],
      );
      return metasOf(rows, userId);
    },
    async deleteByUser(userId, exceptStoreKey) {
      assertUserId(userId);
      if (!storable(userId)) return 0;
      // Every row of the user goes; the count is of live ones, as the memory store counts.
      const rows = await query(
        `WITH gone AS (DELETE FROM ${t} WHERE user_id = $1 AND ($2::text IS NULL OR key <> $2) ` +
          'RETURNING expires_at) SELECT count(*) AS deleted FROM gone WHERE expires_at > $3',
        [userId, isStoreKey(exceptStoreKey) ? exceptStoreKey : null, now()],
      );
      return Number(rows[0]?.deleted ?? 0);
    },
    async purgeExpired(at = clock.now(), options: PurgeOptions = {}) {
      return purgeInBatches(at, options, async (cutoff, batchSize) => {
        const rows = await query(
          `WITH gone AS (DELETE FROM ${t} WHERE key IN ` +
            `(SELECT key FROM ${t} WHERE expires_at <= $1 LIMIT $2) RETURNING 1) ` +
            'SELECT count(*) AS purged FROM gone',
          [cutoff, batchSize],
        );
        return Number(rows[0]?.purged ?? 0);
      });
    },
    async close() {
      // The client is the caller's: ending a shared pool here would break the rest of the app.
    },
  };
}
