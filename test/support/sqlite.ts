/**
 * An in-memory SQLite database from whichever driver this Node can load: better-sqlite3 (built for
 * the Node it was installed with) or, where that fails to load (CI's Node 24 run), node:sqlite.
 */
import Database from 'better-sqlite3';
import type { SqliteDatabase } from '../../src/stores/sqlite.ts';

type SqliteHandle = SqliteDatabase & { close(): void };

export async function openMemorySqlite(): Promise<SqliteHandle> {
  try {
    return new Database(':memory:') as unknown as SqliteHandle;
  } catch (error) {
    const specifier = 'node:sqlite'; // @types/node 20 does not declare it
    const loaded = (await import(specifier).catch(() => undefined)) as
      | { DatabaseSync: new (path: string) => SqliteHandle }
      | undefined;
    if (!loaded) throw error;
    return new loaded.DatabaseSync(':memory:');
  }
}
