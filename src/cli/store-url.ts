/**
 * Store URLs for the CLI: `file:<dir>`, `sqlite:<path>`, `redis://…` (`redis+cluster://h1:p1,h2:p2` for
 * a cluster), `postgres://…`, `mysql://…` (MariaDB too; `mariadb://` is the same). Each driver is loaded only when its URL is used (they are optional peers).
 */
import { existsSync } from 'node:fs';
import { ConfigError, LatchkeyError, StoreUnavailable } from '../errors.ts';
import type { SqliteDatabase } from '../stores/sqlite.ts';
import type { SessionStore } from '../stores/types.ts';

export interface OpenedStore {
  readonly store: SessionStore;
  /** Create what the store needs (tables, indexes, folders); returns a line saying what was done. */
  migrate(): Promise<string>;
  /**
   * Delete expired sessions, reporting progress (`scanned` and `total` when the store walks its records);
   * for Redis, which expires keys itself, 0.
   */
  purge(onProgress: (purged: number, scanned?: number, total?: number) => void): Promise<number>;
  close(): Promise<void>;
}

async function load<M>(name: string): Promise<M> {
  try {
    return (await import(name)) as M;
  } catch (error) {
    throw new ConfigError(`this store URL needs the '${name}' package: npm install ${name}`, {
      cause: error,
    });
  }
}

function pathAfter(url: string, scheme: string, mustExist: boolean): string {
  const rest = url.slice(scheme.length);
  let path = rest;
  if (rest.startsWith('//')) {
    const parsed = new URL(url);
    // file://var/x would name the host 'var' and open /x: refuse it rather than open the wrong place.
    if (parsed.host !== '' && parsed.host !== 'localhost') {
      throw new ConfigError(
        `${scheme}// URLs take an absolute path (${scheme}///var/sessions) or none of the slashes (${scheme}./sessions)`,
      );
    }
    path = decodeURIComponent(parsed.pathname);
  }
  if (path === '') throw new ConfigError(`${scheme} URLs need a path, e.g. ${scheme}./sessions`);
  // Only migrate makes a store: anything else on a path that holds none (a typo) would report success.
  if (mustExist && !existsSync(path)) {
    throw new ConfigError(
      `no store at that ${scheme} path (make one with latchkey migrate --store ${scheme}…)`,
    );
  }
  return path;
}

type ClosableDatabase = SqliteDatabase & { close(): void };

async function openSqliteDatabase(path: string): Promise<ClosableDatabase> {
  try {
    const { default: Database } = await load<{ default: new (path: string) => ClosableDatabase }>(
      'better-sqlite3',
    );
    return new Database(path);
  } catch {
    // better-sqlite3 missing or built for another Node: node:sqlite (Node ≥ 22.5) takes the same SQL.
    let sqlite: { DatabaseSync: new (path: string, options?: object) => ClosableDatabase };
    try {
      const specifier = 'node:sqlite'; // not in @types/node 20
      sqlite = (await import(specifier)) as typeof sqlite;
    } catch (error) {
      throw new ConfigError(
        `sqlite: URLs need the 'better-sqlite3' package (npm install better-sqlite3) or Node ≥ 22.5, whose node:sqlite needs nothing installed (this is Node ${process.versions.node})`,
        { cause: error },
      );
    }
    return new sqlite.DatabaseSync(path, { timeout: 5000 });
  }
}

/**
 * Open the store a URL names. Throws ConfigError for an unknown scheme, a malformed URL, a missing
 * driver, or (unless `create`) a file or SQLite store that does not exist yet; StoreUnavailable when
 * the backend cannot be reached. No message ever holds the URL, which may carry a password.
 */
export async function openStore(storeUrl: string, options: { create?: boolean } = {}): Promise<OpenedStore> {
  try {
    return await openStoreUnchecked(storeUrl, options.create !== true);
  } catch (error) {
    if (error instanceof LatchkeyError) throw error;
    if (error instanceof TypeError || error instanceof URIError) {
      throw new ConfigError('the store URL is not a valid URL'); // no cause: it holds the URL
    }
    const code = (error as { code?: unknown } | null)?.code;
    throw new StoreUnavailable(`could not reach the store${typeof code === 'string' ? ` (${code})` : ''}`);
  }
}

async function openStoreUnchecked(storeUrl: string, mustExist: boolean): Promise<OpenedStore> {
  let url = storeUrl;
  if (url.startsWith('file:')) {
    const { fsStore } = await import('../stores/fs.ts');
    const store = fsStore({ dir: pathAfter(url, 'file:', mustExist) });
    return {
      store,
      migrate: async () => 'folders ready (the fs store needs no migration)',
      purge: (onProgress) =>
        store.purgeExpired(undefined, (scanned, purged, total) => onProgress(purged, scanned, total)),
      close: async () => {},
    };
  }
  if (url.startsWith('sqlite:')) {
    const { sqliteStore, migrateSqlite } = await import('../stores/sqlite.ts');
    const db = await openSqliteDatabase(pathAfter(url, 'sqlite:', mustExist));
    const store = sqliteStore({ db });
    return {
      store,
      migrate: async () => {
        migrateSqlite(db);
        return 'table latchkey_sessions and its indexes are in place';
      },
      purge: async (onProgress) => {
        const purged = await store.purgeExpired();
        onProgress(purged);
        return purged;
      },
      close: async () => db.close(),
    };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // `?table=` picks the sessions table (default latchkey_sessions); the rest goes to the driver.
    const parsed = new URL(url);
    const table = parsed.searchParams.get('table') ?? undefined;
    parsed.searchParams.delete('table');
    url = parsed.toString();
    const pg = await load<{
      default: {
        Pool: new (config: object) => import('../stores/postgres.ts').Queryable & { end(): Promise<void> };
      };
    }>('pg');
    const pool = new pg.default.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5000 });
    const { postgresStore, migratePostgres } = await import('../stores/postgres.ts');
    const store = postgresStore({ client: pool, ...(table ? { table } : {}) });
    return {
      store,
      migrate: async () => {
        const result = await migratePostgres(pool, table ? { table } : {});
        const name = result.table;
        return result.applied.length === 0
          ? `${name} is up to date`
          : `${name}: ${result.applied.length} statement(s) applied`;
      },
      purge: (onProgress) => store.purgeExpired(undefined, { onProgress }),
      close: () => pool.end(),
    };
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    // `?table=` picks the sessions table (default latchkey_sessions); the rest goes to mysql2.
    const parsed = new URL(url);
    const table = parsed.searchParams.get('table') ?? undefined;
    parsed.searchParams.delete('table');
    parsed.protocol = 'mysql:';
    const mysql = await load<{
      default: {
        createPool(config: object): import('../stores/mysql.ts').MysqlQueryable & { end(): Promise<void> };
      };
    }>('mysql2/promise');
    const pool = mysql.default.createPool({
      uri: parsed.toString(),
      connectionLimit: 2,
      connectTimeout: 5000,
    });
    const { mysqlStore, migrateMysql } = await import('../stores/mysql.ts');
    const store = mysqlStore({ client: pool, ...(table ? { table } : {}) });
    return {
      store,
      migrate: async () => {
        const result = await migrateMysql(pool, table ? { table } : {});
        return `table ${result.table} and its indexes are in place`;
      },
      purge: (onProgress) => store.purgeExpired(undefined, { onProgress }),
      close: () => pool.end(),
    };
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://') || url.startsWith('redis+cluster://')) {
    // `?prefix=` picks the key prefix (default latchkey:).
    const queryAt = url.indexOf('?');
    const prefix =
      queryAt === -1 ? undefined : (new URLSearchParams(url.slice(queryAt + 1)).get('prefix') ?? undefined);
    if (queryAt !== -1) url = url.slice(0, queryAt);
    const redis = await load<typeof import('redis')>('redis');
    const { redisStore } = await import('../stores/redis.ts');
    const socket = { connectTimeout: 5000, reconnectStrategy: false as const };
    const client = url.startsWith('redis+cluster://')
      ? redis.createCluster({
          rootNodes: url
            .slice('redis+cluster://'.length)
            .split(',')
            .map((node) => ({ url: `redis://${node}` })),
          defaults: { socket },
        })
      : redis.createClient({ url, socket });
    client.on('error', () => {}); // failures surface as StoreUnavailable from the store's calls
    await client.connect();
    return {
      store: redisStore({ client, ...(prefix ? { prefix } : {}) }),
      migrate: async () => 'nothing to migrate: Redis needs no schema',
      purge: async (onProgress) => {
        onProgress(0);
        return 0; // sessions carry a TTL: Redis deletes them itself
      },
      close: async () => {
        await client.close();
      },
    };
  }
  throw new ConfigError(
    `unknown store URL '${url.split(':')[0]}:': use file:, sqlite:, redis://, redis+cluster://, postgres:// or mysql://`,
  );
}
