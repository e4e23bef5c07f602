/**
 * Token renewal (checklist #27) against one store: `describeTokenRenewal(name, makeStore)` runs the
 * renewal scenarios of `createSessions({ tokenRenewal })` on it — the grace window, reuse after the grace
 * ending the whole session, two tabs racing a renewal, a slow write after the switch, a sign-out through an
 * old token. Renewal needs nothing of a store beyond the contract (its links are ordinary records), so a
 * store that passes `describeStoreConformance` should pass this too.
 *
 * @example
 * ```ts
 * import { describeTokenRenewal } from 'latchkey/testing';
 * describeTokenRenewal('redis', ({ clock }) => redisStore({ client, prefix: `t${Date.now()}:`, clock }));
 * ```
 */
import assert from 'node:assert/strict';
import { describe as nodeDescribe, it as nodeIt } from 'node:test';
import type { SessionEvent } from '../core/events.ts';
import { createSessions, type Sessions } from '../core/sessions.ts';
import { storeKeyOf } from '../core/store-mode.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import type { SessionStore } from '../stores/types.ts';
import { createFakeClock, type FakeClock } from './fake-clock.ts';
import type { ConformanceContext } from './store-conformance.ts';

const KEYS = generateKeyLine('k1');
const COOKIE = '__Host-lk';
type Data = Record<string, unknown>;
type MakeStore = (context: ConformanceContext) => SessionStore | Promise<SessionStore>;

/** A browser's cookie jar, just enough for these scenarios: what Set-Cookie lines set, minus deletions. */
class CookieJar {
  readonly #cookies = new Map<string, string>();
  apply(setCookie: readonly string[]): this {
    for (const line of setCookie) {
      const [pair = '', ...attributes] = line.split('; ');
      const eq = pair.indexOf('=');
      if (attributes.includes('Max-Age=0')) this.#cookies.delete(pair.slice(0, eq));
      else this.#cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return this;
  }
  get(name: string): string | undefined {
    return this.#cookies.get(name);
  }
  header(): string | undefined {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

interface Setup {
  sessions: Sessions<Data>;
  clock: FakeClock;
  events: SessionEvent[];
  store: SessionStore;
}

async function setup(
  makeStore: MakeStore,
  extra: { persistent?: boolean; wrap?: (store: SessionStore) => SessionStore } = {},
): Promise<Setup> {
  // A store may expire records by the real time: the fake clock starts now and only moves forward.
  const clock = createFakeClock(Date.now());
  const events: SessionEvent[] = [];
  const real = await makeStore({ clock });
  const store = extra.wrap ? extra.wrap(real) : real;
  const sessions = createSessions<Data>({
    keys: KEYS,
    store,
    clock,
    tokenRenewal: { every: '15m', grace: '30s' },
    onEvent: (event) => events.push(event),
    ...(extra.persistent && { cookie: { persistent: true } }),
  });
  return { sessions, clock, events, store: real };
}

const load = (sessions: Sessions<Data>, cookie: string | undefined) =>
  sessions.load({ headers: cookie ? { cookie } : {} });

/** A signed-in browser: its jar, and one request through it. */
async function signIn(sessions: Sessions<Data>, userId: string) {
  const jar = new CookieJar();
  const request = async (act: (session: Awaited<ReturnType<typeof load>>) => unknown = () => {}) => {
    const session = await load(sessions, jar.header());
    await act(session);
    jar.apply(await sessions.commit(session));
    return session;
  };
  await request(async (session) => {
    await session.login(userId);
    session.set('name', userId);
  });
  return { jar, request };
}

const count = (events: SessionEvent[], type: SessionEvent['type']) =>
  events.filter((event) => event.type === type).length;

/**
 * The real store, with the first two `get`s of one key held until both have arrived: two requests
 * then certainly read the same record before either renews it (the race, made to happen every time).
 */
function racingGets(store: SessionStore): SessionStore & { hold(storeKey: string): void } {
  let held: string | undefined;
  let waiting: Array<() => void> = [];
  const gated: SessionStore & { hold(storeKey: string): void } = Object.create(store);
  gated.hold = (storeKey) => {
    held = storeKey;
    waiting = [];
  };
  gated.get = async (storeKey) => {
    if (storeKey === held) {
      await new Promise<void>((release) => {
        waiting.push(release);
        if (waiting.length === 2) {
          held = undefined;
          for (const go of waiting) go();
        }
      });
    }
    return store.get(storeKey);
  };
  for (const method of ['create', 'update', 'touch', 'delete', 'listByUser', 'deleteByUser'] as const) {
    (gated as unknown as Record<string, unknown>)[method] = (
      store[method] as (...args: never) => unknown
    ).bind(store);
  }
  return gated;
}

export interface RenewalConformanceOptions {
  describe?: (name: string, body: () => void) => unknown;
  it?: (name: string, body: () => Promise<void>) => unknown;
}

export function describeTokenRenewal(
  name: string,
  makeStore: MakeStore,
  options: RenewalConformanceOptions = {},
): void {
  const describe = options.describe ?? nodeDescribe;
  const it = options.it ?? nodeIt;
  describe(`${name} store: token renewal`, () => {
    it('after `every`, a request renews the token; the old one works for its grace only, on the same session', async () => {
      const { sessions, clock, events } = await setup(makeStore);
      const browser = await signIn(sessions, 'alice');
      const first = browser.jar.get(COOKIE)!;
      clock.advance('10m');
      await browser.request();
      assert.equal(browser.jar.get(COOKIE), first, 'not due yet: same token');
      clock.advance('6m');
      await browser.request((session) => session.set('seen', 1));
      const second = browser.jar.get(COOKIE)!;
      assert.notEqual(second, first, 'renewed');
      assert.equal(count(events, 'renewed'), 1);

      // Within the grace: the old token reaches the same session, and its write lands there.
      clock.advance('10s');
      const late = await load(sessions, `${COOKIE}=${first}`);
      assert.equal(late.userId, 'alice');
      late.set('late', true);
      const lines = await sessions.commit(late);
      // Silent: the old token is never written back over the new one (the first attempt's race), and
      // never exchanged for it (a thief replaying it cannot catch up with the victim's renewal).
      assert.deepEqual(lines, []);
      const now = await browser.request();
      assert.deepEqual([now.get('seen'), now.get('late')], [1, true]);
      // Only one device, not a second one for the link.
      assert.equal((await sessions.listUserSessions('alice')).length, 1);
    });

    it('a renewed token replayed after its grace ends the whole session and names it', async () => {
      const { sessions, clock, events } = await setup(makeStore);
      const victim = await signIn(sessions, 'bob');
      const stolen = victim.jar.header();
      clock.advance('16m');
      await victim.request(); // renewed: the victim holds the new token, the thief the old one
      assert.equal(count(events, 'renewed'), 1);
      clock.advance('31s');
      const thief = await load(sessions, stolen);
      assert.equal(thief.userId, undefined, 'the thief gets nothing');
      assert.deepEqual(
        events.filter((event) => event.type === 'token-reuse'),
        [{ type: 'token-reuse', userId: 'bob', at: clock.now() }],
      );
      // The whole session: the victim's new token is dead too, and no device remains.
      const after = await load(sessions, victim.jar.header());
      assert.equal(after.userId, undefined);
      assert.deepEqual(await sessions.listUserSessions('bob'), []);
      // A second replay is only an unknown token now.
      assert.equal((await load(sessions, stolen)).userId, undefined);
      assert.equal(count(events, 'token-reuse'), 1);
    });

    it('a thief who renews first is found out: the victim, left with the old token, ends the session for both', async () => {
      const { sessions, clock, events } = await setup(makeStore);
      const victim = await signIn(sessions, 'gus');
      const stolen = victim.jar.header();
      clock.advance('16m');
      const thief = await load(sessions, stolen); // the thief's request comes first and renews
      const thiefCookie = (await sessions.commit(thief))[0]!.split(';')[0]!;
      assert.notEqual(thiefCookie, stolen);
      clock.advance('5s');
      assert.equal((await victim.request()).userId, 'gus', 'within the grace');
      assert.equal(victim.jar.header(), stolen, 'the victim is not handed the new token');
      clock.advance('30s');
      assert.equal((await victim.request()).userId, undefined, 'after the grace: reuse');
      assert.equal(count(events, 'token-reuse'), 1);
      assert.equal((await load(sessions, thiefCookie)).userId, undefined, 'the thief is out too');
    });

    for (const persistent of [false, true]) {
      it(`two tabs racing a renewal both stay signed in, and both writes land (${persistent ? 'persistent' : 'session'} cookie)`, async () => {
        let gate: ReturnType<typeof racingGets> | undefined;
        const { sessions, clock, events } = await setup(makeStore, {
          persistent,
          wrap: (store) => {
            gate = racingGets(store);
            return gate;
          },
        });
        for (let round = 0; round < 3; round++) {
          const browser = await signIn(sessions, 'carol');
          const cookie = browser.jar.header();
          gate!.hold(storeKeyOf(browser.jar.get(COOKIE)!));
          clock.advance('16m');
          const renewedBefore = count(events, 'renewed');
          // Both tabs send the same (due) token at once; each changes its own key.
          const [tabA, tabB] = await Promise.all([load(sessions, cookie), load(sessions, cookie)]);
          assert.equal(tabA.userId, 'carol');
          assert.equal(tabB.userId, 'carol');
          tabA.set('a', round);
          tabB.set('b', round);
          const [linesA, linesB] = await Promise.all([sessions.commit(tabA), sessions.commit(tabB)]);
          assert.ok(count(events, 'renewed') - renewedBefore <= 1, 'at most one renewal');
          // Whichever response the browser applies last, the cookie it keeps works past the grace.
          const kept = [
            [linesA, linesB],
            [linesB, linesA],
          ].map((order) => {
            const jar = new CookieJar().apply([`${COOKIE}=${browser.jar.get(COOKIE)}`]);
            for (const lines of order) jar.apply(lines);
            return jar.header();
          });
          assert.equal(kept[0], kept[1], 'both responses agree on the token');
          clock.advance('1m');
          const next = await load(sessions, kept[0]);
          assert.equal(next.userId, 'carol', 'still signed in after the grace');
          assert.deepEqual([next.get('a'), next.get('b')], [round, round], 'no lost update');
          assert.equal(count(events, 'renewed') - renewedBefore, kept[0] === cookie ? 0 : 1);
          assert.equal(count(events, 'token-reuse'), 0);
        }
        assert.ok(count(events, 'renewed') >= 1, 'the race renewed the token');
      });
    }

    it('a slow request loaded before the renewal writes after the grace: its write lands, the new token stays', async () => {
      const { sessions, clock, events } = await setup(makeStore, { persistent: true });
      const browser = await signIn(sessions, 'dave');
      const cookie = browser.jar.header();
      clock.advance('899s');
      const upload = await load(sessions, cookie); // not due yet: the old record, as it is
      const idle = await load(sessions, cookie); // changes nothing, but its touch is due
      clock.advance('2s');
      const tab = await load(sessions, cookie); // due: renews
      assert.equal(count(events, 'renewed'), 1);
      clock.advance('2m'); // a slow upload, long past the grace
      upload.set('file', 'big');
      tab.set('tab', 1);
      const tabLines = await sessions.commit(tab);
      const uploadLines = await sessions.commit(upload);
      assert.deepEqual(uploadLines, [], 'the upload sends no cookie');
      // Its touch lands on the renewed record, not on the link, and sends no old token back.
      assert.deepEqual(await sessions.commit(idle), [], 'the idle request sends no cookie');
      browser.jar.apply(tabLines).apply(uploadLines);
      const now = await browser.request();
      assert.equal(now.userId, 'dave');
      assert.deepEqual([now.get('file'), now.get('tab')], ['big', 1]);
      assert.equal(count(events, 'token-reuse'), 0);
    });

    it('an old token after its grace, once the session is over, is only an unknown token', async () => {
      const { sessions, clock, events } = await setup(makeStore);
      const browser = await signIn(sessions, 'hal');
      const old = browser.jar.header();
      clock.advance('16m');
      await browser.request(); // renewed
      await browser.request((session) => session.destroy()); // signed out with the new token
      clock.advance('1m');
      assert.equal((await load(sessions, old)).userId, undefined);
      assert.equal(count(events, 'token-reuse'), 0, 'nothing was in two hands: the session had ended');
    });

    it('signing out through the old token within its grace ends the renewed session too', async () => {
      const { sessions, clock } = await setup(makeStore);
      const browser = await signIn(sessions, 'erin');
      const old = browser.jar.header();
      clock.advance('16m');
      await browser.request(); // renewed
      const outdated = await load(sessions, old);
      assert.equal(outdated.userId, 'erin');
      await outdated.destroy();
      await sessions.commit(outdated);
      assert.equal((await load(sessions, browser.jar.header())).userId, undefined);
      assert.deepEqual(await sessions.listUserSessions('erin'), []);
    });
  });
}
