// The connect-store wrapper against express-session's own MemoryStore (the real package), and against
// small callback stores written here that error, throw, hang or lack all(). The real backing stores
// (connect-redis, connect-pg-simple, express-mysql-session, session-file-store) are in
// connect-peers.test.ts; a Redis outage seen over HTTP is in test/connect-store-outage.test.ts.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { createSessions } from '../core/sessions.ts';
import { storeKeyOf } from '../core/store-mode.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { isLatchkeyError } from '../errors.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { type ConnectCallback, type ConnectStoreLike, connectStore, isConnectStore } from './connect.ts';
import { memoryStore } from './memory.ts';

// Loaded untyped: @types/express-session would retype Express's Request for the whole project.
const require = createRequire(import.meta.url);
const { MemoryStore } = require('express-session') as {
  MemoryStore: new () => ConnectStoreLike & EventEmitter & { sessions: Record<string, string> };
};

const keys = generateKeyLine('k1');
const HOUR = 3_600_000;
const isUnavailable = (error: unknown) => isLatchkeyError(error, 'ERR_LATCHKEY_STORE_UNAVAILABLE');

describeStoreConformance(
  'connect (express-session MemoryStore)',
  ({ clock }) => connectStore(new MemoryStore(), { keys, clock }),
  { hasPurge: false },
);

/** A callback store over a Map whose every answer can be made to fail, throw or never come. */
class ScriptedStore extends EventEmitter {
  readonly values = new Map<string, string>();
  mode: 'ok' | 'error' | 'throw' | 'hang' | 'reject' = 'ok';
  calls = 0;

  #answer(callback: ConnectCallback, value?: unknown): unknown {
    this.calls++;
    switch (this.mode) {
      case 'error':
        setImmediate(() =>
          callback(Object.assign(new TypeError('connection reset'), { code: 'ECONNRESET' })),
        );
        return undefined;
      case 'throw':
        throw new RangeError('the driver threw');
      case 'hang':
        return undefined;
      case 'reject':
        return Promise.reject(new RangeError('the promise rejected'));
      default:
        setImmediate(() => callback(null, value));
        return undefined;
    }
  }

  get(sid: string, callback: ConnectCallback) {
    const text = this.values.get(sid);
    return this.#answer(callback, text === undefined ? null : JSON.parse(text));
  }
  set(sid: string, session: unknown, callback: ConnectCallback) {
    if (this.mode === 'ok') this.values.set(sid, JSON.stringify(session));
    return this.#answer(callback);
  }
  destroy(sid: string, callback: ConnectCallback) {
    if (this.mode === 'ok') this.values.delete(sid);
    return this.#answer(callback);
  }
}

describe('connectStore', () => {
  it('recognizes connect stores, and refuses what is not one or is a Latchkey store already', () => {
    assert.equal(isConnectStore(new MemoryStore()), true);
    assert.equal(isConnectStore(new ScriptedStore()), true);
    assert.equal(isConnectStore(memoryStore()), false);
    assert.equal(isConnectStore(connectStore(new MemoryStore(), { keys })), false);
    assert.equal(isConnectStore({ get() {}, set() {} }), false);
    assert.equal(isConnectStore(null), false);
    const refused = (value: unknown, pattern: RegExp) =>
      assert.throws(
        () => connectStore(value as ConnectStoreLike, { keys }),
        (error) => isLatchkeyError(error, 'ERR_LATCHKEY_CONFIG') && pattern.test(String(error)),
      );
    refused(memoryStore(), /Latchkey store already/);
    refused({}, /get, set and destroy/);
    assert.throws(
      () => connectStore(new MemoryStore(), { keys, timeout: 0 }),
      (error) => isLatchkeyError(error, 'ERR_LATCHKEY_CONFIG'),
    );
  });

  it('needs keys: LATCHKEY_KEYS, { keys }, or development mode', (t) => {
    const saved = process.env.LATCHKEY_KEYS;
    delete process.env.LATCHKEY_KEYS;
    try {
      assert.throws(
        () => connectStore(new MemoryStore()),
        (error) => isLatchkeyError(error, 'ERR_LATCHKEY_KEY'),
      );
      t.mock.method(process, 'emitWarning', () => {});
      assert.equal(typeof connectStore(new MemoryStore(), { development: true }).get, 'function');
      process.env.LATCHKEY_KEYS = keys;
      assert.equal(typeof connectStore(new MemoryStore()).get, 'function');
    } finally {
      if (saved === undefined) delete process.env.LATCHKEY_KEYS;
      else process.env.LATCHKEY_KEYS = saved;
    }
  });

  it('writes { cookie: { originalMaxAge, expires }, latchkey } under the store key, nothing in clear', async () => {
    const backing = new MemoryStore();
    const clock = createFakeClock(Date.UTC(2026, 0, 1));
    const store = connectStore(backing, { keys, clock });
    const key = newStoreKey();
    const record = sampleRecord(clock.now(), { userId: 'alice@example.com', label: 'Firefox on Linux' });
    const before = Date.now();
    assert.equal(await store.create(key, record), true);
    assert.deepEqual(Object.keys(backing.sessions), [key]);
    const raw = backing.sessions[key]!;
    const value = JSON.parse(raw) as {
      cookie: { originalMaxAge: number; expires: string };
      latchkey: string;
    };
    assert.deepEqual(Object.keys(value).sort(), ['cookie', 'latchkey']);
    assert.match(value.latchkey, /^v1\.k1\.[A-Za-z0-9_-]+$/);
    // The store's TTL: the record's remaining hour by the real clock, plus at most two seconds.
    const expires = Date.parse(value.cookie.expires);
    assert.ok(expires >= before + HOUR && expires <= Date.now() + HOUR + 2000, value.cookie.expires);
    assert.ok(value.cookie.originalMaxAge >= HOUR && value.cookie.originalMaxAge <= HOUR + 2000);
    for (const secret of ['alice', 'Firefox', record.sealed, String(record.createdAt), '"version"']) {
      assert.equal(raw.includes(secret), false, `the stored value reveals ${secret}`);
    }
    assert.deepEqual(await store.get(key), record);
  });

  it('a value moved to another key, altered, or not written by Latchkey is no session', async () => {
    const backing = new MemoryStore();
    const store = connectStore(backing, { keys });
    const [a, b, c] = [newStoreKey(), newStoreKey(), newStoreKey()];
    await store.create(a, sampleRecord(Date.now(), { userId: 'u1' }));
    backing.sessions[b] = backing.sessions[a]!;
    assert.equal(await store.get(b), null, 'the key is in the AAD');
    const value = JSON.parse(backing.sessions[a]!) as { latchkey: string };
    const flipped = value.latchkey.slice(0, -2) + (value.latchkey.endsWith('A') ? 'BA' : 'AA');
    backing.sessions[c] = JSON.stringify({ ...value, latchkey: flipped });
    assert.equal(await store.get(c), null);
    assert.equal(await store.update(c, sampleRecord(Date.now(), { version: 2 }), 1), 'missing');
    assert.equal(await store.create(c, sampleRecord(Date.now())), false, 'never overwrites what is there');
    const other = connectStore(backing, { keys: generateKeyLine('k2') });
    assert.equal(await other.get(a), null, 'another keyring opens nothing');
    assert.deepEqual(await other.listByUser('u1'), []);
    assert.notEqual(await store.get(a), null);
  });

  it('an erroring, throwing or rejecting store fails with StoreUnavailable, never "no session"', async () => {
    const backing = new ScriptedStore();
    const store = connectStore(backing, { keys });
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now()));
    for (const mode of ['error', 'throw', 'reject'] as const) {
      backing.mode = mode;
      await assert.rejects(store.get(key), isUnavailable, `get, ${mode}`);
      await assert.rejects(store.update(key, sampleRecord(Date.now(), { version: 2 }), 1), isUnavailable);
      await assert.rejects(store.delete(key), isUnavailable);
      await assert.rejects(store.create(newStoreKey(), sampleRecord(Date.now())), isUnavailable);
    }
    backing.mode = 'error';
    await assert.rejects(store.get(key), (error: Error) =>
      /connect store get failed: connection reset/.test(error.message),
    );
    backing.mode = 'ok';
    assert.notEqual(await store.get(key), null, 'nothing was lost');
  });

  it('a store that never answers fails with StoreUnavailable after the timeout (default 1 s), and recovers', async () => {
    const backing = new ScriptedStore();
    const store = connectStore(backing, { keys });
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now()));
    backing.mode = 'hang';
    const started = performance.now();
    const results = await Promise.allSettled([
      store.get(key),
      store.touch(key, Date.now() + HOUR, Date.now()),
    ]);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 950 && elapsed < 5000, `${elapsed} ms`);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(isUnavailable(result.status === 'rejected' && result.reason));
    }
    const quick = connectStore(backing, { keys, timeout: 50 });
    await assert.rejects(quick.update(key, sampleRecord(Date.now(), { version: 2 }), 1), /within 50 ms/);
    backing.mode = 'ok';
    assert.equal(await store.update(key, sampleRecord(Date.now(), { version: 2 }), 1), 'ok', 'lock released');
  });

  it("while the store says 'disconnect', calls fail at once without reaching it; 'connect' brings it back", async () => {
    const backing = new ScriptedStore();
    const store = connectStore(backing, { keys });
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now()));
    backing.emit('disconnect');
    const calls = backing.calls;
    await assert.rejects(
      store.get(key),
      (error: Error) => isUnavailable(error) && /disconnected/.test(error.message),
    );
    await assert.rejects(store.delete(key), isUnavailable);
    assert.equal(backing.calls, calls, 'the store was not called');
    backing.emit('connect');
    assert.notEqual(await store.get(key), null);
  });

  it('without all(), the user index is a coded configuration error at call time; the rest works', async () => {
    const store = connectStore(new ScriptedStore(), { keys });
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now(), { userId: 'u1' }));
    const noIndex = (error: Error) =>
      isLatchkeyError(error, 'ERR_LATCHKEY_CONFIG') && /no all\(\)/.test(error.message);
    await assert.rejects(store.listByUser('u1'), noIndex);
    await assert.rejects(store.deleteByUser('u1'), noIndex);
    assert.notEqual(await store.get(key), null);
  });

  it("a missing file (session-file-store's ENOENT on get) is no session, not an outage", async () => {
    const backing = new ScriptedStore();
    backing.get = (_sid: string, callback: ConnectCallback) => {
      setImmediate(() => callback(Object.assign(new RangeError('ENOENT: no such file'), { code: 'ENOENT' })));
      return undefined;
    };
    const store = connectStore(backing, { keys });
    assert.equal(await store.get(newStoreKey()), null);
    assert.equal(await store.create(newStoreKey(), sampleRecord(Date.now())), true);
  });
});

describe('connectStore under createSessions', () => {
  type Data = { a?: number; b?: number; name?: string };

  it('two concurrent requests changing different keys both persist (the per-process lock and CAS)', async () => {
    const backing = new MemoryStore();
    const sessions = createSessions<Data>({ keys, store: connectStore(backing, { keys }) });
    const first = await sessions.load({ headers: {} });
    first.set('name', 'ada');
    const [line] = await sessions.commit(first);
    const cookie = line!.split(';')[0]!;
    const request = { headers: { cookie } };
    const [one, two] = await Promise.all([sessions.load(request), sessions.load(request)]);
    one.set('a', 1);
    two.set('b', 2);
    await Promise.all([sessions.commit(one), sessions.commit(two)]);
    const reread = await sessions.load(request);
    assert.deepEqual({ ...reread.data }, { name: 'ada', a: 1, b: 2 });
    const token = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
    assert.deepEqual(Object.keys(backing.sessions), [storeKeyOf(token)], 'keyed by the hash, not the token');
    assert.equal(JSON.stringify(backing.sessions).includes(token), false);
  });

  it('log out everywhere: revokeUserSessions ends every session of the user through all()', async () => {
    const sessions = createSessions<Data>({ keys, store: connectStore(new MemoryStore(), { keys }) });
    const cookies: string[] = [];
    for (const user of ['alice', 'alice', 'bob']) {
      const session = await sessions.load({ headers: {} });
      await session.login(user);
      cookies.push((await sessions.commit(session))[0]!.split(';')[0]!);
    }
    assert.equal((await sessions.listUserSessions('alice')).length, 2);
    assert.equal(await sessions.revokeUserSessions('alice'), 2);
    const userOf = async (cookie: string) => (await sessions.load({ headers: { cookie } })).userId;
    assert.deepEqual(await Promise.all(cookies.map(userOf)), [undefined, undefined, 'bob']);
  });

  it('a hanging store makes load() fail with StoreUnavailable, never a fresh anonymous session', async () => {
    const backing = new ScriptedStore();
    const sessions = createSessions<Data>({ keys, store: connectStore(backing, { keys, timeout: 100 }) });
    const session = await sessions.load({ headers: {} });
    session.set('name', 'ada');
    const cookie = (await sessions.commit(session))[0]!.split(';')[0]!;
    backing.mode = 'hang';
    await assert.rejects(sessions.load({ headers: { cookie } }), isUnavailable);
    backing.mode = 'ok';
    assert.equal((await sessions.load({ headers: { cookie } })).get('name'), 'ada');
  });
});
