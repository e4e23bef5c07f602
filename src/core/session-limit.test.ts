/**
 * Checklist #34: a concurrent-session limit with documented eviction. With maxSessionsPerUser: N, a
 * sign-in past the limit ends the user's oldest sessions, deterministically; the newest always stays.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sessionBrowser } from '../../test/support/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { isLatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions, type SessionEvent, type Sessions } from './index.ts';

const KEYS = generateKeyLine('k1');
type Data = Record<string, unknown>;

function setup(maxSessionsPerUser: number) {
  const clock = createFakeClock();
  const events: SessionEvent[] = [];
  const sessions = createSessions<Data>({
    keys: KEYS,
    clock,
    store: memoryStore({ clock }),
    maxSessionsPerUser,
    onEvent: (event) => events.push(event),
  });
  return { clock, events, sessions };
}

const device = (sessions: Sessions<Data>) => sessionBrowser(sessions).request;

describe('checklist #34: maxSessionsPerUser', () => {
  test('with a limit of 2, a third sign-in ends the oldest; other users are untouched', async () => {
    const { sessions, clock, events } = setup(2);
    const laptop = device(sessions);
    const phone = device(sessions);
    const tablet = device(sessions);
    const other = device(sessions);
    await laptop((s) => s.login('alice'));
    clock.advance('1s');
    await other((s) => s.login('bob'));
    await phone((s) => s.login('alice'));
    clock.advance('1s');
    await laptop((s) => s.set('still', 'here')); // activity does not make a session younger
    await tablet((s) => s.login('alice'));

    assert.equal((await laptop()).isNew, true, 'the oldest sign-in ended');
    assert.equal((await phone()).userId, 'alice');
    assert.equal((await tablet()).userId, 'alice');
    assert.equal((await other()).userId, 'bob');
    assert.equal((await sessions.listUserSessions('alice')).length, 2);
    assert.deepEqual(
      events.filter((e) => e.type === 'evicted'),
      [{ type: 'evicted', count: 1, at: clock.now() }],
    );
  });

  test('sign-ins at once never end each other: the newest stays, and the limit holds after', async () => {
    const { sessions, clock } = setup(1);
    const devices = Array.from({ length: 6 }, () => device(sessions));
    await Promise.all(devices.map((d) => d((s) => s.login('alice'))));
    const live = (await Promise.all(devices.map((d) => d()))).filter((s) => s.userId === 'alice');
    assert.ok(live.length >= 1, 'at least one sign-in survives');
    clock.advance('1s');
    const last = device(sessions);
    await last((s) => s.login('alice'));
    assert.equal((await sessions.listUserSessions('alice')).length, 1, 'the next sign-in restores the limit');
    assert.equal((await last()).userId, 'alice');
  });

  test('a limit needs store mode and a whole number from 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '2']) {
      assert.throws(
        () => createSessions({ keys: KEYS, store: memoryStore(), maxSessionsPerUser: bad as number }),
        (err) => isLatchkeyError(err, 'ERR_LATCHKEY_CONFIG'),
      );
    }
    assert.throws(
      () => createSessions({ keys: KEYS, maxSessionsPerUser: 2 }),
      (err) => isLatchkeyError(err, 'ERR_LATCHKEY_CONFIG') && /store mode/.test(err.message),
    );
  });
});
