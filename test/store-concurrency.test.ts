/**
 * No lost updates, against every real store: 50 concurrent requests on one session, each setting a
 * different key, all persist; and a logout that races a slow request stays a logout (checklist #31).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createClient } from 'redis';
import { createSessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { fsStore } from '../src/stores/fs.ts';
import { memoryStore } from '../src/stores/memory.ts';
import { postgresStore } from '../src/stores/postgres.ts';
import { redisStore } from '../src/stores/redis.ts';
import { sqliteStore } from '../src/stores/sqlite.ts';
import type { SessionStore } from '../src/stores/types.ts';

const KEYS = generateKeyLine('k1');
const NAME = '__Host-lk';
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

const stores: Array<[string, () => Promise<SessionStore>, { skip?: string }?]> = [
  ['memory', async () => memoryStore()],
  [
    'fs',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-race-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return fsStore({ dir });
    },
  ],
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-race-'));
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
      const table = `lk_race_${randomBytes(6).toString('hex')}`;
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
      return redisStore({ client, prefix: `lkrace${randomBytes(4).toString('hex')}:` });
    },
  ],
];

for (const [name, makeStore, options] of stores) {
  describe(`${name} store under concurrency`, options ?? {}, () => {
    test('50 concurrent requests on one session, each setting a different key: all 50 persist', async () => {
      const sessions = createSessions({ keys: KEYS, store: await makeStore() });
      const first = await sessions.load(undefined);
      first.set('start', true);
      const [line] = await sessions.commit(first);
      const cookie = line!.slice(0, line!.indexOf(';'));
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const session = await sessions.load(cookie);
          session.set(`k${i}`, i);
          assert.deepEqual(await sessions.commit(session), []);
        }),
      );
      const final = await sessions.load(cookie);
      assert.equal(final.get('start'), true);
      const missing = Array.from({ length: 50 }, (_, i) => i).filter((i) => final.get(`k${i}`) !== i);
      assert.deepEqual(missing, []);
    });

    test('checklist #31: a logout racing a slow request stays logged out', async () => {
      const sessions = createSessions({ keys: KEYS, store: await makeStore() });
      const first = await sessions.load(undefined);
      await first.login('alice');
      const [line] = await sessions.commit(first);
      const cookie = line!.slice(0, line!.indexOf(';'));
      const slow = await sessions.load(cookie);
      const logout = await sessions.load(cookie);
      await logout.destroy();
      await sessions.commit(logout);
      slow.set('late', 'write');
      assert.deepEqual(await sessions.commit(slow), [], 'no cookie from the slow request');
      assert.equal((await sessions.load(cookie)).isNew, true);
      assert.deepEqual(await sessions.listUserSessions('alice'), []);
      assert.ok(cookie.startsWith(`${NAME}=`));
    });
  });
}
