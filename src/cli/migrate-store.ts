/**
 * `latchkey migrate-store`: moves a whole connect-redis or connect-pg-simple store (express-session
 * records) offline into a Latchkey store, where `expressSession({ store: migratedStore(...) })` of
 * `latchkey/legacy` finds them by the sid of the old cookie (src/compat/legacy/migrated-store.ts).
 *
 * Resumable two ways: every write is insert-if-absent (a record already moved is counted, never written
 * twice), and with `--resume FILE` the source position (Redis SCAN cursor, PostgreSQL keyset: the last
 * sid) is saved after every batch, so that a run stopped by Ctrl-C, a crash or an outage goes on where
 * it stopped. The source is only read.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { toSession } from '../compat/legacy/express-session.ts';
import { migratedKey, openMigrated, sealMigrated } from '../compat/legacy/migrated-store.ts';
import { parseObject } from '../compat/legacy/shared.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { ConfigError, StoreUnavailable } from '../errors.ts';
import type { SessionStore, StoredRecord } from '../stores/types.ts';

/** What a run counted. `scanned` = the others added up. */
export interface MigrateCounts {
  scanned: number;
  /** Written to the target (or, with --dry-run, that would be). */
  converted: number;
  /** Already in the target as they are now (or already used by their user): left as they are. */
  already: number;
  /** In the target from an earlier run, changed in the source since: the target's copy replaced. */
  updated: number;
  /** Past their `cookie.expires` or the source's own expiry: not moved. */
  expired: number;
  /** Not an express-session record (not JSON, not an object, a key of another type): not moved. */
  unreadable: number;
}

export interface MigrateStoreOptions {
  /** `redis://…` (connect-redis) or `postgres://…` (connect-pg-simple). */
  from: string;
  /** connect-redis's `prefix`. Default `sess:`. */
  prefix?: string | undefined;
  /** connect-pg-simple's table, optionally `schema.table`. Default `session`. */
  table?: string | undefined;
  /** The Latchkey store to write to. */
  target: SessionStore;
  keyring: Keyring;
  /** Count only: nothing is written, no checkpoint either. */
  dryRun?: boolean | undefined;
  /** Records per batch (SCAN COUNT / LIMIT). Default 500. */
  batch?: number | undefined;
  /** The checkpoint file: read at the start when it exists, written after every batch. */
  resume?: string | undefined;
  /** Lifetime (seconds) of a record with no expiry at all (no cookie.expires, no TTL). Default 86400. */
  ttl?: number | undefined;
  now?: () => number;
  /** Stops the run after the batch in progress (its checkpoint saved). */
  signal?: AbortSignal | undefined;
  onProgress?: (counts: MigrateCounts, total: number | undefined) => void;
}

export interface MigrateResult {
  counts: MigrateCounts;
  /** False when the signal stopped the run before the end. */
  complete: boolean;
  /** True when the checkpoint said an earlier run had already finished: nothing was read. */
  alreadyComplete: boolean;
}

/**
 * One source record: its sid, its JSON text (null: unreadable, or `gone`: expired by the source between
 * the listing and the read), and when the source expires it.
 */
interface SourceItem {
  sid: string;
  json: string | null;
  expiresAt: number | undefined;
  gone?: boolean;
}

interface Source {
  /** Names the source (no password), to refuse a checkpoint made for another one. */
  readonly id: string;
  readonly start: string;
  total(): Promise<number | undefined>;
  next(
    position: string,
    batch: number,
    now: number,
  ): Promise<{ items: SourceItem[]; position: string; done: boolean }>;
  close(): Promise<void>;
}

interface Checkpoint {
  version: 1;
  source: string;
  position: string;
  done: boolean;
  counts: MigrateCounts;
}

const zero = (): MigrateCounts => ({
  scanned: 0,
  converted: 0,
  already: 0,
  updated: 0,
  expired: 0,
  unreadable: 0,
});

/** Writes in flight at once within a batch. */
const WRITERS = 16;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A Redis MATCH pattern for keys starting with `prefix` (its glob characters escaped). */
function matchPrefix(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
}

interface RedisLike {
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  on(event: 'error', listener: () => void): unknown;
  scan(
    cursor: string,
    options: { MATCH: string; COUNT: number },
  ): Promise<{ cursor: string | number; keys: string[] }>;
  mGet(keys: string[]): Promise<Array<string | null>>;
  pTTL(key: string): Promise<number>;
}

async function redisSource(url: string, prefix: string): Promise<Source> {
  if (prefix === '')
    throw new ConfigError('--prefix must not be empty (connect-redis uses sess: by default)');
  let redis: typeof import('redis');
  try {
    redis = await import('redis');
  } catch (error) {
    throw new ConfigError("a redis:// source needs the 'redis' package: npm install redis", { cause: error });
  }
  const client = redis.createClient({
    url,
    socket: { connectTimeout: 5000, reconnectStrategy: false },
  }) as unknown as RedisLike;
  client.on('error', () => {});
  await client.connect();
  const parsed = new URL(url);
  return {
    id: `redis|${parsed.host}|${parsed.pathname}|${prefix}`,
    start: '0',
    total: async () => undefined, // DBSIZE counts every key, not the prefix's: unknown
    async next(position, batch, now) {
      const reply = await client.scan(position, { MATCH: matchPrefix(prefix), COUNT: batch });
      const { keys } = reply;
      // One MGET for the batch (nil for a key gone since the SCAN, or of another type), the TTLs beside it.
      const [values, ttls] =
        keys.length === 0
          ? [[], []]
          : await Promise.all([client.mGet(keys), Promise.all(keys.map((key) => client.pTTL(key)))]);
      const items = keys.map((key, index): SourceItem => {
        const sid = key.slice(prefix.length);
        const json = values[index] ?? null;
        const pttl = ttls[index]!;
        // -2: expired since the SCAN; -1: no TTL. A nil value of a live key: another type (a hash, say).
        if (pttl === -2) return { sid, json: null, expiresAt: now, gone: true };
        return { sid, json, expiresAt: pttl >= 0 ? now + pttl : undefined };
      });
      const cursor = String(reply.cursor);
      return { items, position: cursor, done: cursor === '0' };
    },
    close: async () => {
      await client.close();
    },
  };
}

interface PgPoolLike {
  query(text: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}

async function postgresSource(url: string, table: string): Promise<Source> {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new ConfigError('--table must be a table name (letters, digits, _), optionally schema.table');
  }
  const quoted = parts.map((part) => `"${part}"`).join('.');
  let pg: { default: { Pool: new (config: object) => PgPoolLike } };
  try {
    pg = (await import('pg')) as typeof pg;
  } catch (error) {
    throw new ConfigError("a postgres:// source needs the 'pg' package: npm install pg", { cause: error });
  }
  const pool = new pg.default.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5000 });
  const parsed = new URL(url);
  return {
    id: `postgres|${parsed.host}|${parsed.pathname}|${table}`,
    start: '',
    async total() {
      const { rows } = await pool.query(`SELECT count(*)::float8 AS n FROM ${quoted}`);
      return Number(rows[0]?.n);
    },
    async next(position, batch) {
      // Keyset pagination on the primary key: the same collation orders the rows and compares `>`.
      const { rows } = await pool.query(
        `SELECT sid, sess::text AS sess, (extract(epoch FROM expire::timestamptz) * 1000)::float8 AS expire FROM ${quoted} WHERE sid > $1 ORDER BY sid LIMIT $2`,
        [position, batch],
      );
      const items = rows.map(
        (row): SourceItem => ({
          sid: String(row.sid),
          json: typeof row.sess === 'string' ? row.sess : null,
          expiresAt: typeof row.expire === 'number' && Number.isFinite(row.expire) ? row.expire : undefined,
        }),
      );
      const last = items.at(-1);
      return { items, position: last === undefined ? position : last.sid, done: rows.length < batch };
    },
    close: () => pool.end(),
  };
}

async function openSource(options: MigrateStoreOptions): Promise<Source> {
  const { from } = options;
  try {
    if (from.startsWith('redis://') || from.startsWith('rediss://')) {
      if (options.table !== undefined) throw new ConfigError('--table is for a postgres:// source');
      return await redisSource(from, options.prefix ?? 'sess:');
    }
    if (from.startsWith('postgres://') || from.startsWith('postgresql://')) {
      if (options.prefix !== undefined) throw new ConfigError('--prefix is for a redis:// source');
      return await postgresSource(from, options.table ?? 'session');
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if (error instanceof TypeError) throw new ConfigError('--from is not a valid URL'); // no cause: it may hold a password
    const code = (error as { code?: unknown } | null)?.code;
    throw new StoreUnavailable(
      `could not reach the source store${typeof code === 'string' ? ` (${code})` : ''}`,
    );
  }
  throw new ConfigError(
    '--from must be the connect store express-session used: redis://… (connect-redis) or postgres://… (connect-pg-simple)',
  );
}

function readCheckpoint(file: string, source: string): Checkpoint | undefined {
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new ConfigError('the --resume file is not a migrate-store checkpoint');
  }
  const checkpoint = value as Partial<Checkpoint> | null;
  if (
    checkpoint?.version !== 1 ||
    typeof checkpoint.position !== 'string' ||
    typeof checkpoint.done !== 'boolean' ||
    typeof checkpoint.counts !== 'object' ||
    checkpoint.counts === null
  ) {
    throw new ConfigError('the --resume file is not a migrate-store checkpoint');
  }
  if (checkpoint.source !== source) {
    throw new ConfigError(
      'the --resume file belongs to another source (--from, --prefix or --table differ): use another file',
    );
  }
  return { ...(checkpoint as Checkpoint), counts: { ...zero(), ...checkpoint.counts } };
}

/** Written whole to a temporary file, then renamed over the old one: never half a checkpoint. */
function writeCheckpoint(file: string, checkpoint: Checkpoint): void {
  const temporary = `${file}.tmp`;
  // 0600: a PostgreSQL position is a session id (useless without the old secret, but not for others).
  writeFileSync(temporary, `${JSON.stringify(checkpoint)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

/** The Latchkey record for one source record, or why there is none. */
function convert(
  item: SourceItem,
  keyring: Keyring,
  now: number,
  ttlMs: number,
): { storeKey: string; record: StoredRecord; json: string } | 'expired' | 'unreadable' {
  if (item.json === null) return item.gone === true ? 'expired' : 'unreadable';
  if (item.sid === '') return 'unreadable';
  const data = parseObject(item.json);
  if (data === undefined) return 'unreadable';
  // The reader's own mapping decides: a record it would refuse as expired is not moved.
  const session = toSession(data, {}, now);
  if (session === undefined) return 'expired';
  const expiresAt = Math.min(session.expiresAt ?? Infinity, item.expiresAt ?? Infinity);
  const until = Number.isFinite(expiresAt) ? Math.floor(expiresAt) : now + ttlMs;
  if (until <= now) return 'expired';
  const storeKey = migratedKey(item.sid);
  const json = JSON.stringify(data);
  const createdAt =
    session.createdAt !== undefined && Number.isFinite(session.createdAt) && session.createdAt <= now
      ? Math.floor(session.createdAt)
      : now;
  return {
    storeKey,
    json,
    record: {
      sealed: sealMigrated(keyring, storeKey, json),
      ...(session.userId === undefined ? {} : { userId: session.userId }),
      createdAt,
      expiresAt: until,
      absoluteAt: until,
      lastSeenAt: now,
      version: 1,
    },
  };
}

/** A source read; its failure (connection lost, a missing table) as a coded outage, never a stack trace. */
async function sourceCall<R>(call: () => Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    // No message from the driver: it may quote the URL or the query.
    throw new StoreUnavailable(
      `the source store failed${typeof code === 'string' ? ` (${code})` : ''}: run the same command again to go on`,
    );
  }
}

/**
 * Write one record: created when absent; when an earlier run moved it, replaced if the source changed
 * since (compare-and-set on its version), kept if not, and never when its user has already moved
 * (then it is `already`: a re-run must not bring back a session that was used up).
 */
async function write(
  target: SessionStore,
  keyring: Keyring,
  converted: { storeKey: string; record: StoredRecord; json: string },
  dryRun: boolean,
): Promise<'converted' | 'already' | 'updated'> {
  const { storeKey, record, json } = converted;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!dryRun && (await target.create(storeKey, record))) return 'converted';
    const existing = await target.get(storeKey);
    if (existing === null) {
      if (dryRun) return 'converted';
      continue; // expired or deleted between the two calls: create again
    }
    const text = openMigrated(keyring, storeKey, existing);
    if (text === 'moved' || text === json) return 'already';
    if (dryRun) return 'updated';
    const replaced = await target.update(
      storeKey,
      { ...record, createdAt: existing.createdAt, version: existing.version + 1 },
      existing.version,
    );
    if (replaced === 'ok') return 'updated';
  }
  return 'already'; // kept changing under us: the app is moving it right now
}

/** Run the move. Rejects with ConfigError for bad options and StoreUnavailable for an outage. */
export async function migrateStore(options: MigrateStoreOptions): Promise<MigrateResult> {
  const batch = options.batch ?? 500;
  if (!(Number.isSafeInteger(batch) && batch > 0 && batch <= 100_000)) {
    throw new ConfigError('--batch must be a whole number from 1 to 100000');
  }
  const ttl = options.ttl ?? 86_400;
  if (!(Number.isSafeInteger(ttl) && ttl > 0)) throw new ConfigError('--ttl must be a number of seconds > 0');
  const now = options.now ?? Date.now;
  const dryRun = options.dryRun === true;
  const source = await openSource(options);
  try {
    const saved = options.resume === undefined ? undefined : readCheckpoint(options.resume, source.id);
    if (saved?.done === true) return { counts: saved.counts, complete: true, alreadyComplete: true };
    const counts = saved?.counts ?? zero();
    let position = saved?.position ?? source.start;
    const total = await sourceCall(() => source.total());
    options.onProgress?.(counts, total);
    for (;;) {
      if (options.signal?.aborted === true) return { counts, complete: false, alreadyComplete: false };
      const at = now();
      const page = await sourceCall(() => source.next(position, batch, at));
      // A few writes in flight at once (each is a round trip or an fsync); the checkpoint follows only
      // once every record of the batch is written.
      let next = 0;
      const worker = async () => {
        while (next < page.items.length) {
          const item = page.items[next++]!;
          const converted = convert(item, options.keyring, at, ttl * 1000);
          const outcome =
            typeof converted === 'string'
              ? converted
              : await write(options.target, options.keyring, converted, dryRun);
          counts.scanned++;
          counts[outcome]++;
        }
      };
      await Promise.all(Array.from({ length: Math.min(WRITERS, page.items.length) }, worker));
      position = page.position;
      if (options.resume !== undefined && !dryRun) {
        writeCheckpoint(options.resume, { version: 1, source: source.id, position, done: page.done, counts });
      }
      options.onProgress?.(counts, total);
      if (page.done) return { counts, complete: true, alreadyComplete: false };
    }
  } finally {
    await source.close();
  }
}
