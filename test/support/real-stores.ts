/**
 * Every shipped store on its real backend (memory, fs and SQLite in temporary folders, PostgreSQL and
 * Redis on 127.0.0.1), for tests that run one scenario against each. Each made store is cleaned up
 * (tables dropped, folders removed, clients closed) when the test file ends.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createClient } from 'redis';
import { fsStore } from '../../src/stores/fs.ts';
import { memoryStore } from '../../src/stores/memory.ts';
import { postgresStore } from '../../src/stores/postgres.ts';
import { redisStore } from '../../src/stores/redis.ts';
import { sqliteStore } from '../../src/stores/sqlite.ts';
import type { SessionStore } from '../../src/stores/types.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function sqliteLoads(): boolean {
  try {
    new Database(':memory:').close();
    return true;
  } catch {
    return false; // built for another Node ABI (the Node 24 run): the sqlite store's own tests cover node:sqlite
  }
}

export const realStores: Array<[string, () => Promise<SessionStore>, { skip?: string }?]> = [
  ['memory', async () => memoryStore()],
  [
    'fs',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return fsStore({ dir });
    },
  ],
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-store-'));
      const db = new Database(join(dir, 'sessions.db'));
      db.pragma('journal_mode = WAL');
      cleanups.push(() => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return sqliteStore({ db });
    },
    sqliteLoads() ? {} : { skip: 'better-sqlite3 is built for another Node ABI' },
  ],
  [
    'postgres',
    async () => {
      const pool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 10 });
      const table = `lk_test_${randomBytes(6).toString('hex')}`;
      cleanups.push(async () => {
        await pool.query(`DROP TABLE IF EXISTS "${table}"`);
        await pool.end();
      });
      return postgresStore({ client: pool, table });
    },
  ],
  [
    'redis',
    async () => {
      const client = createClient({ url: 'redis://127.0.0.1:6379' });
      await client.connect();
      cleanups.push(() => client.close());
      return redisStore({ client, prefix: `lktest${randomBytes(4).toString('hex')}:` });
    },
  ],
];
