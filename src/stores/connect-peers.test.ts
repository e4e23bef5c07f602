// The four connect stores the migration guide names, the real packages against the real servers on
// this machine (never mocks): connect-redis 10 on Redis (node-redis v5), connect-pg-simple 10 on
// PostgreSQL, express-mysql-session 3 (mysql2) on MariaDB, session-file-store 1.5 on a temporary
// directory. Each runs the store conformance kit through connectStore(), an end-to-end sign-in over
// HTTP through latchkey/node, and an adversarial read of what the backend holds. Every test gets its own
// Redis prefix, PostgreSQL schema, MariaDB table or directory, removed afterwards.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RedisStore } from 'connect-redis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { withSession } from '../adapters/node.ts';
import { createSessions } from '../core/sessions.ts';
import { storeKeyOf } from '../core/store-mode.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import type { FakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { type ConnectStoreLike, connectStore } from './connect.ts';
import { isStoreKey, type SessionStore } from './types.ts';

// express-session and its stores are CommonJS without types: loaded untyped on purpose
// (@types/express-session would retype Express's Request for the whole project).
const require = createRequire(import.meta.url);
const session = require('express-session') as unknown;
type StoreClass<O, C = never> = new (
  options: O,
  connection?: C,
) => ConnectStoreLike & {
  close?(): Promise<void>;
  onReady?(): Promise<void>;
};
const PGStore = (require('connect-pg-simple') as (s: unknown) => StoreClass<object>)(session);
const MySQLStore = (require('express-mysql-session') as (s: unknown) => StoreClass<object, mysql.Pool>)(
  session,
);
const FileStore = (require('session-file-store') as (s: unknown) => StoreClass<object>)(session);

const keys = generateKeyLine('k1');
const run = randomBytes(5).toString('hex');
let serial = 0;
const fresh = (prefix: string) => `${prefix}_${run}_${serial++}`;

const redis = createClient({ url: 'redis://127.0.0.1:6379' });
redis.on('error', () => {});
const pgPool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 5 });
const mysqlPool = mysql.createPool({ host: '127.0.0.1', user: 'root', database: 'test', connectionLimit: 5 });
const pgSchemas: string[] = [];
const mysqlTables: string[] = [];
const dirs: string[] = [];
const closers: Array<() => Promise<unknown>> = [];

before(() => redis.connect());
after(async () => {
  for (const close of closers) await close();
  for await (const batch of redis.scanIterator({ MATCH: `lk-connect:${run}:*`, COUNT: 1000 })) {
    if (batch.length > 0) await redis.del(batch);
  }
  for (const schema of pgSchemas) await pgPool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  for (const table of mysqlTables) await mysqlPool.query(`DROP TABLE IF EXISTS \`${table}\``);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  redis.destroy();
  await pgPool.end();
  await mysqlPool.end();
});

/** One backing store, wrapped, and a way to read everything it holds as the backend keeps it. */
interface Peer {
  store: SessionStore;
  /** Every [key, stored text] in the backend, read around the connect store. */
  raw(): Promise<Array<[string, string]>>;
}

const peers: Record<string, (clock?: FakeClock) => Promise<Peer>> = {
  async 'connect-redis'(clock) {
    const prefix = `lk-connect:${run}:${serial++}:`;
    const backing = new RedisStore({ client: redis, prefix });
    return {
      store: connectStore(backing as unknown as ConnectStoreLike, { keys, clock }),
      async raw() {
        const found: Array<[string, string]> = [];
        for await (const batch of redis.scanIterator({ MATCH: `${prefix}*` }))
          for (const key of batch) found.push([key.slice(prefix.length), (await redis.get(key)) ?? '']);
        return found;
      },
    };
  },
  async 'connect-pg-simple'(clock) {
    // Its table.sql names the primary key and index after "session": one table per schema.
    const schemaName = fresh('lk_connect');
    pgSchemas.push(schemaName);
    await pgPool.query(`CREATE SCHEMA "${schemaName}"`);
    const backing = new PGStore({
      pool: pgPool,
      schemaName,
      tableName: 'session',
      createTableIfMissing: true,
      pruneSessionInterval: false,
    });
    closers.push(() => backing.close!());
    return {
      store: connectStore(backing, { keys, clock }),
      async raw() {
        const { rows } = await pgPool.query(`SELECT sid, sess::text AS sess FROM "${schemaName}".session`);
        return rows.map((row: { sid: string; sess: string }) => [row.sid, row.sess]);
      },
    };
  },
  async 'express-mysql-session'(clock) {
    const tableName = fresh('lk_connect');
    mysqlTables.push(tableName);
    const backing = new MySQLStore({ schema: { tableName }, clearExpired: false }, mysqlPool);
    await backing.onReady!();
    closers.push(() => backing.close!());
    return {
      store: connectStore(backing, { keys, clock }),
      async raw() {
        const [rows] = await mysqlPool.query(`SELECT session_id, data FROM \`${tableName}\``);
        return (rows as Array<{ session_id: string; data: string }>).map((row) => [row.session_id, row.data]);
      },
    };
  },
  async 'session-file-store'(clock) {
    const path = mkdtempSync(join(tmpdir(), 'lk-connect-'));
    dirs.push(path);
    // retries: 0, as docs/stores/connect.md advises: a missing file is no session, at once.
    const backing = new FileStore({ path, retries: 0, reapInterval: -1, logFn: () => {} });
    return {
      store: connectStore(backing, { keys, clock }),
      async raw() {
        return readdirSync(path).map((file) => [
          file.replace(/\.json$/, ''),
          readFileSync(join(path, file), 'utf8'),
        ]);
      },
    };
  },
};

/** Conformance cases that need a user index, skipped for a store without all(), ids() or list(). */
const NEEDS_USER_INDEX = /user|exactly one says it went/;

for (const [name, makePeer] of Object.entries(peers)) {
  const hasIndex = name !== 'connect-pg-simple';
  describeStoreConformance(`connect (${name})`, async ({ clock }) => (await makePeer(clock)).store, {
    hasPurge: false,
    it: (title, body) =>
      it(title, { skip: !hasIndex && NEEDS_USER_INDEX.test(title) && 'no all(): no user index' }, body),
  });
}

type Data = { note?: string };

/** latchkey/node on a real HTTP server; the routes sign in, read, and sign out everywhere. */
async function serve(store: SessionStore) {
  const sessions = createSessions<Data>({ keys, store, trustProxy: true });
  const server = createServer(
    withSession(sessions, async (req, res, session) => {
      if (req.url === '/login') {
        await session.login('alice@example.com');
        session.set('note', 'plaintext-marker');
      } else if (req.url === '/everywhere' && session.userId !== undefined) {
        await sessions.revokeUserSessions(session.userId);
      } else if (req.url === '/logout') {
        await session.destroy();
      }
      res.end(JSON.stringify({ user: session.userId ?? null, note: session.get('note') ?? null }));
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (path: string, cookie?: string) => {
    const response = await fetch(`${base}${path}`, {
      headers: { 'x-forwarded-proto': 'https', ...(cookie && { cookie }) },
    });
    const setCookie = response.headers.getSetCookie()[0]?.split(';')[0];
    return { status: response.status, body: await response.text(), cookie: setCookie };
  };
  return { call, close: () => new Promise((resolve) => server.close(resolve)) };
}

const SIGNED_IN = '{"user":"alice@example.com","note":"plaintext-marker"}';
const SIGNED_OUT = '{"user":null,"note":null}';

for (const [name, makePeer] of Object.entries(peers)) {
  describe(`connect (${name}) through latchkey/node`, () => {
    it('signs in, keeps the data, signs out; the backend holds only hashed keys and sealed values', async () => {
      const peer = await makePeer();
      const app = await serve(peer.store);
      try {
        const login = await app.call('/login');
        assert.deepEqual([login.status, login.body], [200, SIGNED_IN]);
        const cookie = login.cookie!;
        const token = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
        assert.equal((await app.call('/', cookie)).body, SIGNED_IN, 'read back from the store');

        // Adversarial read: one record, under SHA-256(token), revealing nothing of the session.
        const held = await peer.raw();
        assert.deepEqual(
          held.map(([key]) => key),
          [storeKeyOf(token)],
        );
        const [, text] = held[0]!;
        for (const secret of [token, 'alice', 'example.com', 'plaintext-marker', 'userId', 'note']) {
          assert.equal(text.includes(secret), false, `the backend holds ${secret} in clear`);
        }
        const value = JSON.parse(text) as { cookie: { expires: string }; latchkey: string };
        assert.match(value.latchkey, /^v1\.k1\.[A-Za-z0-9_-]+$/);
        assert.ok(Date.parse(value.cookie.expires) > Date.now(), 'the backend TTL follows the session');
        assert.ok(held.every(([key]) => isStoreKey(key)));

        const logout = await app.call('/logout', cookie);
        assert.equal(logout.body, SIGNED_OUT);
        assert.deepEqual(await peer.raw(), [], 'the record is gone from the backend');
        assert.equal((await app.call('/', cookie)).body, SIGNED_OUT, 'the old cookie is dead');
      } finally {
        await app.close();
      }
    });

    it(
      name === 'connect-pg-simple'
        ? 'log out everywhere is a coded error (no all()), and the session is kept'
        : 'log out everywhere ends every session of the user, through the store scan',
      async () => {
        const peer = await makePeer();
        const app = await serve(peer.store);
        try {
          const first = (await app.call('/login')).cookie!;
          const second = (await app.call('/login')).cookie!;
          const everywhere = await app.call('/everywhere', second);
          if (name === 'connect-pg-simple') {
            assert.equal(everywhere.status, 500, 'ERR_LATCHKEY_CONFIG, not a silent no-op');
            assert.equal((await app.call('/', first)).body, SIGNED_IN);
          } else {
            assert.equal(everywhere.status, 200);
            assert.equal((await app.call('/', first)).body, SIGNED_OUT);
            assert.equal((await app.call('/', second)).body, SIGNED_OUT);
            // Both session records are gone; what is left is the user's revocation time, which "sign
            // out everywhere" writes first (docs/concurrency.md, store mode rule 8): no session.
            const left = (await peer.raw()).map(([key]) => key);
            for (const cookie of [first, second]) {
              const token = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
              assert.ok(!left.includes(storeKeyOf(token)), 'the session record is gone');
            }
            assert.ok(left.length <= 3, 'at most three revocation records (windows of sign-in time)');
          }
        } finally {
          await app.close();
        }
      },
    );
  });
}

describe('connect-pg-simple without a user index', () => {
  it('concurrent deletes of one record: exactly one says it went (the per-process lock)', async () => {
    const { store } = await peers['connect-pg-simple']!();
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now()));
    const results = await Promise.all(Array.from({ length: 10 }, () => store.delete(key)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(await store.get(key), null);
  });
});
