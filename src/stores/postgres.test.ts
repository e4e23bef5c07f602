import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { createFakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { migratePostgres, postgresSchemaSql, postgresStore } from './postgres.ts';

// Real PostgreSQL, never a mock (STYLE.md): every test gets its own table, dropped at the end.
const connection = { host: '127.0.0.1', user: 'postgres', database: 'test' };
const pool = new pg.Pool({ ...connection, max: 10, connectionTimeoutMillis: 3000 });
const tables: string[] = [];
const schemas: string[] = [];
const roles: string[] = [];
const fresh = (prefix: string, list: string[]) => {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  list.push(name);
  return name;
};
const freshTable = () => fresh('lk_test', tables);

after(async () => {
  for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  for (const role of roles) await pool.query(`DROP ROLE IF EXISTS "${role}"`);
  await pool.end();
});

describeStoreConformance('postgres (pg.Pool)', ({ clock }) =>
  postgresStore({ client: pool, table: freshTable(), clock }),
);

// The same kit through one pg.Client (queued queries) and a named schema.
const client = new pg.Client(connection);
const clientSchema = fresh('lk_test_schema', schemas);
const clientReady = client.connect().then(() => pool.query(`CREATE SCHEMA "${clientSchema}"`));
after(() => client.end());
describeStoreConformance('postgres (pg.Client, schema)', async ({ clock }) => {
  await clientReady;
  return postgresStore({ client, schema: clientSchema, table: freshTable(), clock });
});

const HOUR = 3_600_000;
const tableExists = async (table: string) =>
  (await pool.query('SELECT to_regclass($1) IS NOT NULL AS present', [table])).rows[0].present as boolean;

describe('postgres store: schema', () => {
  test('stores racing on one new table all create the schema without failing', async () => {
    // Five rounds: the catalog race (23505/42710 on pg_type or pg_class) shows up in some, not all.
    for (let round = 0; round < 5; round++) {
      const table = freshTable();
      const stores = Array.from({ length: 8 }, () => postgresStore({ client: pool, table }));
      const created = await Promise.all(
        stores.map((store) => store.create(newStoreKey(), sampleRecord(Date.now()))),
      );
      assert.deepEqual(created, Array(8).fill(true));
      const { rows } = await pool.query('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1', [
        table,
      ]);
      assert.deepEqual(
        rows.map((row) => row.indexname),
        [`${table}_expires_at_idx`, `${table}_pkey`, `${table}_user_id_idx`],
      );
    }
  });

  test('migratePostgres is idempotent, also when raced', async () => {
    const table = freshTable();
    const first = await migratePostgres(pool, { table });
    assert.equal(first.table, `"${table}"`);
    assert.deepEqual(first.applied, postgresSchemaSql({ table }));
    assert.deepEqual((await migratePostgres(pool, { table })).applied, []);
    const racedTable = freshTable();
    const raced = await Promise.all(
      Array.from({ length: 6 }, () => migratePostgres(pool, { table: racedTable })),
    );
    assert.ok(raced.every((result) => result.table === `"${racedTable}"`));
    assert.ok(await tableExists(racedTable));
  });

  test('createSchema: false runs no DDL; a missing table is StoreUnavailable', async () => {
    const table = freshTable();
    const store = postgresStore({ client: pool, table, createSchema: false });
    await assert.rejects(store.get(newStoreKey()), { code: 'ERR_LATCHKEY_STORE_UNAVAILABLE' });
    assert.equal(await tableExists(table), false);
  });

  test('a role without CREATE privilege uses a migrated table (no DDL when it exists)', async () => {
    const table = freshTable();
    const role = fresh('lk_test_role', roles);
    await migratePostgres(pool, { table });
    await pool.query(`CREATE ROLE "${role}" NOLOGIN`);
    await pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${table}" TO "${role}"`);
    const limited = await pool.connect();
    try {
      await limited.query(`SET ROLE "${role}"`);
      await assert.rejects(migratePostgres(limited, { table: freshTable() }), {
        code: 'ERR_LATCHKEY_STORE_UNAVAILABLE',
      });
      const store = postgresStore({ client: limited, table });
      const key = newStoreKey();
      assert.equal(await store.create(key, sampleRecord(Date.now())), true);
      assert.notEqual(await store.get(key), null);
    } finally {
      await limited.query('RESET ROLE');
      limited.release();
    }
  });

  test('hostile table and schema names throw TypeError before any query (checklist #52)', async () => {
    const hostile: unknown[] = [
      '',
      'a b',
      '1abc',
      'x"; DROP TABLE y;--',
      'a.b',
      'ユーザー',
      'a'.repeat(64),
      'a-b',
    ];
    hostile.push(null, 42, { toString: () => 'ok' });
    for (const bad of hostile) {
      assert.throws(() => postgresStore({ client: pool, table: bad as string }), TypeError);
      assert.throws(() => postgresStore({ client: pool, schema: bad as string }), TypeError);
      await assert.rejects(migratePostgres(pool, { table: bad as string }), TypeError);
      assert.throws(() => postgresSchemaSql({ schema: bad as string }), TypeError);
    }
    assert.throws(() => postgresStore({ client: {} as pg.Pool }), TypeError);
    await assert.rejects(migratePostgres(null as unknown as pg.Pool), TypeError);
    const long = 'a'.repeat(63);
    const [, userIndex] = postgresSchemaSql({ table: long });
    assert.match(userIndex!, /^CREATE INDEX IF NOT EXISTS "a{42}_[0-9a-f]{8}_user_id_idx" /);
  });
});

describe('postgres store: data', () => {
  test('keys are byte-exact: a case variant is another key (checklist #56)', async () => {
    const table = freshTable();
    const store = postgresStore({ client: pool, table });
    const key = `AbC${newStoreKey().slice(3)}`;
    const variant = `abc${key.slice(3)}`;
    assert.equal(await store.create(key, sampleRecord(Date.now(), { sealed: 'v1.k1.upper' })), true);
    assert.equal(await store.get(variant), null);
    assert.equal(await store.create(variant, sampleRecord(Date.now(), { sealed: 'v1.k1.lower' })), true);
    assert.equal((await store.get(key))?.sealed, 'v1.k1.upper');
    assert.equal((await store.get(variant))?.sealed, 'v1.k1.lower');
    const { rows } = await pool.query(
      'SELECT collation_name FROM information_schema.columns WHERE table_name = $1 AND column_name = $2',
      [table, 'key'],
    );
    assert.equal(rows[0].collation_name, 'C');
  });

  test('values PostgreSQL text cannot hold are refused, never silently merged (checklist #56)', async () => {
    const store = postgresStore({ client: pool, table: freshTable() });
    const now = Date.now();
    for (const userId of ['a\0b', 'a\uD800', 'a\uDC00']) {
      await assert.rejects(store.create(newStoreKey(), sampleRecord(now, { userId })), TypeError);
      assert.deepEqual(await store.listByUser(userId), []);
      assert.equal(await store.deleteByUser(userId), 0);
    }
    await assert.rejects(store.create(newStoreKey(), sampleRecord(now, { sealed: 'v1.k1.\0' })), TypeError);
    await assert.rejects(store.create(newStoreKey(), sampleRecord(now, { version: 2 ** 31 })), TypeError);
    await assert.rejects(store.touch(newStoreKey(), Number.NaN, now), TypeError);
    assert.equal(await store.create(newStoreKey(), sampleRecord(now, { userId: 'a\uD83D\uDE00' })), true);
    assert.equal((await store.listByUser('a\uD83D\uDE00')).length, 1, 'a surrogate pair is fine');
  });

  test('a corrupt row reads as no session, never as an exception', async () => {
    const table = freshTable();
    const store = postgresStore({ client: pool, table });
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now(), { userId: 'u1' }));
    await pool.query(`UPDATE "${table}" SET version = 0, created_at = -5 WHERE key = $1`, [key]);
    assert.equal(await store.get(key), null);
    await pool.query(`UPDATE "${table}" SET key = 'short' WHERE key = $1`, [key]);
    assert.deepEqual(await store.listByUser('u1'), []);
  });

  test('batched purge of 2,500 expired rows reports progress and keeps live rows (checklist #53)', async () => {
    const clock = createFakeClock();
    const table = freshTable();
    const store = postgresStore({ client: pool, table, clock });
    const live = Array.from({ length: 5 }, newStoreKey);
    for (const key of live) await store.create(key, sampleRecord(clock.now(), { userId: 'u1' }));
    // Seeded in one statement: the purge is under test here, not 2,500 separate commits.
    const now = clock.now();
    await pool.query(
      `INSERT INTO "${table}" (key, user_id, sealed, created_at, expires_at, absolute_at, last_seen_at, version) ` +
        "SELECT k, 'u1', 'v1.k1.x', $2, $3, $4, $2, 1 FROM unnest($1::text[]) AS k",
      [Array.from({ length: 2500 }, newStoreKey), now, now + 1000, now + 24 * HOUR],
    );
    clock.advance(1000);
    const progress: number[] = [];
    assert.equal(await store.purgeExpired(undefined, { onProgress: (n) => progress.push(n) }), 2500);
    assert.deepEqual(progress, [1000, 2000, 2500]);
    assert.deepEqual((await store.listByUser('u1')).map((meta) => meta.storeKey).sort(), [...live].sort());
    assert.equal(await store.purgeExpired(clock.now(), { batchSize: 2 }), 0);
    await assert.rejects(store.purgeExpired(clock.now(), { batchSize: 0 }), TypeError);
    await assert.rejects(store.purgeExpired(Number.NaN), TypeError);
  });

  test('close() leaves the caller’s pool open', async () => {
    const store = postgresStore({ client: pool, table: freshTable() });
    await store.close();
    assert.equal((await pool.query('SELECT 1 AS one')).rows[0].one, 1);
  });
});

describe('postgres store: failures (fail closed, DESIGN §6)', () => {
  const failing = async (down: pg.Pool) => {
    const store = postgresStore({ client: down, table: 'lk_unreachable' });
    const key = newStoreKey();
    const marker = 'v1.k1.PLAINTEXT-MARKER';
    const calls = [
      () => store.get(key),
      () => store.create(key, sampleRecord(Date.now(), { sealed: marker, userId: 'u1' })),
      () => store.update(key, sampleRecord(Date.now(), { sealed: marker, version: 2 }), 1),
      () => store.touch(key, Date.now() + HOUR, Date.now()),
      () => store.delete(key),
      () => store.listByUser('u1'),
      () => store.deleteByUser('u1'),
      () => store.purgeExpired(),
      () => migratePostgres(down),
    ];
    for (const call of calls) {
      await assert.rejects(call(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_LATCHKEY_STORE_UNAVAILABLE');
        assert.ok(!err.message.includes(key) && !err.message.includes(marker), err.message);
        return true;
      });
    }
    await down.end();
  };

  // The test timeouts are hang guards, not speed assertions: a refused connection must reject.
  test('a closed port rejects with StoreUnavailable, no hang', { timeout: 20_000 }, async () => {
    await failing(
      new pg.Pool({ host: '127.0.0.1', port: 1, user: 'postgres', connectionTimeoutMillis: 3000 }),
    );
  });

  test('a server that accepts but never answers times out into StoreUnavailable', {
    timeout: 20_000,
  }, async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      await failing(new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', connectionTimeoutMillis: 100 }));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a driver error mid-flight is StoreUnavailable and names no record contents', async () => {
    const table = freshTable();
    const store = postgresStore({ client: pool, table });
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now()));
    await pool.query(`DROP TABLE "${table}"`);
    await assert.rejects(store.get(key), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_LATCHKEY_STORE_UNAVAILABLE');
      assert.ok(!err.message.includes(key));
      return true;
    });
  });
});
