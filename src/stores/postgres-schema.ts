/**
 * The PostgreSQL store's table: its DDL, and `migratePostgres`, which creates it if missing. Re-exported by
 * `latchkey/stores/postgres` (postgres.ts), which holds the store itself.
 */
import { createHash } from 'node:crypto';
import { storeUnavailable } from './types.ts';

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

export interface PostgresMigration {
  /** The quoted, possibly schema-qualified table name. */
  readonly table: string;
  /** The DDL statements run; empty when the table and indexes already existed. */
  readonly applied: readonly string[];
}

export type Row = Record<string, unknown>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

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
export function schemaSteps(options: PostgresTableOptions): {
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

export async function run(client: Queryable, text: string, params: unknown[]): Promise<Row[]> {
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

export function assertQueryable(client: unknown): asserts client is Queryable {
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
