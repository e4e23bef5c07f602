/**
 * No lost updates, against every real store: 50 concurrent requests on one session, each setting a
 * different key, all persist; a logout that races a slow request stays a logout (checklist #31); and
 * parallel rotations of one session leave at most one live new session (checklist #32).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { realStores } from './support/real-stores.ts';

const KEYS = generateKeyLine('k1');
const NAME = '__Host-lk';
for (const [name, makeStore, options] of realStores) {
  describe(`${name} store under concurrency`, options ?? {}, () => {
    test('50 concurrent requests on one session, each setting a different key: all 50 persist', async () => {
      const sessions = createSessions({ keys: KEYS, store: await makeStore() });
      const first = await sessions.load(undefined);
      first.set('start', true);
      const [line] = await sessions.commit(first);
      const cookie = line!.slice(0, line!.indexOf(';'));
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const session = await sessions.load(cookie);
          session.set(`k${i}`, i);
          assert.deepEqual(await sessions.commit(session), []);
        }),
      );
      const final = await sessions.load(cookie);
      assert.equal(final.get('start'), true);
      const missing = Array.from({ length: 50 }, (_, i) => i).filter((i) => final.get(`k${i}`) !== i);
      assert.deepEqual(missing, []);
    });

    test('checklist #34: with maxSessionsPerUser 2, a third sign-in ends the oldest', async () => {
      const sessions = createSessions({ keys: KEYS, store: await makeStore(), maxSessionsPerUser: 2 });
      const signIn = async () => {
        const session = await sessions.load(undefined);
        await session.login('carol');
        const [line] = await sessions.commit(session);
        await new Promise((resolve) => setTimeout(resolve, 2)); // distinct sign-in times
        return line!.slice(0, line!.indexOf(';'));
      };
      const [first, second, third] = [await signIn(), await signIn(), await signIn()];
      const users = await Promise.all(
        [first, second, third].map(async (c) => (await sessions.load(c)).userId),
      );
      assert.deepEqual(users, [undefined, 'carol', 'carol']);
      assert.equal((await sessions.listUserSessions('carol')).length, 2);
    });

    test('checklist #31: a logout racing a slow request stays logged out', async () => {
      const sessions = createSessions({ keys: KEYS, store: await makeStore() });
      const first = await sessions.load(undefined);
      await first.login('alice');
      const [line] = await sessions.commit(first);
      const cookie = line!.slice(0, line!.indexOf(';'));
      const slow = await sessions.load(cookie);
      const logout = await sessions.load(cookie);
      await logout.destroy();
      await sessions.commit(logout);
      slow.set('late', 'write');
      assert.deepEqual(await sessions.commit(slow), [], 'no cookie from the slow request');
      assert.equal((await sessions.load(cookie)).isNew, true);
      assert.deepEqual(await sessions.listUserSessions('alice'), []);
      assert.ok(cookie.startsWith(`${NAME}=`));
    });

    test('checklist #32: parallel regenerates of one session leave one live new session and no orphans', async () => {
      const events: string[] = [];
      const sessions = createSessions({
        keys: KEYS,
        store: await makeStore(),
        onEvent: (e) => events.push(e.type),
      });
      const first = await sessions.load(undefined);
      await first.login('dave');
      first.set('role', 'admin');
      const [line] = await sessions.commit(first);
      const cookie = line!.slice(0, line!.indexOf(';'));
      // Five requests carrying the same cookie all load it, then all rotate it at once.
      const loaded = await Promise.all(Array.from({ length: 5 }, () => sessions.load(cookie)));
      assert.ok(loaded.every((s) => s.userId === 'dave'));
      await Promise.all(loaded.map((s) => s.regenerate()));
      const losers = loaded.filter((s) => s.userId === undefined && s.get('role') === undefined);
      assert.equal(losers.length, 4);
      for (const loser of losers) {
        // What a loser does after its regenerate is dropped: no record, no cookie, no sign-in.
        loser.set('after', true);
        await loser.login('dave');
        assert.equal(loser.userId, undefined);
        assert.equal(loser.isNew, true, 'the app can tell');
      }
      const responses = await Promise.all(loaded.map((s) => sessions.commit(s)));
      const issued = responses.flat().filter((l) => l.startsWith(`${NAME}=`) && !l.includes('Max-Age=0'));
      assert.equal(issued.length, 1, 'one response carries the new session');
      const winner = await sessions.load(issued[0]!.slice(0, issued[0]!.indexOf(';')));
      assert.equal(winner.userId, 'dave');
      assert.equal(winner.get('role'), 'admin');
      assert.equal((await sessions.load(cookie)).isNew, true, 'the old token is dead');
      assert.equal((await sessions.listUserSessions('dave')).length, 1, 'no orphan records');
      assert.equal(events.filter((type) => type === 'revoked').length, 4);
    });
  });
}
