import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { run } from './main.ts';
import { openStore } from './store-url.ts';

const KEYS = generateKeyLine('k1');
const dirs: string[] = [];
const tables: string[] = [];
const mysqlTables: string[] = [];
after(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  const pool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 1 });
  for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`);
  await pool.end();
  const maria = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: 'test' });
  for (const table of mysqlTables) await maria.query(`DROP TABLE IF EXISTS \`${table}\``);
  await maria.end();
});

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await run(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

/** Sign `userId` in through the real store-mode core, at `when` (so sessions can be made already expired). */
async function signIn(url: string, userId: string, when = Date.now()) {
  const opened = await openStore(url);
  try {
    const sessions = createSessions({ keys: KEYS, store: opened.store, clock: createFakeClock(when) });
    const session = await sessions.load(undefined);
    await session.login(userId);
    await sessions.commit(session);
  } finally {
    await opened.close();
  }
}

function urls(): Array<[string, () => string]> {
  return [
    [
      'file:',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
        dirs.push(dir);
        return `file:${dir}`;
      },
    ],
    [
      'sqlite:',
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
        dirs.push(dir);
        return `sqlite:${join(dir, 'sessions.db')}`;
      },
    ],
    [
      'postgres://',
      () => {
        const table = `lk_cli_${randomBytes(6).toString('hex')}`;
        tables.push(table);
        return `postgres://postgres@127.0.0.1:5432/test?table=${table}`;
      },
    ],
    [
      'mysql://',
      () => {
        const table = `lk_cli_${randomBytes(6).toString('hex')}`;
        mysqlTables.push(table);
        return `mysql://root@127.0.0.1:3306/test?table=${table}`;
      },
    ],
  ];
}

for (const [scheme, makeUrl] of urls()) {
  describe(`latchkey sessions/migrate with ${scheme}`, () => {
    test('migrate, list, revoke and purge', async () => {
      const url = makeUrl();
      const migrated = await cli(['migrate', '--store', url]);
      assert.equal(migrated.status, 0, migrated.err);
      await signIn(url, 'u1');
      await signIn(url, 'u1');
      await signIn(url, 'u2');
      await signIn(url, 'old', Date.now() - 3 * 86_400_000);

      const listed = await cli(['sessions', 'list', '--user', 'u1', '--store', url, '--json']);
      assert.equal(listed.status, 0, listed.err);
      const sessions = JSON.parse(listed.out);
      assert.equal(sessions.length, 2);
      assert.ok(
        sessions.every((s: { id: string; userId: string }) => /^[\w-]{43}$/.test(s.id) && s.userId === 'u1'),
      );
      assert.match(
        (await cli(['sessions', 'list', '--user', 'u1', '--store', url])).out,
        /^2 live session\(s\) for u1/,
      );

      const revoked = await cli(['sessions', 'revoke', '--user', 'u1', '--store', url]);
      assert.equal(revoked.out, 'revoked 2 session(s) of u1');
      assert.equal(
        JSON.parse((await cli(['sessions', 'list', '--user', 'u1', '--store', url, '--json'])).out).length,
        0,
      );
      assert.equal(
        JSON.parse((await cli(['sessions', 'list', '--user', 'u2', '--store', url, '--json'])).out).length,
        1,
      );

      const purged = await cli(['sessions', 'purge', '--store', url]);
      assert.equal(purged.status, 0, purged.err);
      assert.equal(purged.out, 'purged 1 expired session(s)');
      assert.match(purged.err, /purged/, 'progress on stderr');
      assert.equal(
        JSON.parse((await cli(['sessions', 'list', '--user', 'u2', '--store', url, '--json'])).out).length,
        1,
      );
    });
  });
}

test('sessions revoke --revocation: cookie-mode sessions of the user signed in until now are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
  dirs.push(dir);
  const url = `file:${dir}`;
  const opened = await openStore(url);
  const saved = process.env.LATCHKEY_KEYS;
  process.env.LATCHKEY_KEYS = KEYS;
  try {
    const sessions = createSessions({ keys: KEYS, revocation: opened.store, absoluteTimeout: '12h' });
    const signIn = async (userId: string) => {
      const session = await sessions.load(undefined);
      await session.login(userId);
      const cookie = (await sessions.commit(session))[0]!.split(';')[0]!;
      return () => sessions.load(cookie);
    };
    const alice = await signIn('alice');
    const bob = await signIn('bob');
    await new Promise((resolve) => setTimeout(resolve, 2));
    const usage = await cli(['sessions', 'revoke', '--user', 'alice', '--revocation', url, '--store', url]);
    assert.equal(usage.status, 2, 'a store or a revocation store, not both');
    const guessing = await cli(['sessions', 'revoke', '--user', 'alice', '--revocation', url]);
    assert.equal(guessing.status, 2, "the app's timeouts are required: records are found by them");
    const revoked = await cli([
      'sessions',
      'revoke',
      '--user',
      'alice',
      '--revocation',
      url,
      '--absolute',
      '12h',
    ]);
    assert.equal(revoked.status, 0, revoked.err);
    assert.match(revoked.out, /^revoked every cookie-mode session of alice signed in until \d{4}-/);
    assert.equal((await alice()).isNew, true);
    assert.equal((await bob()).userId, 'bob');
  } finally {
    if (saved === undefined) delete process.env.LATCHKEY_KEYS;
    else process.env.LATCHKEY_KEYS = saved;
    await opened.close();
  }
});

test('store URL mistakes are usage errors with a coded message', async () => {
  const unknown = await cli(['sessions', 'list', '--user', 'u1', '--store', 'mongodb://x']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.err, /ERR_LATCHKEY_CONFIG: unknown store URL/);
  assert.equal(
    (await cli(['sessions', 'list', '--store', 'file:./never-created'])).status,
    2,
    'list needs --user',
  );
  assert.equal((await cli(['sessions', 'frob', '--store', 'file:./never-created'])).status, 2);
  const down = await cli([
    'sessions',
    'list',
    '--user',
    'u1',
    '--store',
    'postgres://postgres@127.0.0.1:1/test',
  ]);
  assert.equal(down.status, 2);
  assert.match(down.err, /ERR_LATCHKEY_STORE_UNAVAILABLE/);
});

test('a store URL with a password never shows it, whatever goes wrong; exit 2, no stack trace', async () => {
  for (const url of [
    'postgres://admin:S3cretPW@[bad/db', // not a URL
    'redis://admin:S3cretPW@[bad',
    'redis://:S3cretPW@127.0.0.1:1', // nobody listening
    'file://x/%E0%A4%A', // a broken escape
  ]) {
    const result = await cli(['sessions', 'list', '--user', 'u1', '--store', url]);
    assert.equal(result.status, 2, url);
    assert.match(result.err, /ERR_LATCHKEY_(CONFIG|STORE_UNAVAILABLE)/, url);
    assert.ok(!result.err.includes('S3cretPW'), `${url}: ${result.err}`);
  }
});

test('a file: or sqlite: store that does not exist is refused, except by migrate, which makes it', async () => {
  const base = mkdtempSync(join(tmpdir(), 'latchkey-cli-'));
  dirs.push(base);
  const typo = join(base, 'typo-dir');
  const revoke = await cli(['sessions', 'revoke', '--user', 'bob', '--store', `file:${typo}`]);
  assert.equal(revoke.status, 2, 'an operator revoking a user must not be told it worked');
  assert.match(revoke.err, /ERR_LATCHKEY_CONFIG: no store at that file: path/);
  assert.equal(existsSync(typo), false, 'and nothing was created');
  const db = join(base, 'typo.db');
  assert.equal((await cli(['sessions', 'list', '--user', 'bob', '--store', `sqlite:${db}`])).status, 2);
  assert.equal(existsSync(db), false);
  // file://host/x names the host 'host' and the path /x: refused, not opened.
  const hosted = await cli(['sessions', 'list', '--user', 'bob', '--store', `file://host${typo}`]);
  assert.equal(hosted.status, 2);
  assert.match(hosted.err, /absolute path/);
  assert.equal((await cli(['migrate', '--store', `file:${typo}`])).status, 0);
  assert.equal((await cli(['sessions', 'list', '--user', 'bob', '--store', `file://${typo}`])).status, 0);
});
