/**
 * A PostgreSQL session store over node-postgres (`pg`) or any driver with the same `query(text, params)`.
 * This file never loads `pg` itself: you pass a client, and only this subpath knows SQL (DESIGN.md §6).
 *
 * Every expiry decision uses the store's clock, sent as a query parameter, never SQL `now()`: the app
 * servers' clock is the one the core reasons with, and tests can move it (checklist #28, #53).
 */
import { createHash } from 'node:crypto';
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
  type StoredMeta,
  type StoredRecord,
  storeUnavailable,
  type UpdateResult,
} from './types.ts';

/** Anything with node-postgres's `query(text, params)`: a `pg.Pool`, a `pg.Client`, or a compatible driver. */
export interface Queryable {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface PostgresTableOptions {
  /** Table name, `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters. Default `latchkey_sessions`. */
  table?: string;
  /** Schema holding the table (it must exist). Default: the first schema on the `search_path`. */
  schema?: string;
}

export interface PostgresStoreOptions extends PostgresTableOptions {
  /** Your pool or client. The store never ends it: `close()` leaves it open. */
  client: Queryable;
  /** The time source for expiry; tests pass a fake clock. */
  clock?: Clock;
  /** Create the table and indexes on first use if missing (default true); false when your migrations do. */
  createSchema?: boolean;
}

export interface PurgeOptions {
  /** Rows deleted per statement, so a large purge never holds long locks. Default 1000. */
  batchSize?: number;
  /** Called after each batch that deleted rows, with the total purged so far. */
  onProgress?: (purged: number) => void;
}

export interface PostgresStore extends SessionStore {
  /** Delete records expired at `now` (default: the clock), in batches; returns how many. */
  purgeExpired(now?: number, options?: PurgeOptions): Promise<number>;
  /** A no-op: the pool or client is yours to end. */
  close(): Promise<void>;
}

export interface PostgresMigration {
  /** The quoted, possibly schema-qualified table name. */
  readonly table: string;
  /** The DDL statements run; empty when the table and indexes already existed. */
  readonly applied: readonly string[];
}

type Row = Record<string, unknown>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const INT4_MAX = 2_147_483_647;
/** PostgreSQL text cannot hold NUL; pg encodes a lone surrogate as U+FFFD, so 'a\uD800' and 'a\uDC00' would
 * meet on one row: two users sharing one index entry (checklist #56). Such values are refused, never stored. */
const UNSTORABLE = /\0|\p{Cs}/u;
const COLUMNS = 'sealed, user_id, created_at, expires_at, absolute_at, last_seen_at, version, label';

/** Identifiers cannot be bound as parameters, so they are validated and double-quoted (checklist #52). */
function identifier(value: unknown, what: string): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value))
    throw new TypeError(`${what} must match ${IDENTIFIER.source}`);
  return value;
}

function indexName(table: string, suffix: string): string {
  if (table.length + suffix.length <= 63) return `${table}${suffix}`;
  // PostgreSQL truncates names past 63 bytes: two long table names must not share one index name.
  const digest = createHash('sha256').update(table).digest('hex').slice(0, 8);
  return `${table.slice(0, 63 - suffix.length - 9)}_${digest}${suffix}`;
}

/** The DDL for one table, each statement with the name `to_regclass` finds once it exists. */
function schemaSteps(options: PostgresTableOptions): {
  table: string;
  steps: { name: string; sql: string }[];
} {
  const table = options.table === undefined ? 'latchkey_sessions' : identifier(options.table, 'table');
  const schema = options.schema === undefined ? undefined : identifier(options.schema, 'schema');
  const qualify = (name: string) => (schema === undefined ? `"${name}"` : `"${schema}"."${name}"`);
  const userIndex = indexName(table, '_user_id_idx');
  const expiresIndex = indexName(table, '_expires_at_idx');
  const qualified = qualify(table);
  return {
    table: qualified,
    steps: [
      {
        name: qualified,
        // COLLATE "C": keys and user ids compare byte-exactly, whatever the database's collation (#56).
        sql: `CREATE TABLE IF NOT EXISTS ${qualified} (
  key text COLLATE "C" PRIMARY KEY,
  user_id text COLLATE "C",
  sealed text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  absolute_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  version integer NOT NULL,
  label text
)`,
      },
      {
        name: qualify(userIndex),
        sql: `CREATE INDEX IF NOT EXISTS "${userIndex}" ON ${qualified} (user_id) WHERE user_id IS NOT NULL`,
      },
      {
        name: qualify(expiresIndex),
        sql: `CREATE INDEX IF NOT EXISTS "${expiresIndex}" ON ${qualified} (expires_at)`,
      },
    ],
  };
}

/** The statements `migratePostgres` would run, for apps that keep their own migrations (`createSchema: false`). */
export function postgresSchemaSql(options: PostgresTableOptions = {}): string[] {
  return schemaSteps(options).steps.map((step) => step.sql);
}

async function run(client: Queryable, text: string, params: unknown[]): Promise<Row[]> {
  let result: { rows: unknown[] } | undefined;
  try {
    result = await client.query(text, params);
  } catch (err) {
    // Connection refused, pool timeout, statement timeout, missing table: fail closed as a 503 (DESIGN §6).
    throw storeUnavailable('postgres', err);
  }
  if (!Array.isArray(result?.rows)) throw storeUnavailable('postgres', 'the driver returned no rows array');
  return result.rows as Row[];
}

function assertQueryable(client: unknown): asserts client is Queryable {
  if (typeof (client as Queryable | undefined)?.query !== 'function')
    throw new TypeError('the client must have query(text, params), such as a pg.Pool');
}

const DUPLICATE = new Set(['23505', '42710', '42P07']);
const sqlState = (err: unknown) =>
  typeof err === 'object' && err !== null ? Reflect.get(err, 'code') : undefined;

/**
 * Create the session table and its indexes if missing; safe to run again and from several processes at
 * once. Nothing is run when everything exists, so a role without CREATE privilege works on a migrated table.
 *
 * @example
 * ```ts
 * const { applied } = await migratePostgres(pool, { table: 'latchkey_sessions' });
 * ```
 */
export async function migratePostgres(
  client: Queryable,
  options: PostgresTableOptions = {},
): Promise<PostgresMigration> {
  assertQueryable(client);
  const { table, steps } = schemaSteps(options);
  const exists = steps.map((_, i) => `to_regclass($${i + 1}::text) IS NOT NULL AS "${i}"`).join(', ');
  const [present] = await run(
    client,
    `SELECT ${exists}`,
    steps.map((step) => step.name),
  );
  const applied: string[] = [];
  for (const [index, step] of steps.entries()) {
    if (present?.[index] === true) continue;
    try {
      await client.query(step.sql, []);
      applied.push(step.sql);
    } catch (err) {
      // IF NOT EXISTS still races: when a concurrent creator commits first we get 23505 (pg_type or
      // pg_class unique index), 42710 (type exists) or 42P07. Running the statement again then finds the
      // object and is a no-op; any other error, or a second failure, is a real one.
      if (!DUPLICATE.has(String(sqlState(err)))) throw storeUnavailable('postgres', err);
      await run(client, step.sql, []);
    }
  }
  return { table, applied };
}

/** pg returns bigint columns as strings by default; a custom type parser may give numbers or bigints. */
function millis(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^\d{1,16}$/.test(value)) return Number(value);
  return value;
}

/** A row to a record, or null if corrupt (a corrupt blob is no session). Absent optionals stay absent. */
function toRecord(row: Row | undefined): StoredRecord | null {
  if (row === undefined) return null;
  const parsed = parseStoredRecord({
    sealed: row.sealed,
    userId: row.user_id,
    createdAt: millis(row.created_at),
    expiresAt: millis(row.expires_at),
    absoluteAt: millis(row.absolute_at),
    lastSeenAt: millis(row.last_seen_at),
    version: millis(row.version),
    label: row.label,
  });
  if (parsed === null) return null;
  const { userId, label, ...rest } = parsed;
  return { ...rest, ...(userId !== undefined && { userId }), ...(label !== undefined && { label }) };
}

const isTime = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

const storable = (value: string | undefined) => value === undefined || !UNSTORABLE.test(value);

function assertWritable(record: StoredRecord): void {
  assertStoredRecord(record);
  if (!storable(record.sealed) || !storable(record.userId) || !storable(record.label))
    throw new TypeError('PostgreSQL text cannot hold NUL or unpaired surrogates');
  if (record.version > INT4_MAX) throw new TypeError('record versions are stored as 32-bit integers');
}

function assertTime(value: unknown, what: string): number {
  if (!isTime(value)) throw new TypeError(`${what} must be a non-negative integer of milliseconds`);
  return value;
}

/** `now` as a bigint parameter: floor keeps `expires_at > now` exact for integer columns. */
function queryTime(now: number): number {
  if (typeof now !== 'number' || Number.isNaN(now))
    throw new TypeError('now must be a number of milliseconds');
  return Math.min(Math.max(Math.floor(now), -Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

const recordParams = (r: StoredRecord) => [
  r.sealed,
  r.userId ?? null,
  r.createdAt,
  r.expiresAt,
  r.absoluteAt,
  r.lastSeenAt,
  r.version,
  r.label ?? null,
];

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
      assertWritable(record);
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
      assertWritable(record);
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
      if (isStoreKey(storeKey)) await query(`DELETE FROM ${t} WHERE key = $1`, [storeKey]);
    },
    async listByUser(userId) {
      if (!isUserId(userId) || !storable(userId)) return [];
      const rows = await query(
        `SELECT key, created_at, last_seen_at, expires_at, label FROM ${t} ` +
          'WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, key',
        [userId, now()],
      );
      const found: StoredMeta[] = [];
      for (const row of rows) {
        // A corrupt row is skipped, as `get` would read it as no session.
        const [createdAt, lastSeenAt, expiresAt] = [row.created_at, row.last_seen_at, row.expires_at].map(
          millis,
        );
        if (!isStoreKey(row.key) || !isTime(createdAt) || !isTime(lastSeenAt) || !isTime(expiresAt)) continue;
        const label = typeof row.label === 'string' ? { label: row.label } : {};
        found.push({ storeKey: row.key, userId, createdAt, lastSeenAt, expiresAt, ...label });
      }
      return found;
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
    async purgeExpired(at = clock.now(), { batchSize = 1000, onProgress }: PurgeOptions = {}) {
      if (!Number.isSafeInteger(batchSize) || batchSize < 1)
        throw new TypeError('batchSize must be a positive integer');
      const cutoff = queryTime(at);
      let total = 0;
      // Small batches, each its own statement: no long lock, no huge WAL burst (checklist #53).
      for (;;) {
        const rows = await query(
          `WITH gone AS (DELETE FROM ${t} WHERE key IN ` +
            `(SELECT key FROM ${t} WHERE expires_at <= $1 LIMIT $2) RETURNING 1) ` +
            'SELECT count(*) AS purged FROM gone',
          [cutoff, batchSize],
        );
        const purged = Number(rows[0]?.purged ?? 0);
        total += purged;
        if (purged > 0) onProgress?.(total);
        if (purged < batchSize) return total;
      }
    },
    async close() {
      // The client is the caller's: ending a shared pool here would break the rest of the app.
    },
  };
}
