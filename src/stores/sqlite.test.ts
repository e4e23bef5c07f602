import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StoreUnavailable } from '../errors.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { migrateSqlite, type SqliteDatabase, sqliteStore } from './sqlite.ts';

type Handle = SqliteDatabase & { close(): void };
interface Driver {
  name: string;
  open: (path: string) => Handle;
  skip: string | false;
}

const count = (db: SqliteDatabase, table: string) =>
  Number((db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number | bigint }).n);

const unavailable = (): Handle => {
  throw new TypeError('driver not loaded');
};

/** better-sqlite3's native module is built for one Node ABI (Node 20 here); under another it cannot load. */
async function betterSqlite(): Promise<Driver> {
  try {
    const { default: Database } = await import('better-sqlite3');
    new Database(':memory:').close();
    return { name: 'better-sqlite3', open: (path) => new Database(path), skip: false };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const abi = code === 'ERR_DLOPEN_FAILED' || /NODE_MODULE_VERSION/.test(String(err));
    const skip = abi ? 'better-sqlite3 is built for another Node ABI' : `better-sqlite3 did not load: ${err}`;
    return { name: 'better-sqlite3', open: unavailable, skip };
  }
}

/** node:sqlite is built into Node ≥ 22.5 (unflagged from 22.13); @types/node 20 does not declare it. */
async function nodeSqlite(): Promise<Driver> {
  const specifier = 'node:sqlite';
  try {
    const { DatabaseSync } = (await import(specifier)) as { DatabaseSync: new (path: string) => Handle };
    return { name: 'node:sqlite', open: (path) => new DatabaseSync(path), skip: false };
  } catch {
    return {
      name: 'node:sqlite',
      open: unavailable,
      skip: `node:sqlite is not available in Node ${process.version}`,
    };
  }
}

const HOUR = 3_600_000;

const handles: Handle[] = [];
const dirs: string[] = [];
after(async () => {
  for (const handle of handles) handle.close();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

for (const driver of [await betterSqlite(), await nodeSqlite()]) {
  const open = (path: string) => {
    const handle = driver.open(path);
    handles.push(handle);
    return handle;
  };
  let shared: Handle | undefined;
  let tables = 0;

  describe(`sqlite store (${driver.name})`, { skip: driver.skip }, () => {
    // One in-memory database, a fresh table per conformance test.
    describeStoreConformance(driver.name, ({ clock }) => {
      shared ??= open(':memory:');
      return sqliteStore({ db: shared, table: `conformance_${++tables}`, clock });
    });

    test('checklist #52: hostile table names throw before any SQL runs', () => {
      const db = open(':memory:');
      const hostile = [
        '',
        '1abc',
        'a b',
        'a"b',
        'x; DROP TABLE y',
        't--',
        'a'.repeat(64),
        'sqlite_master',
        'é',
      ];
      for (const table of [...hostile, 42, {}]) {
        assert.throws(() => sqliteStore({ db, table: table as string }), TypeError, String(table));
        assert.throws(() => migrateSqlite(db, { table: table as string }), TypeError, String(table));
      }
      assert.equal(count(db, 'sqlite_master'), 0, 'nothing was created');
    });

    test('migrateSqlite is idempotent: a TEXT primary key with BINARY collation (#56) and two indexes', () => {
      const db = open(':memory:');
      migrateSqlite(db, { table: 'sessions' });
      migrateSqlite(db, { table: 'sessions' });
      const sqlOf = (name: string) =>
        (db.prepare('SELECT sql FROM sqlite_master WHERE name = ?').get(name) as { sql: string }).sql;
      assert.match(sqlOf('sessions'), /key TEXT PRIMARY KEY NOT NULL/);
      assert.doesNotMatch(sqlOf('sessions'), /COLLATE/i);
      assert.match(sqlOf('sessions_user_id'), /\(user_id\)/);
      assert.match(sqlOf('sessions_expires_at'), /\(expires_at\)/);
    });

    test('two handles on one database file interleave compare-and-set updates', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'latchkey-sqlite-'));
      dirs.push(dir);
      const [dbA, dbB] = [open(join(dir, 'sessions.db')), open(join(dir, 'sessions.db'))];
      dbA.exec('PRAGMA journal_mode = WAL');
      const [a, b] = [sqliteStore({ db: dbA }), sqliteStore({ db: dbB })];
      const key = newStoreKey();
      assert.equal(await a.create(key, sampleRecord(Date.now())), true);
      assert.equal(await b.create(key, sampleRecord(Date.now())), false, 'the other handle sees the row');
      const racers = Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? a : b).update(key, sampleRecord(Date.now(), { version: 2, sealed: `v1.k1.u${i}` }), 1),
      );
      const results = await Promise.all(racers);
      assert.equal(results.filter((result) => result === 'ok').length, 1);
      for (let i = 0; i < 100; i++) {
        const [reader, writer] = i % 2 ? [a, b] : [b, a];
        const current = (await reader.get(key))!;
        const next = { ...current, sealed: `v1.k1.n${i}`, version: current.version + 1 };
        assert.equal(await writer.update(key, next, current.version), 'ok');
        assert.equal(
          await reader.update(key, { ...next, sealed: 'v1.k1.stale' }, current.version),
          'conflict',
        );
      }
      assert.deepEqual(await a.get(key), await b.get(key));
      assert.equal((await a.get(key))?.version, 102);
      await b.delete(key);
      assert.equal(await a.update(key, sampleRecord(Date.now(), { version: 103 }), 102), 'missing');
    });

    test('checklist #53: purgeExpired deletes in batches and never a live record', async () => {
      const clock = createFakeClock();
      const store = sqliteStore({ db: open(':memory:'), clock });
      const live = newStoreKey();
      await store.create(
        live,
        sampleRecord(clock.now(), { userId: 'u1', expiresAt: clock.now() + 2 * HOUR }),
      );
      for (let i = 0; i < 2500; i++)
        await store.create(
          newStoreKey(),
          sampleRecord(clock.now(), { userId: 'u1', expiresAt: clock.now() + i }),
        );
      clock.advance(HOUR);
      assert.equal(await store.purgeExpired?.(), 2500);
      assert.deepEqual(
        (await store.listByUser('u1')).map((meta) => meta.storeKey),
        [live],
      );
    });

    test('a row edited into garbage is no session', async () => {
      const db = open(':memory:');
      const store = sqliteStore({ db });
      const key = newStoreKey();
      await store.create(key, sampleRecord(Date.now()));
      db.prepare('UPDATE latchkey_sessions SET version = ? WHERE key = ?').run('two', key);
      assert.equal(await store.get(key), null);
    });

    test('driver errors are StoreUnavailable; the store never closes the db it was given', async () => {
      const db = driver.open(':memory:');
      const store = sqliteStore({ db });
      await store.create(newStoreKey(), sampleRecord(Date.now()));
      await store.close?.();
      assert.equal(count(db, 'latchkey_sessions'), 1, 'still open');
      db.close();
      await assert.rejects(store.get(newStoreKey()), StoreUnavailable);
      await assert.rejects(store.create(newStoreKey(), sampleRecord(Date.now())), StoreUnavailable);
      const foreign = open(':memory:');
      foreign.exec('CREATE TABLE latchkey_sessions (id INTEGER)');
      await assert.rejects(sqliteStore({ db: foreign }).get(newStoreKey()), {
        code: 'ERR_LATCHKEY_STORE_UNAVAILABLE',
      });
    });
  });
}
