import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { migrateMysql, mysqlSchemaSql, mysqlStore } from './mysql.ts';

// Real MariaDB (or MySQL), never a mock (STYLE.md): every test gets its own table, dropped at the end.
const connection = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };
const pool = mysql.createPool({ ...connection, connectionLimit: 10, connectTimeout: 3000 });
const tables: string[] = [];
const freshTable = () => {
  const name = `lk_test_${randomBytes(6).toString('hex')}`;
  tables.push(name);
  return name;
};
after(async () => {
  for (const table of tables) await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
  await pool.end();
});

describeStoreConformance('mysql (mysql2/promise pool)', ({ clock }) =>
  mysqlStore({ client: pool, table: freshTable(), clock }),
);

// mysql2's callback pool, as apps that use express-mysql-session have it.
const { createPool } = await import('mysql2');
const callbackPool = createPool({ ...connection, connectionLimit: 4 });
after(() => new Promise<void>((done) => callbackPool.end(() => done())));
describeStoreConformance('mysql (callback pool)', ({ clock }) =>
  mysqlStore({ client: callbackPool, table: freshTable(), clock }),
);

const HOUR = 3_600_000;

describe('mysql store', () => {
  test('migrateMysql is idempotent, also when raced, and makes the documented table', async () => {
    const table = freshTable();
    const raced = await Promise.all(Array.from({ length: 5 }, () => migrateMysql(pool, { table })));
    assert.ok(raced.every((result) => result.table === table));
    await migrateMysql(pool, { table });
    const [columns] = (await pool.query(
      'SELECT column_name AS name, collation_name AS coll FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position',
      ['test', table],
    )) as unknown as [Array<{ name: string; coll: string | null }>];
    const byName = Object.fromEntries(columns.map((c) => [c.name, c.coll]));
    assert.equal(byName.key, 'ascii_bin', 'keys compare byte-exactly');
    assert.equal(byName.user_id, 'utf8mb4_bin', 'user ids compare byte-exactly');
    assert.match(mysqlSchemaSql({ table }), /CREATE TABLE IF NOT EXISTS/);
  });

  test('keys and user ids are case- and accent-sensitive (checklist #56)', async () => {
    const clock = createFakeClock();
    const store = mysqlStore({ client: pool, table: freshTable(), clock });
    const key = newStoreKey();
    await store.create(key, sampleRecord(clock.now(), { userId: 'Ada' }));
    const flipped = key.replace(/[a-z]/, (c) => c.toUpperCase());
    assert.notEqual(flipped, key);
    assert.equal(await store.get(flipped), null);
    assert.equal((await store.listByUser('ada')).length, 0);
    assert.equal((await store.listByUser('Adá')).length, 0);
    assert.equal((await store.listByUser('Ada')).length, 1);
  });

  test('an injection-shaped table name is refused; hostile values are stored as data', async () => {
    assert.throws(() => mysqlStore({ client: pool, table: 'x`; DROP TABLE y; --' }), TypeError);
    assert.throws(() => mysqlStore({ client: {} as never }), TypeError);
    const clock = createFakeClock();
    const store = mysqlStore({ client: pool, table: freshTable(), clock });
    const key = newStoreKey();
    const userId = "u' OR '1'='1";
    await store.create(key, sampleRecord(clock.now(), { userId, label: "x'); DROP TABLE t; --" }));
    assert.equal((await store.listByUser(userId)).length, 1);
    assert.equal((await store.listByUser('u')).length, 0);
    await assert.rejects(
      store.create(newStoreKey(), sampleRecord(clock.now(), { userId: 'a\uD800' })),
      TypeError,
    );
  });

  test('purgeExpired deletes in batches with progress and keeps live rows', async () => {
    const clock = createFakeClock();
    const store = mysqlStore({ client: pool, table: freshTable(), clock });
    for (let i = 0; i < 25; i++)
      await store.create(newStoreKey(), sampleRecord(clock.now(), { expiresAt: clock.now() + 10 }));
    const live = newStoreKey();
    await store.create(live, sampleRecord(clock.now(), { expiresAt: clock.now() + HOUR }));
    clock.advance(11);
    const progress: number[] = [];
    assert.equal(
      await store.purgeExpired(clock.now(), { batchSize: 10, onProgress: (n) => progress.push(n) }),
      25,
    );
    assert.deepEqual(progress, [10, 20, 25]);
    assert.ok(await store.get(live));
    await assert.rejects(store.purgeExpired(clock.now(), { batchSize: 0 }), TypeError);
  });

  test('an unreachable server is a coded outage, quickly, and the store recovers', async () => {
    const dead = mysql.createPool({ host: '127.0.0.1', port: 1, user: 'root', connectTimeout: 1000 });
    try {
      const store = mysqlStore({ client: dead, table: freshTable() });
      const started = Date.now();
      await assert.rejects(store.get(newStoreKey()), { code: 'ERR_LATCHKEY_STORE_UNAVAILABLE' });
      assert.ok(Date.now() - started < 2000, 'within about a second');
    } finally {
      await dead.end();
    }
  });

  test('through the core: sign in, read back, log out everywhere', async () => {
    const store = mysqlStore({ client: pool, table: freshTable() });
    const sessions = createSessions({ keys: generateKeyLine('k1'), store });
    const session = await sessions.load(undefined);
    await session.login('grace');
    session.set('theme', 'dark');
    const [line] = await sessions.commit(session);
    const cookie = line!.slice(0, line!.indexOf(';'));
    const again = await sessions.load({ headers: { cookie } });
    assert.equal(again.userId, 'grace');
    assert.equal(again.get('theme'), 'dark');
    const [rows] = (await pool.query(`SELECT * FROM \`${tables.at(-1)}\``)) as unknown as [Row[]];
    const raw = JSON.stringify(rows);
    assert.ok(!raw.includes('dark'), 'data sealed at rest');
    assert.ok(!raw.includes(cookie.slice(cookie.indexOf('=') + 1)), 'the token is not stored');
    assert.equal(await sessions.revokeUserSessions('grace'), 1);
    assert.equal((await sessions.load({ headers: { cookie } })).userId, undefined);
  });
});

type Row = Record<string, unknown>;
