// `latchkey migrate-store` against the real peers on this machine: express-session 1.19 with
// connect-redis 10 (Redis) and connect-pg-simple 10 (PostgreSQL) make the records, through an Express
// app signing users in over HTTP; the move goes into a Latchkey store; then a request with the old
// `connect.sid` cookie signs in through Latchkey's express-session reader over migratedStore().
// Every test has its own Redis prefix, PostgreSQL schema and temporary directory, removed afterwards.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RedisStore } from 'connect-redis';
import pg from 'pg';
import { createClient } from 'redis';
import { expressSession } from '../compat/legacy/express-session.ts';
import { migratedKey, migratedStore } from '../compat/legacy/migrated-store.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine, parseKeyring } from '../crypto/keyring.ts';
import type { SessionStore } from '../stores/types.ts';
import { run } from './main.ts';
import { migrateStore } from './migrate-store.ts';
import { openStore } from './store-url.ts';

// express-session, Express and connect-pg-simple are CommonJS: loaded untyped on purpose
// (@types/express-session would retype Express's Request for the whole project).
const require = createRequire(import.meta.url);
type Handler = (req: unknown, res: unknown, next: () => void) => void;
type App = Handler & { use(handler: Handler): void; get(path: string, handler: Handler): void };
const express = require('express') as () => App;
const session = require('express-session') as ((options: object) => Handler) & object;
const PGStore = (
  require('connect-pg-simple') as (s: unknown) => new (
    options: object,
  ) => object & {
    close(): Promise<void>;
  }
)(session);

const KEYS = generateKeyLine('k1');
const SECRET = 'the express-session secret of the old app';
const run_ = randomBytes(4).toString('hex');
let serial = 0;
const fresh = (label: string) => `${label}_${run_}_${serial++}`;

const redis = createClient({ url: 'redis://127.0.0.1:6379', disableOfflineQueue: true });
redis.on('error', () => {});
const pgPool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 2 });
const prefixes: string[] = [];
const schemas: string[] = [];
const dirs: string[] = [];
const closers: Array<() => Promise<unknown>> = [];

before(() => redis.connect());
after(async () => {
  for (const close of closers) await close().catch(() => {});
  for (const prefix of prefixes) {
    const found: string[] = [];
    for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) found.push(...batch);
    if (found.length > 0) await redis.del(found);
  }
  for (const schema of schemas) await pgPool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await redis.quit();
  await pgPool.end();
});

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-migrate-store-'));
  dirs.push(dir);
  return dir;
};

/**
 * Sign `count` users in on an Express app with express-session and `store` (as the old app did), each
 * with Passport's user and a cart; returns each user's Cookie header (`connect.sid=s%3A…`).
 */
async function signInOld(
  store: object,
  count: number,
  maxAge: number,
  label: string,
  again: readonly string[] = [],
): Promise<string[]> {
  const app = express();
  app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false, cookie: { maxAge } }));
  app.get('/login', (req, res) => {
    const { query, session: data } = req as { query: { user: string }; session: Record<string, unknown> };
    data.passport = { user: query.user };
    data.cart = [query.user, 2];
    (res as { json(body: unknown): void }).json({ ok: true });
  });
  const server = createServer(app as unknown as Parameters<typeof createServer>[1]);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const cookies: string[] = [];
    for (let i = 0; i < count; i++) {
      // With a cookie from `again`: that user's session changes (express-session saves it under its sid).
      const cookie = again[i];
      const response = await fetch(`${base}/login?user=${label}-${i}`, cookie ? { headers: { cookie } } : {});
      assert.equal(response.status, 200);
      // express-session sends the headers first and ends the body once the store has the session: read
      // the body, or the last records may still be on their way when the migration reads its first page
      // (a keyset page then passes over a sid that lands behind it: "38 of 40 moved").
      await response.arrayBuffer();
      if (cookie !== undefined) {
        cookies.push(cookie);
        continue;
      }
      const line = response.headers.getSetCookie().find((l) => l.startsWith('connect.sid='));
      assert.ok(line, 'express-session set its cookie');
      cookies.push(line.slice(0, line.indexOf(';')));
    }
    return cookies;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

async function cli(args: string[]) {
  const saved = process.env.LATCHKEY_KEYS;
  process.env.LATCHKEY_KEYS = KEYS;
  const out: string[] = [];
  const err: string[] = [];
  try {
    const status = await run(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { status, out: out.join('\n'), err: err.join('\n') };
  } finally {
    if (saved === undefined) delete process.env.LATCHKEY_KEYS;
    else process.env.LATCHKEY_KEYS = saved;
  }
}

const json = (result: { status: number; out: string; err: string }) => {
  assert.equal(result.status, 0, result.err);
  return JSON.parse(result.out) as Record<string, number | boolean>;
};

interface Source {
  /** --from and its --prefix / --table flags. */
  flags: string[];
  /** The connect store the old app used (for express-session), and one whose records outlive their cookie. */
  store: object;
  lingering: object;
  /** How many records the old store holds now. */
  size(): Promise<number>;
}

const sources = {
  async 'connect-redis'() {
    const prefix = `lk-mig:${fresh('sess')}:`;
    prefixes.push(prefix);
    const count = async () => {
      let n = 0;
      for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) n += batch.length;
      return n;
    };
    return {
      flags: ['--from', 'redis://127.0.0.1:6379', '--prefix', prefix],
      store: new RedisStore({ client: redis, prefix }),
      // disableTTL: the record stays after its cookie.expires (as with connect-redis's disableTTL).
      lingering: new RedisStore({ client: redis, prefix, disableTTL: true }),
      size: count,
    };
  },
  async 'connect-pg-simple'() {
    // Its table.sql names the primary key after "session": one table per schema.
    const schemaName = fresh('lk_mig');
    schemas.push(schemaName);
    await pgPool.query(`CREATE SCHEMA "${schemaName}"`);
    const make = () => {
      const store = new PGStore({
        pool: pgPool,
        schemaName,
        tableName: 'session',
        createTableIfMissing: true,
        pruneSessionInterval: false, // expired rows stay until pruned, as between two prunes
      });
      closers.push(() => store.close());
      return store;
    };
    const store = make();
    return {
      flags: ['--from', 'postgres://postgres@127.0.0.1:5432/test', '--table', `${schemaName}.session`],
      store,
      lingering: store,
      size: async () =>
        Number((await pgPool.query(`SELECT count(*) AS n FROM "${schemaName}".session`)).rows[0].n),
    };
  },
} satisfies Record<string, () => Promise<Source>>;
const makeSource = (name: keyof typeof sources) => sources[name]();

/** Targets: a Latchkey file: store, and Latchkey's Redis store under a prefix of its own. */
const targets: Record<string, () => string> = {
  'file:': () => `file:${tempDir()}`,
  'redis://': () => {
    const prefix = `lk-mig-target:${fresh('t')}:`;
    prefixes.push(prefix);
    return `redis://127.0.0.1:6379?prefix=${encodeURIComponent(prefix)}`;
  },
};

/** The app after the switch: Latchkey's sessions reading old cookies through migratedStore(). */
function latchkeyApp(store: SessionStore) {
  return createSessions({
    keys: KEYS,
    store,
    legacy: [
      expressSession({ secret: SECRET, store: migratedStore({ store, keys: KEYS }), destroyOld: true }),
    ],
    legacyUntil: '2099-01-01',
  });
}

for (const [sourceName, makeSource_] of Object.entries(sources)) {
  for (const [targetName, makeTarget] of Object.entries(targets)) {
    describe(`latchkey migrate-store: ${sourceName} → ${targetName}`, () => {
      test('moves every live record, skips expired ones; the old cookie then signs in through Latchkey', async () => {
        const source = await makeSource_();
        const expiredCookies = await signInOld(source.lingering, 3, 1000, 'gone');
        const cookies = await signInOld(source.store, 25, 3_600_000, 'user');
        await new Promise((resolve) => setTimeout(resolve, 1100)); // the 3 short cookies expire
        const to = makeTarget();
        const flags = [...source.flags, '--to', to, '--batch', '7', '--json'];

        const dry = json(await cli(['migrate-store', ...flags, '--dry-run']));
        assert.equal(dry.converted, 25);
        assert.equal(dry.expired, 3);
        assert.equal(
          json(await cli(['migrate-store', ...flags, '--dry-run'])).converted,
          25,
          'dry: nothing written',
        );

        const moved = json(await cli(['migrate-store', ...flags]));
        assert.deepEqual(
          { ...moved },
          {
            scanned: 28,
            converted: 25,
            already: 0,
            updated: 0,
            expired: 3,
            unreadable: 0,
            complete: true,
            dryRun: false,
          },
        );
        assert.equal(await source.size(), 28, 'the source is only read');
        const again = json(await cli(['migrate-store', ...flags]));
        assert.equal(again.converted, 0, 're-running writes nothing twice');
        assert.equal(again.already, 25);
        // The old app goes on: user 9's session changes; the last pass takes the change.
        await signInOld(source.store, 1, 3_600_000, 'changed', [cookies[9]!]);
        const last = json(await cli(['migrate-store', ...flags]));
        assert.deepEqual([last.converted, last.updated, last.already], [0, 1, 24]);

        const opened = await openStore(to);
        try {
          const sessions = latchkeyApp(opened.store);
          // The old cookie, as the browser sends it: the user is signed in with their data.
          const user = await sessions.load(cookies[4]!);
          assert.equal(user.isNew, false);
          assert.equal(user.userId, 'user-4');
          assert.deepEqual(JSON.parse(JSON.stringify(user.data)), {
            passport: { user: 'user-4' },
            cart: ['user-4', 2],
          });
          const lines = await sessions.commit(user);
          assert.ok(lines.some((line) => line.startsWith('__Host-lk=')));
          assert.ok(
            lines.some((line) => /^connect\.sid=;/.test(line)),
            'the old cookie is expired',
          );
          assert.equal((await sessions.load(cookies[9]!)).userId, 'changed-0', 'the updated copy');
          // The user index knows the moved sessions not moved yet.
          assert.equal((await sessions.listUserSessions('user-7')).length, 1);
          // destroyOld: a copy of the old cookie gets nothing once the user moved (the mark is written
          // after the response's lines are made, without holding the response back).
          await new Promise((resolve) => setTimeout(resolve, 100));
          assert.equal((await sessions.load(cookies[4]!)).userId, undefined);
          // The next request carries Latchkey's cookie.
          const next = lines.find((line) => line.startsWith('__Host-lk='))!;
          const back = await sessions.load(next.slice(0, next.indexOf(';')));
          assert.equal(back.userId, 'user-4');
          // Expired and forged cookies get no session.
          assert.equal((await sessions.load(expiredCookies[0]!)).userId, undefined);
          const forged = cookies[5]!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
          assert.equal((await sessions.load(forged)).userId, undefined);
          // A re-run after the move does not bring the moved record back.
          const after = json(await cli(['migrate-store', ...flags]));
          assert.deepEqual([after.converted, after.updated], [0, 0], 'a used-up record stays used up');
          assert.equal((await sessions.load(cookies[4]!)).userId, undefined);
        } finally {
          await opened.close();
        }
      });

      test('an interrupted run resumes from its checkpoint and ends with every record moved once', async () => {
        const source = await makeSource_();
        const cookies = await signInOld(source.store, 40, 3_600_000, 'resume');
        const to = makeTarget();
        const checkpoint = join(tempDir(), 'migrate.checkpoint');
        const keyring = parseKeyring(KEYS);
        const fromFlags = Object.fromEntries(
          [0, 2].map((i) => [source.flags[i]!.slice(2), source.flags[i + 1]!]),
        ) as { from: string; prefix?: string; table?: string };

        // The first run stops (Ctrl-C) after the first batch that moved something.
        const opened = await openStore(to);
        const controller = new AbortController();
        let first: Awaited<ReturnType<typeof migrateStore>>;
        try {
          first = await migrateStore({
            ...fromFlags,
            target: opened.store,
            keyring,
            batch: 10,
            resume: checkpoint,
            signal: controller.signal,
            onProgress: (counts) => {
              if (counts.converted > 0) controller.abort();
            },
          });
        } finally {
          await opened.close();
        }
        assert.equal(first.complete, false);
        assert.ok(first.counts.converted > 0 && first.counts.converted < 40, String(first.counts.converted));
        assert.ok(existsSync(checkpoint));
        assert.equal(statSync(checkpoint).mode & 0o777, 0o600);
        const saved = readFileSync(checkpoint, 'utf8');
        assert.equal(JSON.parse(saved).done, false);

        // A crash after a batch was written but before its checkpoint: the same batch comes again.
        const stale = `${checkpoint}.stale`;
        copyFileSync(checkpoint, stale);

        const flags = [...source.flags, '--to', to, '--batch', '10', '--json'];
        const resumed = json(await cli(['migrate-store', ...flags, '--resume', checkpoint]));
        assert.equal(resumed.complete, true);
        assert.equal(resumed.converted, 40, 'counted over both runs: each record moved exactly once');
        assert.equal(JSON.parse(readFileSync(checkpoint, 'utf8')).done, true);
        const done = await cli(['migrate-store', ...source.flags, '--to', to, '--resume', checkpoint]);
        assert.equal(done.status, 0);
        assert.match(done.out, /nothing to do/);

        const replayed = json(await cli(['migrate-store', ...flags, '--resume', stale]));
        assert.equal(replayed.converted, first.counts.converted, 'nothing moved twice after a replay');
        // (SCAN may list a key twice: never more converted, perhaps more already.)
        assert.ok(Number(replayed.already) >= 40 - first.counts.converted);

        // Another source's checkpoint is refused, not misused.
        const other = await cli([
          'migrate-store',
          '--from',
          'redis://127.0.0.1:6379',
          '--prefix',
          'other:',
          '--to',
          to,
          '--resume',
          checkpoint,
        ]);
        assert.equal(other.status, 2);
        assert.match(other.err, /another source/);

        const check = await openStore(to);
        try {
          for (const cookie of cookies) {
            const sid = decodeURIComponent(cookie.slice('connect.sid='.length))
              .slice(2)
              .replace(/\.[^.]*$/, '');
            assert.notEqual(await check.store.get(migratedKey(sid)), null, sid);
          }
          assert.equal((await latchkeyApp(check.store).load(cookies[39]!)).userId, 'resume-39');
        } finally {
          await check.close();
        }
      });
    });
  }
}

describe('latchkey migrate-store: the real CLI process', () => {
  test('Ctrl-C stops after the batch in progress with the checkpoint saved (exit 130); the same command finishes', async () => {
    const source = await makeSource('connect-pg-simple');
    // express-session's own Cookie, through the store's set(): the records as express-session writes them.
    const { Cookie } = session as unknown as { Cookie: new (options: object) => object };
    const store = source.store as { set(sid: string, data: object, cb: (error?: unknown) => void): void };
    const count = 400;
    await Promise.all(
      Array.from(
        { length: count },
        (_, i) =>
          new Promise<void>((resolve, reject) =>
            store.set(
              `sid-${String(i).padStart(4, '0')}-${randomBytes(8).toString('hex')}`,
              { cookie: new Cookie({ maxAge: 3_600_000 }), passport: { user: `u${i}` } },
              (error) => (error ? reject(error) : resolve()),
            ),
          ),
      ),
    );
    const to = targets['file:']!();
    const checkpoint = join(tempDir(), 'ckpt');
    const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
    const args = ['migrate-store', ...source.flags, '--to', to, '--batch', '1', '--resume', checkpoint];
    const child = spawn(process.execPath, ['--import', 'tsx', bin, ...args], {
      env: { ...process.env, LATCHKEY_KEYS: KEYS },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let interrupted = false;
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      // The first progress line past the start: the run is under way. One Ctrl-C (a second one would
      // end the process at once, as usual).
      if (!interrupted && /^migrate-store [1-9]/m.test(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: the position is saved/);
    assert.match(
      stderr,
      /^migrate-store \d+\/400 \d+\.\d% \d+ moved, 0 already, 0 expired/m,
      'plain progress lines',
    );
    const saved = JSON.parse(readFileSync(checkpoint, 'utf8'));
    assert.equal(saved.done, false);
    assert.ok(saved.counts.converted > 0 && saved.counts.converted < count, String(saved.counts.converted));

    const finished = json(await cli([...args, '--batch', '100', '--json']));
    assert.equal(finished.converted, count);
    assert.equal(finished.already, 0, 'keyset order: no record read twice');
  });
});

describe('latchkey migrate-store: bad input', () => {
  test('usage and configuration errors exit 2 with a coded message, never a stack trace', async () => {
    const to = `file:${tempDir()}`;
    assert.equal((await cli(['migrate-store', '--to', to])).status, 2);
    for (const [args, message] of [
      [['--from', 'mysql://root@127.0.0.1/test'], /--from must be/],
      [
        ['--from', 'postgres://postgres@127.0.0.1:5432/test', '--table', 'x; DROP TABLE y'],
        /--table must be/,
      ],
      [['--from', 'redis://127.0.0.1:6379', '--prefix', ''], /--prefix must not be empty/],
      [['--from', 'redis://127.0.0.1:6379', '--batch', '0'], /--batch must be/],
      [['--from', 'redis://127.0.0.1:6379', '--batch', 'ten'], /--batch must be/],
      [['--from', 'redis://127.0.0.1:6379', '--table', 'session'], /--table is for/],
    ] as const) {
      const result = await cli(['migrate-store', ...args, '--to', to]);
      assert.equal(result.status, 2, args.join(' '));
      assert.match(result.err, message);
      assert.doesNotMatch(result.err, /\n\s+at /);
    }
    const missing = await cli([
      'migrate-store',
      '--from',
      'postgres://postgres@127.0.0.1:5432/test',
      '--table',
      `${fresh('lk_mig')}.session`,
      '--to',
      to,
    ]);
    assert.equal(missing.status, 2);
    assert.match(missing.err, /ERR_LATCHKEY_STORE_UNAVAILABLE: the source store failed \(42P01\)/);
    const down = await cli(['migrate-store', '--from', 'redis://127.0.0.1:1', '--to', to]);
    assert.equal(down.status, 2);
    assert.match(down.err, /ERR_LATCHKEY_STORE_UNAVAILABLE/);
  });

  test('records that are not express-session JSON are counted unreadable and not moved', async () => {
    const prefix = `lk-mig:${fresh('junk')}:`;
    prefixes.push(prefix);
    await redis.set(`${prefix}a`, 'not json');
    await redis.set(`${prefix}b`, '[1,2]');
    await redis.hSet(`${prefix}c`, 'x', '1');
    await redis.set(`${prefix}d`, JSON.stringify({ cookie: { expires: 'garbage' }, n: 1 }));
    const result = json(
      await cli([
        'migrate-store',
        '--from',
        'redis://127.0.0.1:6379',
        '--prefix',
        prefix,
        '--to',
        `file:${tempDir()}`,
        '--json',
      ]),
    );
    assert.equal(result.unreadable, 3);
    assert.equal(result.expired, 1, 'an unreadable cookie.expires counts as expired, as the reader does');
    assert.equal(result.converted, 0);
  });
});
