import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { realStores } from '../../test/support/real-stores.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { mysqlStore } from '../stores/mysql.ts';
import type { SessionStore } from '../stores/types.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions, type SessionEvent, type SessionsOptions } from './index.ts';

const KEYS = generateKeyLine('k1');
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function setup(store: SessionStore, options: Partial<SessionsOptions> = {}) {
  const clock = createFakeClock(Date.now());
  const events = new EventEmitter();
  const seen: SessionEvent[] = [];
  const sessions = createSessions<{ n: number }>({
    keys: KEYS,
    clock,
    store,
    purge: { every: '1s' },
    onEvent: (event) => {
      seen.push(event);
      events.emit(event.type, event);
    },
    ...options,
  });
  /** Make `count` live sessions (records in the store). */
  const fill = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const session = await sessions.load({ headers: {} });
      session.set('n', i);
      await sessions.commit(session);
    }
  };
  return { clock, sessions, events, seen, fill };
}

/**
 * The next event of `type`, within 10 s. The schedule's timer is unref'd, so this (ref'd) timeout is
 * also what keeps the test's event loop alive meanwhile.
 */
async function next<E extends SessionEvent['type']>(events: EventEmitter, type: E) {
  const signal = AbortSignal.timeout(10_000);
  const keepAlive = setTimeout(() => {}, 10_000);
  try {
    return (await once(events, type, { signal }))[0] as Extract<SessionEvent, { type: E }>;
  } finally {
    clearTimeout(keepAlive);
  }
}

/** MariaDB on 127.0.0.1 (not in realStores yet), one table of its own, dropped when done. */
const mariadb: (typeof realStores)[number] = [
  'mysql',
  async () => {
    const pool = mysql.createPool({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
    const table = `lk_test_purge_${Date.now().toString(36)}`;
    after(async () => {
      await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
      await pool.end();
    });
    return mysqlStore({ client: pool, table });
  },
];

describe('the purge schedule (issue 14 §2)', () => {
  for (const [name, makeStore, options] of [...realStores, mariadb]) {
    test(`${name}: expired records are purged on the schedule`, options ?? {}, async () => {
      const store = await makeStore();
      const { clock, sessions, events, fill } = setup(store);
      try {
        if (typeof store.purgeExpired !== 'function') {
          // Redis expires records itself: nothing is scheduled.
          await fill(2);
          const purged = await Promise.race([
            next(events, 'purged'),
            new Promise((resolve) => setTimeout(resolve, 1500, 'none')),
          ]);
          assert.equal(purged, 'none');
          return;
        }
        await fill(3);
        clock.advance('25h'); // past every deadline
        const purged = await next(events, 'purged');
        assert.equal(purged.count, 3);
        assert.ok(purged.ms >= 0);
        assert.equal(await store.purgeExpired(clock.now()), 0, 'nothing left to purge');
      } finally {
        await sessions.close();
      }
    });
  }

  test('a failing purge is an event, not a crash, and the schedule goes on; close() stops it', async () => {
    let calls = 0;
    const store: SessionStore = {
      ...memoryStore(),
      async purgeExpired() {
        calls++;
        throw new Error('connection reset: secret=hunter2');
      },
    };
    const { sessions, events, seen } = setup(store);
    const failed = await next(events, 'purge-failed');
    assert.deepEqual(Object.keys(failed).sort(), ['at', 'code', 'type']);
    assert.equal(failed.code, 'ERR_LATCHKEY_STORE_UNAVAILABLE');
    assert.equal(JSON.stringify(seen).includes('hunter2'), false, 'no driver message in events');
    await next(events, 'purge-failed');
    assert.equal(calls, 2);
    await sessions.close();
    await new Promise((resolve) => setTimeout(resolve, 1300));
    assert.equal(calls, 2, 'no run after close()');
  });

  test('purge: false schedules nothing', async () => {
    let calls = 0;
    const store: SessionStore = {
      ...memoryStore(),
      async purgeExpired() {
        calls++;
        return 0;
      },
    };
    const { sessions } = setup(store, { purge: false });
    await new Promise((resolve) => setTimeout(resolve, 1300));
    assert.equal(calls, 0);
    await sessions.close();
  });

  test('runs never overlap: a slow purge delays the next', async () => {
    let running = 0;
    let most = 0;
    let calls = 0;
    const store: SessionStore = {
      ...memoryStore(),
      async purgeExpired() {
        calls++;
        most = Math.max(most, ++running);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        running--;
        return 0;
      },
    };
    const { sessions, events } = setup(store);
    await next(events, 'purged');
    await next(events, 'purged');
    await sessions.close();
    assert.equal(most, 1);
    assert.equal(calls, 2);
  });

  test('the timer is unref’d: a process with a schedule exits by itself', async () => {
    const script = `
      import { createSessions } from './src/core/index.ts';
      import { memoryStore } from './src/stores/memory.ts';
      createSessions({ keys: ${JSON.stringify(KEYS)}, store: memoryStore(), purge: { every: '1h' } });
      console.log('started');
    `;
    const run = promisify(execFile);
    const { stdout } = await run(
      process.execPath,
      ['--import', './scripts/register-src.mjs', '--input-type=module', '-e', script],
      { cwd: ROOT, timeout: 20_000 },
    );
    assert.equal(stdout.trim(), 'started');
  });

  test('bad options are coded errors at start-up', () => {
    const store = memoryStore();
    for (const purge of [
      true,
      null,
      {},
      { every: '10ms' },
      { every: '100d' },
      { every: '1h', at: 1 },
      'hourly',
    ]) {
      assert.throws(
        () => createSessions({ keys: KEYS, store, purge: purge as never }),
        { code: 'ERR_LATCHKEY_CONFIG' },
        JSON.stringify(purge),
      );
    }
    assert.throws(() => createSessions({ keys: KEYS, purge: { every: '1h' } }), {
      code: 'ERR_LATCHKEY_CONFIG',
      message: /store mode/,
    });
    // Cookie mode may say purge: false (nothing to turn off).
    createSessions({ keys: KEYS, purge: false });
  });
});
