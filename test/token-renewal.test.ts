/**
 * Store mode's token renewal (checklist #27: "the old ID works ≤ N s after the switch, then fails"),
 * against every real store, and its races: a write or a sign-out that loaded the session before the
 * switch and lands after it, and two requests due at once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Session } from '../src/core/session.ts';
import { createSessions, type SessionsOptions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { createFakeClock } from '../src/testing/fake-clock.ts';
import { realStores } from './support/real-stores.ts';

const KEYS = generateKeyLine('k1');
const NAME = '__Host-lk';

/** The session cookie among Set-Cookie lines, as a Cookie header, or undefined. */
function cookieIn(lines: readonly string[]): string | undefined {
  const line = lines.find((l) => l.startsWith(`${NAME}=`) && !l.includes('Max-Age=0'));
  return line?.slice(0, line.indexOf(';'));
}

for (const [name, makeStore, options] of realStores) {
  describe(`${name} store: token renewal (checklist #27)`, options ?? {}, () => {
    async function setup(extra: Partial<SessionsOptions> = {}) {
      const clock = createFakeClock(Date.now());
      const events: string[] = [];
      const sessions = createSessions<Record<string, unknown>>({
        keys: KEYS,
        clock,
        store: await makeStore(clock),
        tokenRenewal: { every: '15m', grace: '10s' },
        onEvent: (e) => events.push(e.type),
        ...extra,
      });
      const first = await sessions.load(undefined);
      await first.login('erin');
      first.set('cart', [1]);
      const old = cookieIn(await sessions.commit(first))!;
      /** One request: load with `cookie`, act, commit; what it sent. */
      const request = async (
        cookie: string,
        act: (s: Session<Record<string, unknown>>) => unknown = () => {},
      ) => {
        const session = await sessions.load(cookie);
        await act(session);
        return { session, lines: await sessions.commit(session) };
      };
      return { clock, events, sessions, old, request };
    }

    test('after `every`, a request moves the session to a new token; the old one works for the grace, then fails', async () => {
      const { clock, events, sessions, old, request } = await setup();
      clock.advance('14m');
      assert.equal(cookieIn((await request(old)).lines), undefined, 'not due yet');
      clock.advance('1m');
      const { lines } = await request(old); // unchanged, yet due: it moves
      const fresh = cookieIn(lines);
      assert.ok(fresh && fresh !== old, 'a new token');
      assert.ok(events.includes('renewed'));
      clock.advance('9999ms');
      const late = await request(old, (s) => s.set('late', true));
      assert.equal(late.session.userId, 'erin', 'the old token still works within the grace');
      assert.deepEqual(late.lines, [], 'and never gets the new token');
      const viaNew = await request(fresh);
      assert.equal(viaNew.session.get('late'), true, 'its write reached the session');
      assert.deepEqual(viaNew.session.get('cart'), [1]);
      clock.advance('1ms');
      assert.equal((await request(old)).session.isNew, true, 'after the grace: dead');
      assert.equal((await request(fresh)).session.userId, 'erin');
      assert.equal((await sessions.listUserSessions('erin')).length, 1, 'one device, not two');
    });

    test('a request that loaded before the move and commits its change after it lands on the moved session', async () => {
      const { clock, sessions, old, request } = await setup();
      clock.advance('15m');
      const loadedEarly = await sessions.load(old);
      const fresh = cookieIn((await request(old)).lines)!; // another request moves it meanwhile
      loadedEarly.set('early', true);
      assert.deepEqual(await sessions.commit(loadedEarly), [], 'no cookie: it holds the old token');
      const now = await request(fresh);
      assert.equal(now.session.get('early'), true, 'not lost');
      assert.deepEqual(now.session.get('cart'), [1]);
    });

    test('with a persistent cookie, a request that loaded before the move never sends the old token back', async () => {
      const { clock, sessions, old, request } = await setup({ cookie: { persistent: true } });
      clock.advance('15m');
      const loadedEarly = await sessions.load(old); // unchanged, but its idle clock is due a renewal
      const fresh = cookieIn((await request(old)).lines)!;
      assert.ok(fresh && fresh !== old);
      assert.equal(
        cookieIn(await sessions.commit(loadedEarly)),
        undefined,
        'neither the old nor a new token',
      );
      clock.advance('10s');
      assert.equal((await request(old)).session.isNew, true, 'and the grace was not stretched');
    });

    test('a sign-out that loaded before the move and lands after it still ends the session', async () => {
      const { clock, sessions, old, request } = await setup();
      clock.advance('15m');
      const signOut = await sessions.load(old);
      const fresh = cookieIn((await request(old)).lines)!;
      await signOut.destroy();
      await sessions.commit(signOut);
      assert.equal((await request(fresh)).session.isNew, true, 'the moved session ended too');
      assert.equal((await request(old)).session.isNew, true);
      assert.deepEqual(await sessions.listUserSessions('erin'), []);
    });

    test('a sign-out with the new token leaves the old one nothing to follow', async () => {
      const { clock, old, request } = await setup();
      clock.advance('15m');
      const fresh = cookieIn((await request(old)).lines)!;
      await request(fresh, (s) => s.destroy());
      assert.equal((await request(old)).session.isNew, true);
    });

    test('two requests due at once: one moves the session, nothing is lost, one device', async () => {
      const { clock, sessions, old, request } = await setup();
      clock.advance('15m');
      const [a, b] = await Promise.all([sessions.load(old), sessions.load(old)]);
      a.set('a', 1);
      b.set('b', 2);
      const sent = await Promise.all([sessions.commit(a), sessions.commit(b)]);
      const fresh = sent.map(cookieIn).filter((c) => c !== undefined);
      assert.equal(fresh.length, 1, 'one new token');
      const after = await request(fresh[0]!);
      assert.deepEqual([after.session.get('a'), after.session.get('b')], [1, 2]);
      assert.equal((await sessions.listUserSessions('erin')).length, 1);
    });

    test('login() and regenerate() still end the old token at once', async () => {
      const { old, request } = await setup();
      const next = cookieIn((await request(old, (s) => s.regenerate())).lines)!;
      assert.ok(next && next !== old);
      assert.equal((await request(old)).session.isNew, true, 'no grace for a regenerate');
    });
  });
}

describe('tokenRenewal options', () => {
  test('bad settings are coded configuration errors', () => {
    const store = {
      ...Object.fromEntries(
        ['create', 'get', 'update', 'touch', 'delete', 'listByUser', 'deleteByUser'].map((m) => [
          m,
          async () => null,
        ]),
      ),
    };
    for (const [options, why] of [
      [{ tokenRenewal: { every: '15m' } }, 'cookie mode has no server-side token'],
      [{ store, tokenRenewal: { every: '30s' } }, 'more often than once a minute'],
      [{ store, tokenRenewal: { every: '15m', grace: '2m' } }, 'a grace over 60 s'],
      [{ store, tokenRenewal: { every: '15m', grace: '0s' } }, 'no grace at all'],
      [{ store, tokenRenewal: { every: '48h' } }, 'longer than the absolute timeout'],
      [{ store, tokenRenewal: '15m' }, 'not an object'],
    ] as const) {
      assert.throws(
        () => createSessions({ keys: KEYS, ...(options as object) }),
        { code: 'ERR_LATCHKEY_CONFIG' },
        why,
      );
    }
  });
});
