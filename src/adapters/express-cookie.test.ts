/**
 * latchkey/express/cookie: latchkey/express in cookie mode for an app that changes only its import. The
 * connect store it still passes is the old express-session store, read to move users over and never
 * written; a Latchkey store, or options under which the old cookies cannot be read, are refused at
 * start-up with a coded error rather than signing users out. The whole switch with connect-redis and
 * Passport: test/switch-over/express-session.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import express from 'express';
import { listen } from '../../test/scenarios/apps/serve.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { MemoryStore, Store } from './express.ts';
import cookieSession, * as namespace from './express-cookie.ts';

const keys = generateKeyLine('k1');
const SECRET = 'the old express-session secret, kept as it was';

/** An express-session-style store that records every call it gets. */
class RecordingStore extends Store {
  readonly calls: string[] = [];
  readonly records = new Map<string, unknown>();
  get(sid: string, callback: (error: unknown, session?: unknown) => void): void {
    this.calls.push(`get ${sid}`);
    callback(null, this.records.get(sid));
  }
  set(sid: string, session: unknown, callback?: (error?: unknown) => void): void {
    this.calls.push(`set ${sid}`);
    this.records.set(sid, session);
    callback?.();
  }
  destroy(sid: string, callback?: (error?: unknown) => void): void {
    this.calls.push(`destroy ${sid}`);
    this.records.delete(sid);
    callback?.();
  }
}

/** Two requests to an app that lists the paths a session has seen: the second answer, and its cookie. */
async function visits(handler: ReturnType<typeof cookieSession>) {
  const app = express();
  app.use(handler);
  app.get('/:page', (req, res) => {
    const seen = [...((req.session.seen as string[] | undefined) ?? []), String(req.params.page)];
    req.session.seen = seen;
    res.json(seen);
  });
  const server = await listen(app);
  try {
    const first = await fetch(`${server.url}/a`);
    const cookie = first.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    const second = await fetch(`${server.url}/b`, { headers: { cookie } });
    return { first: await first.json(), second: await second.json(), cookie };
  } finally {
    await server.close();
  }
}

describe('latchkey/express/cookie', () => {
  test("the default export has express-session's shape, with latchkey/express's classes", () => {
    assert.equal(typeof cookieSession, 'function');
    assert.equal(cookieSession.default, cookieSession);
    for (const name of Object.keys(namespace)) {
      if (name !== 'default')
        assert.equal(cookieSession[name as keyof typeof cookieSession], namespace[name as 'csrf'], name);
    }
    assert.equal(cookieSession.Store, Store, 'one Store class: a store written for latchkey/express fits');
    assert.equal(cookieSession.MemoryStore, MemoryStore);
  });

  test('with a connect store: the session is in the cookie and the store is never written', async () => {
    const store = new RecordingStore();
    const result = await visits(cookieSession({ keys, secret: SECRET, store, development: true }));
    assert.deepEqual(result.first, ['a']);
    assert.deepEqual(result.second, ['a', 'b']);
    assert.deepEqual(
      store.calls.filter((call) => !call.startsWith('get ')),
      [],
      'nothing set or destroyed',
    );
    assert.equal(store.records.size, 0);
    assert.ok(result.cookie.length > 100, 'the sealed session travels in the cookie');
  });

  test('without a store it is plain cookie mode', async () => {
    const result = await visits(cookieSession({ keys, development: true }));
    assert.deepEqual([result.first, result.second], [['a'], ['a', 'b']]);
    assert.equal(cookieSession({ keys }).sessions.mode, 'cookie');
  });

  test("a Latchkey store is refused: that is latchkey/express's store mode", () => {
    assert.throws(
      () => cookieSession({ keys, secret: SECRET, store: memoryStore() as never }),
      (error: Error & { code?: string }) =>
        error.code === 'ERR_LATCHKEY_CONFIG' && /latchkey\/express'/.test(error.message),
    );
  });

  test('a connect store with a custom cookie name or no string secret is refused, not ignored', () => {
    const store = new RecordingStore();
    for (const options of [
      { keys, secret: SECRET, store, name: 'sid' },
      { keys, secret: SECRET, store, key: 'sid' },
      { keys, store },
      { keys, secret: Buffer.from(SECRET), store },
    ]) {
      assert.throws(
        () => cookieSession(options as never),
        (error: Error & { code?: string }) =>
          error.code === 'ERR_LATCHKEY_CONFIG' && /legacy:/.test(error.message),
        JSON.stringify(Object.keys(options)),
      );
    }
  });

  test('a legacy of its own: the store is left to it', async () => {
    const store = new RecordingStore();
    const { expressSession } = await import('../compat/legacy/express-session.ts');
    const handler = cookieSession({
      keys,
      store,
      legacy: [expressSession({ secret: SECRET, store, name: 'sid' })],
      legacyUntil: '2099-01-01',
      development: true,
    });
    assert.equal(handler.sessions.mode, 'cookie');
  });
});
