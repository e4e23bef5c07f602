/**
 * A session store on Redis or Redis Cluster, through a client the app creates, configures and closes:
 * node-redis v5 (`createClient()`, `createCluster()`) or ioredis (`Redis`, `Cluster`). Needs Redis ≥ 6.2.
 * Key layout, the user index's consistency model across cluster slots, eviction and timeouts:
 * docs/stores/redis.md.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { redisStore } from 'latchkey/stores/redis';
 * const client = createClient({ url: process.env.REDIS_URL, disableOfflineQueue: true,
 *   socket: { connectTimeout: 2000 }, commandOptions: { timeout: 2000 } });
 * client.on('error', (err) => log.warn(err));
 * await client.connect();
 * const sessions = createSessions({ keys, store: redisStore({ client }) });
 * ```
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { StoreUnavailable } from '../errors.ts';
import {
  assertStoredRecord,
  assertStoreKey,
  assertUserId,
  isStoreKey,
  isTime,
  isUserId,
  metaOf,
  oldestFirst,
  parseStoredRecord,
  type SessionStore,
  type StoredMeta,
  type StoredRecord,
  storeUnavailable,
  type UpdateResult,
} from './types.ts';

/** The node-redis v5 methods the store calls; `createClient()` and `createCluster()` both have them. */
export interface NodeRedisClientLike {
  get(key: string): Promise<unknown>;
  set(
    key: string,
    value: string,
    options: { condition: 'NX'; expiration: { type: 'PX'; value: number } },
  ): Promise<unknown>;
  getDel(key: string): Promise<unknown>;
  zRange(key: string, start: number, stop: number): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** The ioredis methods the store calls; `new Redis()` and `new Cluster()` both have them. */
export interface IoRedisClientLike {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, px: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>;
  getdel(key: string): Promise<unknown>;
  zrange(key: string, start: number, stop: number): Promise<unknown>;
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  evalsha(sha1: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
}

export type RedisClientLike = NodeRedisClientLike | IoRedisClientLike;

export interface RedisStoreOptions {
  /**
   * A connected client; set its timeouts (docs/stores/redis.md). The store never closes it. It sends one
   * PING each time a node-redis client reports 'ready', and reconnects that client (`destroy()`, then
   * `connect()`) if the PING gets no answer: node-redis before 5.11 can report ready on a dead socket.
   */
  client: RedisClientLike;
  /** Prepended to every key. Default `latchkey:`; at most 64 characters, no `{` or `}` (hash tags). */
  prefix?: string;
  /** The time source for expiry decisions; tests pass a fake clock. */
  clock?: Clock;
  /**
   * Milliseconds to wait for each reply before failing with StoreUnavailable. Default 1000: an outage
   * answers 503 within about a second whatever the client's settings, also with node-redis's default
   * offline queue (which would hold commands until the server is back) and ioredis's default retries.
   * node-redis v5 never times out a command already sent to a server that stopped answering; this does.
   * Judged after pending socket reads: a process that stalls past it is not taken for a Redis outage.
   */
  timeout?: number;
}

/** The driver-neutral calls the store makes: one shape for both clients and their cluster variants. */
interface Driver {
  get(key: string): Promise<unknown>;
  setNx(key: string, value: string, ttl: number): Promise<unknown>;
  getDel(key: string): Promise<unknown>;
  members(key: string): Promise<unknown>;
  evalSha(sha1: string, keys: string[], args: string[]): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
}

// Shape, not instanceof: the store never loads a driver (DESIGN.md §6), and two copies of one driver in
// node_modules would defeat instanceof anyway.
function driverFor(client: RedisClientLike): Driver {
  const shape = client as unknown as Record<string, unknown>;
  if (typeof shape.evalSha === 'function' && typeof shape.zRange === 'function') {
    const c = client as NodeRedisClientLike;
    return {
      get: (key) => c.get(key),
      setNx: (key, value, ttl) =>
        c.set(key, value, { condition: 'NX', expiration: { type: 'PX', value: ttl } }),
      getDel: (key) => c.getDel(key),
      members: (key) => c.zRange(key, 0, -1),
      evalSha: (sha1, keys, args) => c.evalSha(sha1, { keys, arguments: args }),
      eval: (script, keys, args) => c.eval(script, { keys, arguments: args }),
    };
  }
  if (typeof shape.evalsha === 'function' && typeof shape.zrange === 'function') {
    const c = client as IoRedisClientLike;
    return {
      get: (key) => c.get(key),
      setNx: (key, value, ttl) => c.set(key, value, 'PX', ttl, 'NX'),
      getDel: (key) => c.getdel(key),
      members: (key) => c.zrange(key, 0, -1),
      evalSha: (sha1, keys, args) => c.evalsha(sha1, keys.length, ...keys, ...args),
      eval: (script, keys, args) => c.eval(script, keys.length, ...keys, ...args),
    };
  }
  throw new TypeError('redisStore: client must be a node-redis v5 or ioredis client (or cluster)');
}

// Records are JSON with these fields first, in this order, so the scripts can read and rewrite them by
// position without a JSON library: no cjson float rounding, no re-encoding of the sealed data.
const HEAD = '^{"version":(%d+),"expiresAt":(%d+),"lastSeenAt":%d+,"absoluteAt":(%d+),';

const script = (source: string) => ({ source, sha1: createHash('sha1').update(source).digest('hex') });
type Script = ReturnType<typeof script>;

/** Update-if-exists with compare-and-set: absent or expired by the caller's clock is 'missing' (#31). */
const UPDATE = script(`local current = redis.call('GET', KEYS[1])
if not current then return 'missing' end
local _, _, version, expiresAt = string.find(current, '${HEAD}')
if not version or tonumber(expiresAt) <= tonumber(ARGV[1]) then return 'missing' end
if version ~= ARGV[2] then return 'conflict' end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 'ok'`);

/**
 * Touch a live record, never creating one (#31). Its TTL stops at absoluteAt, so it never outlives the
 * user index entry, whose TTL is at least absoluteAt.
 */
const TOUCH = script(`local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local _, last, version, expiresAt, absoluteAt = string.find(current, '${HEAD}')
if not version or tonumber(expiresAt) <= tonumber(ARGV[1]) then return 0 end
local ttl = math.max(1, math.min(tonumber(ARGV[2]), tonumber(absoluteAt)) - tonumber(ARGV[1]))
local head = '{"version":' .. version .. ',"expiresAt":' .. ARGV[2] .. ',"lastSeenAt":' .. ARGV[3] ..
  ',"absoluteAt":' .. absoluteAt .. ','
redis.call('SET', KEYS[1], head .. string.sub(current, last + 1), 'PX', string.format('%d', ttl))
return 1`);

/** Delete a record only if it still belongs to the user: 2 if it was live, 1 if expired, 0 if not deleted. */
const DELETE_OWNED = script(`local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local _, last, version, expiresAt = string.find(current, '${HEAD}')
if not version or string.sub(current, last + 1, last + #ARGV[2]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(expiresAt) > tonumber(ARGV[1]) then return 2 end
return 1`);

/** Add a store key to a user index (score = its deadline, kept at the max) and stretch the index's TTL. */
const INDEX_ADD = script(`local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) < tonumber(ARGV[2]) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`);

/**
 * Remove members: the first ARGV[2] unconditionally (this store just deleted their records), the rest only
 * once their deadline has passed, so a create or update still in flight (which indexed the key, with a
 * future deadline, before writing it) can never be unindexed by a reader that saw no record yet.
 */
const INDEX_REMOVE = script(`local now, sure, removed = tonumber(ARGV[1]), tonumber(ARGV[2]), 0
for i = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and (i - 2 <= sure or tonumber(score) <= now) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed`);

const encode = (r: StoredRecord): string =>
  JSON.stringify({
    version: r.version,
    expiresAt: r.expiresAt,
    lastSeenAt: r.lastSeenAt,
    absoluteAt: r.absoluteAt,
    userId: r.userId ?? null,
    createdAt: r.createdAt,
    sealed: r.sealed,
    label: r.label ?? undefined,
  });

/** The bytes that follow the head of a record owned by `userId`: DELETE_OWNED matches them exactly. */
const ownerFragment = (userId: string): string => `"userId":${JSON.stringify(userId)},`;

const text = (reply: unknown): string | null => {
  if (typeof reply === 'string') return reply;
  return reply instanceof Uint8Array ? Buffer.from(reply).toString('utf8') : null;
};

/** A corrupt or foreign value is no session, never an exception (checklist bad inputs: corrupt blob). */
function decode(reply: unknown): StoredRecord | null {
  const raw = text(reply);
  if (raw === null) return null;
  try {
    return parseStoredRecord(JSON.parse(raw));
  } catch {
    return null;
  }
}

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');

const asUnavailable = (err: unknown) =>
  err instanceof StoreUnavailable ? err : storeUnavailable('redis', err);

/** One pending call: refused with `reject` if still pending at `deadline` (ms, the process's monotonic clock). */
interface PendingCall {
  readonly deadline: number;
  readonly reject: (reason: unknown) => void;
  settled: boolean;
}

/**
 * A sweep that runs more than this many ms after it was due means the event loop was blocked across the
 * deadline (a long synchronous task, a GC pause, a saturated machine): see DeadlineSweeper.
 */
const STALL_MS = 50;

/**
 * The timeouts of one store's calls with one timer. Every call has the same timeout, so calls expire in
 * the order they began: the sweeper holds them in that order and one timer waits for the oldest.
 *
 * A deadline is judged only once pending I/O has had its turn, so a stalled process does not take its own
 * stall for a Redis outage. Timers run before the event loop polls its sockets: after a stall, an expired
 * timer would otherwise refuse a call whose reply is already waiting in the socket, or whose command the
 * client has not even written yet (node-redis writes on setImmediate). So:
 * - when the sweep runs on time, the refusal waits for one setImmediate (the check phase comes after the
 *   poll phase): a reply already received wins;
 * - when it runs late by more than STALL_MS, the stall is given back: the calls get as many more ms (at
 *   most `timeout`) of a running event loop before they are refused. A call is never held past twice
 *   its timeout.
 */
class DeadlineSweeper {
  readonly #timeout: number;
  #calls: PendingCall[] = [];
  /** The index in #calls of the oldest call that may be pending: those before it are all settled. */
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the timer should fire (performance.now() ms). */
  #due = 0;
  /** A sweep is waiting for the check phase (setImmediate): no timer is armed meanwhile. */
  #checking = false;

  constructor(timeout: number) {
    this.#timeout = timeout;
  }

  add(reject: (reason: unknown) => void): PendingCall {
    const call: PendingCall = { deadline: performance.now() + this.#timeout, reject, settled: false };
    this.#calls.push(call);
    if (this.#timer === undefined && !this.#checking) this.#schedule(this.#timeout);
    return call;
  }

  /** Marks the call done; false when it had been refused already (too late). */
  settle(call: PendingCall): boolean {
    if (call.settled) return false;
    call.settled = true;
    return true;
  }

  #schedule(delay: number): void {
    const wait = Math.max(1, Math.ceil(delay));
    this.#due = performance.now() + wait;
    this.#timer = setTimeout(() => this.#wake(), wait);
    // The pending calls' own sockets keep the process alive; the sweeper alone never does.
    this.#timer.unref?.();
  }

  /** The timer fired: first let pending I/O run (see the class comment), then refuse what is still due. */
  #wake(): void {
    this.#timer = undefined;
    const now = performance.now();
    const late = now - this.#due;
    const oldest = this.#oldestPending();
    if (oldest === undefined) {
      this.#reset();
      return;
    }
    if (late > STALL_MS && now < oldest.deadline + this.#timeout) {
      this.#schedule(Math.min(late, this.#timeout, oldest.deadline + this.#timeout - now));
      return;
    }
    this.#checking = true;
    // Not unref'd: an unref'd immediate does not stop the poll phase from blocking, so it could wait
    // for unrelated I/O. It runs in this loop turn's check phase anyway.
    setImmediate(() => {
      this.#checking = false;
      this.#sweep();
    });
  }

  #oldestPending(): PendingCall | undefined {
    const calls = this.#calls;
    while (this.#head < calls.length && calls[this.#head]!.settled) this.#head++;
    return calls[this.#head];
  }

  #reset(): void {
    this.#calls = [];
    this.#head = 0;
  }

  #sweep(): void {
    const now = performance.now();
    const calls = this.#calls;
    let head = this.#head;
    for (; head < calls.length; head++) {
      const call = calls[head]!;
      if (call.settled) continue;
      if (call.deadline > now) break;
      call.settled = true;
      call.reject(storeUnavailable('redis', `no reply within ${this.#timeout} ms`));
    }
    if (head === calls.length) {
      this.#reset();
      return;
    }
    // Drop the settled prefix now and then, so the list stays as long as the calls in flight.
    if (head > 1024 && head * 2 > calls.length) {
      this.#calls = calls.slice(head);
      head = 0;
    }
    this.#head = head;
    this.#schedule(this.#calls[head]!.deadline - now);
  }
}

/** What guardReady needs of a node-redis v5 standalone client (createClient()); clusters are not guarded. */
interface NodeRedisConnection {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  on(event: 'ready', listener: () => void): unknown;
  ping(): Promise<unknown>;
  destroy(): void;
  connect(): Promise<unknown>;
}

const guarded = new WeakSet<object>();

/**
 * node-redis before 5.11 (redis/node-redis#3104, #3108) can report 'ready' on a socket that is already
 * closed: when the connection drops during its handshake and every handshake command ignores its errors
 * (the default, where the handshake is only CLIENT SETINFO), the client counts the flushed commands as
 * done. It then never reconnects, and every later command waits forever: a restarted Redis, a proxy or
 * load balancer that accepts and then drops connections while Redis is down, a server shutting down.
 *
 * So on every 'ready' the store sends one PING. Any answer, an error reply included, proves the socket
 * alive. With none within `timeout` ms (judged after pending I/O, as the sweeper does), the client is on a
 * dead socket: the store reconnects it (`destroy()`, which fails the stuck commands, then `connect()`).
 * One guard per client, whatever the number of stores on it.
 */
function guardReady(client: RedisClientLike, timeout: number): void {
  const c = client as unknown as Partial<Record<keyof NodeRedisConnection, unknown>>;
  const isStandalone =
    typeof c.on === 'function' &&
    typeof c.ping === 'function' &&
    typeof c.destroy === 'function' &&
    typeof c.connect === 'function' &&
    typeof c.isReady === 'boolean' &&
    typeof c.isOpen === 'boolean';
  if (!isStandalone || guarded.has(client)) return;
  guarded.add(client);
  const conn = client as unknown as NodeRedisConnection;
  // Each 'ready' is probed on its own: a connection can drop and come back falsely ready while the
  // previous connection's probe is still waiting. Only the latest connection's probe may act.
  let connection = 0;
  conn.on('ready', () => {
    const probed = ++connection;
    let answered = false;
    const done = () => {
      answered = true;
    };
    conn.ping().then(done, done);
    const check = () => {
      if (answered || probed !== connection || !conn.isOpen || !conn.isReady) return;
      try {
        conn.destroy();
        conn.connect().catch(() => {}); // errors reach the client's own 'error' listeners
      } catch {
        // closed or reconnected meanwhile by the app: nothing to repair
      }
    };
    setTimeout(() => setImmediate(check), timeout).unref?.();
  });
}

export function redisStore(options: RedisStoreOptions): SessionStore {
  const prefix = options.prefix ?? 'latchkey:';
  // A brace would become the cluster hash tag and pin every key to one slot.
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}]/.test(prefix)) {
    throw new TypeError('redisStore: prefix must be a string of at most 64 characters without { or }');
  }
  const timeout = options.timeout ?? 1000;
  if (!Number.isSafeInteger(timeout) || timeout < 1)
    throw new TypeError('redisStore: timeout must be a positive integer (ms)');
  const driver = driverFor(options.client);
  guardReady(options.client, timeout);
  const clock = options.clock ?? systemClock;
  // Hash tags: each record and each index has its own slot; no command ever spans two keys.
  const recordKey = (storeKey: string) => `${prefix}s:{${storeKey}}`;
  // The user id is hashed: any string is safe in a key, and no pattern is built from input (#52).
  const indexKey = (userId: string) => `${prefix}u:{${createHash('sha256').update(userId).digest('hex')}}`;
  const ttl = (deadline: number, now: number) => Math.max(1, deadline - now);

  const deadlines = new DeadlineSweeper(timeout);

  /**
   * Any driver failure (refused, timeout, cluster down, closed client) is StoreUnavailable (→ 503). A
   * call without a reply within `timeout` ms is refused then, by the store's one sweeper (no timer and
   * no Promise.race per call). A late reply is dropped; writes are conditional, so a late one
   * resurrects nothing.
   */
  function io<T>(op: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call = deadlines.add(reject);
      let reply: Promise<T>;
      try {
        reply = op();
      } catch (err) {
        deadlines.settle(call);
        reject(asUnavailable(err));
        return;
      }
      reply.then(
        (value) => {
          if (deadlines.settle(call)) resolve(value);
        },
        (err: unknown) => {
          if (deadlines.settle(call)) reject(asUnavailable(err));
        },
      );
    });
  }

  const run = (s: Script, keys: string[], args: string[]) =>
    io(async () => {
      try {
        return await driver.evalSha(s.sha1, keys, args);
      } catch (err) {
        // NOSCRIPT is Redis's own reply code (a restarted server, another cluster node), not a message.
        if (!isNoScript(err)) throw err;
        return await driver.eval(s.source, keys, args);
      }
    });

  /** Index before the write (checklist #33): the index is always a superset of the user's records. */
  async function index(storeKey: string, record: StoredRecord, now: number): Promise<void> {
    if (typeof record.userId !== 'string') return;
    const deadline = Math.max(record.expiresAt, record.absoluteAt);
    await run(INDEX_ADD, [indexKey(record.userId)], [storeKey, String(deadline), String(ttl(deadline, now))]);
  }

  async function unindex(userId: string, deleted: string[], unowned: string[]): Promise<void> {
    if (deleted.length + unowned.length === 0) return;
    const args = [String(clock.now()), String(deleted.length), ...deleted, ...unowned];
    await run(INDEX_REMOVE, [indexKey(userId)], args);
  }

  const members = async (userId: string): Promise<string[]> => {
    const reply = await io(() => driver.members(indexKey(userId)));
    return Array.isArray(reply) ? reply.map(text).filter(isStoreKey) : [];
  };

  return {
    async create(storeKey, record) {
      assertStoreKey(storeKey);
      assertStoredRecord(record);
      const now = clock.now();
      await index(storeKey, record, now);
      // SET NX: insert-if-absent, atomic (checklist #4). PX in ms, never EX (checklist bad inputs: units).
      const reply = await io(() =>
        driver.setNx(recordKey(storeKey), encode(record), ttl(record.expiresAt, now)),
      );
      return reply !== null && reply !== undefined;
    },
    async get(storeKey) {
      if (!isStoreKey(storeKey)) return null;
      const record = decode(await io(() => driver.get(recordKey(storeKey))));
      // Expiry comes from the record and our clock, whatever Redis's TTL says (checklist #28).
      return record !== null && record.expiresAt > clock.now() ? record : null;
    },
    async update(storeKey, record, expectedVersion): Promise<UpdateResult> {
      assertStoreKey(storeKey);
      assertStoredRecord(record);
      const now = clock.now();
      await index(storeKey, record, now);
      const args = [String(now), String(expectedVersion), encode(record), String(ttl(record.expiresAt, now))];
      const reply = text(await run(UPDATE, [recordKey(storeKey)], args));
      return reply === 'ok' || reply === 'conflict' ? reply : 'missing';
    },
    async touch(storeKey, expiresAt, lastSeenAt) {
      assertStoreKey(storeKey);
      if (!isTime(expiresAt) || !isTime(lastSeenAt)) {
        throw new TypeError('touch: expiresAt and lastSeenAt are UTC milliseconds (safe integers ≥ 0)');
      }
      const args = [String(clock.now()), String(expiresAt), String(lastSeenAt)];
      return Number(await run(TOUCH, [recordKey(storeKey)], args)) === 1;
    },
    async delete(storeKey) {
      if (!isStoreKey(storeKey)) return false;
      // GETDEL: of two concurrent deletes, only one gets the record back.
      const previous = decode(await io(() => driver.getDel(recordKey(storeKey))));
      // Unindex after deleting, never before: the index stays a superset.
      if (previous?.userId !== undefined) await unindex(previous.userId, [storeKey], []);
      return previous !== null && previous.expiresAt > clock.now();
    },
    async listByUser(userId) {
      if (!isUserId(userId)) return [];
      const keys = await members(userId);
      const records = await Promise.all(keys.map((key) => io(() => driver.get(recordKey(key)))));
      const now = clock.now();
      const found: StoredMeta[] = [];
      const unowned: string[] = [];
      keys.forEach((storeKey, i) => {
        const record = decode(records[i]);
        // Gone (deleted, evicted, TTL) or now another user's: drop lazily. An expired record that Redis
        // still holds stays indexed: a clock stepping back could make it live again.
        if (record?.userId !== userId) unowned.push(storeKey);
        else if (record.expiresAt > now) found.push(metaOf(storeKey, userId, record));
      });
      await unindex(userId, [], unowned);
      return found.sort(oldestFirst);
    },
    async deleteByUser(userId, exceptStoreKey) {
      assertUserId(userId);
      const keys = (await members(userId)).filter((key) => key !== exceptStoreKey);
      const args = [String(clock.now()), ownerFragment(userId)];
      const results = await Promise.all(keys.map((key) => run(DELETE_OWNED, [recordKey(key)], args)));
      const codes = results.map(Number);
      await unindex(
        userId,
        keys.filter((_, i) => codes[i] !== 0),
        keys.filter((_, i) => codes[i] === 0),
      );
      // Like the memory store: expired records are removed too, but only live ones are counted.
      return codes.filter((code) => code === 2).length;
    },
    // No purgeExpired: Redis expires keys itself (PX on every write). close() leaves the client open.
    async close() {},
  };
}
