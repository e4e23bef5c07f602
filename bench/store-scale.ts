/**
 * `npm run bench:store -- --sessions 1000,1000000` (or `npm run bench:store-scale -- --sessions …`):
 * does store mode stay as fast with a million stored sessions as with a thousand? For each store
 * (Redis, PostgreSQL, SQLite) and each N, a fresh store is filled with N sessions, then the same request
 * cycle is timed in this process: load a session by its cookie, increment a counter, commit (a store
 * read and a compare-and-set write), round-robin over 200 live sessions. It prints µs per request (wall
 * and this process's CPU) per N and the ratio of the largest N to the smallest; the target is ≤ 1.3×.
 * Each store first does one untimed run at the smallest size (JIT and connections warm).
 *
 * The N stored sessions are copies of one real sealed record under fresh random keys, made by the
 * database itself (INSERT … SELECT over generate_series / a recursive CTE; pipelined SETs in Redis),
 * since sealing a million sessions one by one would take longer than the measurement. They have no user
 * index entries: the request path never reads one. Informational only: nothing here fails a build.
 *
 *   --sessions 1000,100000,1000000   the sizes (default 1000,1000000)
 *   --requests 3000                  timed request cycles per size (after 500 untimed)
 *   --only redis,postgres,sqlite     the stores
 *   --rounds 3                       rounds, alternating the order of the sizes; medians are reported
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createClient } from 'redis';
import { createSessions } from '../src/core/sessions.ts';
import { storeKeyOf } from '../src/core/store-mode.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { postgresStore } from '../src/stores/postgres.ts';
import { redisStore } from '../src/stores/redis.ts';
import { sqliteStore } from '../src/stores/sqlite.ts';
import type { SessionStore } from '../src/stores/types.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000,1000000' },
    requests: { type: 'string', default: '3000' },
    only: { type: 'string', default: 'redis,postgres,sqlite' },
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
  },
  allowPositionals: true,
  strict: false,
});
const sizes = String(values.sessions)
  .split(',')
  .map((s) => Number(s.replace(/_/g, '')))
  .filter((n) => Number.isInteger(n) && n > 0)
  .sort((a, b) => a - b);
const requests = Number(values.requests);
const rounds = Math.max(1, Number(values.rounds));
const kinds = String(values.only).split(',');
const LIVE = 200;
const WARM = 500;

interface Fixture {
  store: SessionStore;
  /** Copies the record stored under `templateKey` to `count` fresh random keys. */
  fill(templateKey: string, count: number): Promise<void>;
  /** How many records the store holds now (to check the fill). */
  count(): Promise<number>;
  close(): Promise<void>;
}

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379';

async function redisFixture(): Promise<Fixture> {
  const client = await createClient({ url: REDIS_URL, disableOfflineQueue: true }).connect();
  const prefix = `lk-scale-${randomBytes(4).toString('hex')}:`;
  const recordKey = (storeKey: string) => `${prefix}s:{${storeKey}}`;
  return {
    store: redisStore({ client, prefix }),
    async fill(templateKey, count) {
      const value = await client.get(recordKey(templateKey));
      if (value === null) throw new Error('the template record is missing');
      for (let done = 0; done < count; ) {
        const batch = client.multi();
        const n = Math.min(5000, count - done);
        for (let i = 0; i < n; i++)
          batch.set(recordKey(randomBytes(32).toString('base64url')), value, { PX: 3_600_000 });
        await batch.execAsPipeline();
        done += n;
      }
    },
    async count() {
      let n = 0;
      for await (const keys of client.scanIterator({ MATCH: `${prefix}s:*`, COUNT: 10_000 }))
        n += keys.length;
      return n;
    },
    async close() {
      for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 10_000 })) {
        if (keys.length > 0) await client.unlink(keys);
      }
      await client.close();
    },
  };
}

async function postgresFixture(): Promise<Fixture> {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const table = `lk_scale_${randomBytes(4).toString('hex')}`;
  return {
    store: postgresStore({ client: pool, table }),
    async fill(templateKey, count) {
      for (let done = 0; done < count; ) {
        const n = Math.min(200_000, count - done);
        await pool.query(
          `INSERT INTO "${table}" (key, user_id, sealed, created_at, expires_at, absolute_at, last_seen_at, version, label)
           SELECT md5(random()::text || g::text) || md5(g::text), NULL, sealed, created_at, expires_at, absolute_at,
                  last_seen_at, version, label
           FROM "${table}", generate_series(1, $2) AS g WHERE key = $1`,
          [templateKey, n],
        );
        done += n;
      }
      // Settle what the bulk insert left behind, so that it is not measured as request time: the
      // visibility map and statistics (VACUUM ANALYZE) and the dirty pages and WAL (CHECKPOINT, which
      // needs a superuser or pg_checkpoint; without it, the run goes on as it is).
      await pool.query(`VACUUM ANALYZE "${table}"`);
      await pool.query('CHECKPOINT').catch(() => {});
    },
    async count() {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${table}"`);
      return rows[0].n as number;
    },
    async close() {
      await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    },
  };
}

async function sqliteFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-scale-'));
  const db = new Database(join(dir, 'sessions.db'));
  db.pragma('journal_mode = WAL');
  const table = 'latchkey_sessions';
  return {
    store: sqliteStore({ db, table }),
    async fill(templateKey, count) {
      db.prepare(
        `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?)
         INSERT INTO "${table}" (key, user_id, sealed, created_at, expires_at, absolute_at, last_seen_at, version, label)
         SELECT hex(randomblob(32)), NULL, sealed, created_at, expires_at, absolute_at, last_seen_at, version, label
         FROM "${table}", g WHERE key = ?`,
      ).run(count, templateKey);
    },
    async count() {
      return (db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n;
    },
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const FIXTURES: Record<string, () => Promise<Fixture>> = {
  redis: redisFixture,
  postgres: postgresFixture,
  sqlite: sqliteFixture,
};

interface Row {
  store: string;
  sessions: number;
  fillSec: number;
  wallUs: number;
  cpuUs: number;
}

async function measure(kind: string, size: number): Promise<Row> {
  const fixture = await FIXTURES[kind]!();
  try {
    const sessions = createSessions<{ n: number }>({ keys: generateKeyLine('k1'), store: fixture.store });
    // The live sessions the requests use; the first one's record is the filler's template.
    const cookies: string[] = [];
    for (let i = 0; i < LIVE; i++) {
      const session = await sessions.load(undefined);
      session.set('n', 0);
      const [line] = await sessions.commit(session);
      cookies.push(line!.split(';')[0]!);
    }
    // The cookie holds the token; the store knows the record by the token's hash.
    const templateKey = storeKeyOf(cookies[0]!.slice(cookies[0]!.indexOf('=') + 1));
    const fillStart = performance.now();
    await fixture.fill(templateKey, size - LIVE);
    const fillSec = (performance.now() - fillStart) / 1000;
    const stored = await fixture.count();
    if (stored < size) throw new Error(`${kind}: ${stored} records after the fill, expected ${size}`);
    const cycle = async (i: number) => {
      const session = await sessions.load({ headers: { cookie: cookies[i % LIVE]! } });
      if (session.isNew) throw new Error(`${kind}: a live session was not found`);
      session.set('n', (session.get('n') ?? 0) + 1);
      await sessions.commit(session);
    };
    for (let i = 0; i < WARM; i++) await cycle(i);
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < requests; i++) await cycle(i);
    const wallUs = ((performance.now() - start) * 1000) / requests;
    const used = process.cpuUsage(cpu);
    return { store: kind, sessions: size, fillSec, wallUs, cpuUs: (used.user + used.system) / requests };
  } finally {
    await fixture.close();
  }
}

const rows: (Row & { round: number })[] = [];
for (const kind of kinds) {
  if (!FIXTURES[kind]) throw new Error(`unknown store ${kind}: redis, postgres or sqlite`);
  // One untimed run first, so that the smallest size is not also the one that warms the JIT.
  await measure(kind, sizes[0]!);
  // Rounds alternate the order of the sizes, so that a slow minute of this shared machine does not
  // always land on the same size; the figure is the median over the rounds.
  for (let round = 1; round <= rounds; round++) {
    for (const size of round % 2 === 1 ? sizes : [...sizes].reverse()) {
      const row = { ...(await measure(kind, size)), round };
      rows.push(row);
      if (!values.json) {
        console.log(
          `${kind.padEnd(9)} round ${round}  ${String(size).padStart(9)} sessions  ${row.wallUs.toFixed(0).padStart(5)} µs/req wall  ` +
            `${row.cpuUs.toFixed(0).padStart(5)} µs/req CPU  (filled in ${row.fillSec.toFixed(1)} s)`,
        );
      }
    }
  }
}
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const summary = kinds.flatMap((kind) =>
  sizes.map((size) => {
    const own = rows.filter((r) => r.store === kind && r.sessions === size);
    return {
      store: kind,
      sessions: size,
      wallUs: median(own.map((r) => r.wallUs)),
      cpuUs: median(own.map((r) => r.cpuUs)),
    };
  }),
);
const ratios = kinds.map((kind) => {
  const first = summary.find((r) => r.store === kind && r.sessions === sizes[0])!;
  const last = summary.find((r) => r.store === kind && r.sessions === sizes.at(-1))!;
  return { store: kind, from: first.sessions, to: last.sessions, wall: last.wallUs / first.wallUs };
});
if (values.json) {
  console.log(JSON.stringify({ requests, live: LIVE, rounds, rows, summary, ratios }, null, 2));
} else {
  console.log('\nmedians over the rounds:');
  for (const r of summary) {
    console.log(
      `${r.store.padEnd(9)} ${String(r.sessions).padStart(9)} sessions  ${r.wallUs.toFixed(0).padStart(5)} µs/req wall  ${r.cpuUs.toFixed(0).padStart(5)} µs/req CPU`,
    );
  }
  console.log('');
  for (const r of ratios) {
    console.log(
      `${r.store.padEnd(9)} ${r.to.toLocaleString('en')} vs ${r.from.toLocaleString('en')} sessions: ` +
        `${r.wall.toFixed(2)}× the time per request (target ≤ 1.30×)`,
    );
  }
}
