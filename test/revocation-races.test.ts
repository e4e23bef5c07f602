/**
 * "Sign out everywhere" (store mode's revokeUserSessions) racing requests already under way, on every
 * real store (issue 14: a token revoked this way once answered as its user again in the soak). Each test
 * holds one store call of the racing request until the revocation has answered, then lets it land:
 * - a commit (compare-and-set), a touch, a renewal's swap or its copy: none brings a record back;
 * - a rotation (regenerate) whose new record lands after the revocation enumerated the user's sessions:
 *   its new token must not live on (it did, on every store, before the user's revocation time was
 *   checked after the create);
 * - on Redis, whose deleteByUser lists the user index and then deletes: a renewal between the two made
 *   the old record a link (skipped: no user's record) and the copy was never listed, so the renewed
 *   token lived on;
 * - a sign-in racing the revocation is a new sign-in: it may stand; no token from before does.
 * "Sign out everywhere else" keeps its session through later renewals and rotations.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { createClient } from 'redis';
import type { Duration } from '../src/core/policy.ts';
import type { Session } from '../src/core/session.ts';
import { createSessions, type Sessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { redisStore } from '../src/stores/redis.ts';
import type { SessionStore, StoredRecord } from '../src/stores/types.ts';
import { createFakeClock, type FakeClock } from '../src/testing/fake-clock.ts';
import { realStores } from './support/real-stores.ts';
import { sessionBrowser } from './support/sessions.ts';

const KEYS = generateKeyLine('k1');
type Data = Record<string, unknown>;

interface Held {
  /** Resolves once the held call was made (it waits, not yet sent to the store). */
  readonly reached: Promise<void>;
  /** Lets it go on to the store. */
  release(): void;
}

/**
 * `store` with calls that can be held: `hold(method, when)` makes the next call of `method` whose
 * arguments match `when` wait until `release()`. Everything else passes straight through.
 */
function holdingStore(store: SessionStore) {
  const holds: Array<{
    method: string;
    when: (args: unknown[]) => boolean;
    reached(): void;
    go: Promise<void>;
  }> = [];
  const held = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const i = holds.findIndex((h) => h.method === property && h.when(args));
        if (i >= 0) {
          const [h] = holds.splice(i, 1);
          h!.reached();
          await h!.go;
        }
        return value.apply(target, args);
      };
    },
  });
  const hold = (method: keyof SessionStore, when: (args: unknown[]) => boolean = () => true): Held => {
    let release!: () => void;
    let reached!: () => void;
    const go = new Promise<void>((resolve) => {
      release = resolve;
    });
    const wasReached = new Promise<void>((resolve) => {
      reached = resolve;
    });
    holds.push({ method, when, reached, go });
    return { reached: wasReached, release };
  };
  return { store: held, hold };
}

/** A write of one of alice's session records (a revocation record has no user). */
const ofAlice = (args: unknown[]) => (args[1] as StoredRecord | undefined)?.userId === 'alice';
/** A renewal's link: the old store key's record becomes one, with no user. */
const aLink = (args: unknown[]) => (args[1] as StoredRecord | undefined)?.userId === undefined;

interface Setup {
  sessions: Sessions<Data>;
  clock: FakeClock;
  hold: ReturnType<typeof holdingStore>['hold'];
}

async function setup(
  store: SessionStore,
  options: { renewal?: boolean; touchAfter?: Duration } = {},
): Promise<Setup> {
  // The stores expire records by the real time: the fake clock starts now and only moves forward.
  const clock = createFakeClock(Date.now());
  const holding = holdingStore(store);
  const sessions = createSessions<Data>({
    keys: KEYS,
    store: holding.store,
    clock,
    ...(options.renewal && { tokenRenewal: { every: '15m', grace: '30s' } }),
    ...(options.touchAfter !== undefined && { touchAfter: options.touchAfter }),
  });
  return { sessions, clock, hold: holding.hold };
}

async function signIn(sessions: Sessions<Data>, userId = 'alice') {
  const browser = sessionBrowser(sessions);
  await browser.request((session) => session.login(userId));
  return browser;
}

/** Who the server takes a copied Cookie header for (undefined: nobody). */
const userOf = async (sessions: Sessions<Data>, cookie: string | undefined) =>
  (await sessionBrowser(sessions).replay(cookie)).userId;

/** After the race: no cookie held before or after it answers as alice, and she has no session left. */
async function allSignedOut(sessions: Sessions<Data>, cookies: Array<string | undefined>): Promise<void> {
  for (const cookie of cookies) assert.equal(await userOf(sessions, cookie), undefined, `cookie ${cookie}`);
  assert.deepEqual(await sessions.listUserSessions('alice'), []);
}

for (const [name, makeStore, options] of realStores) {
  describe(`sign out everywhere racing requests under way, ${name} store`, options ?? {}, () => {
    test('a commit held until the revocation answered writes nothing back', async () => {
      const { sessions, hold } = await setup(await makeStore());
      const [laptop, phone] = [await signIn(sessions), await signIn(sessions)];
      const before = [laptop.jar.header(), phone.jar.header()];
      const update = hold('update', ofAlice);
      const write = laptop.request((session) => session.set('cart', ['book']));
      await update.reached;
      assert.equal(await sessions.revokeUserSessions('alice'), 2);
      update.release();
      await write;
      await allSignedOut(sessions, [...before, laptop.jar.header()]);
    });

    test('a touch held until the revocation answered moves nothing back', async () => {
      const { sessions, clock, hold } = await setup(await makeStore(), { touchAfter: '1m' });
      const laptop = await signIn(sessions);
      const before = laptop.jar.header();
      clock.advance('2m');
      const touch = hold('touch');
      const read = laptop.request();
      await touch.reached;
      assert.equal(await sessions.revokeUserSessions('alice'), 1);
      touch.release();
      await read;
      await allSignedOut(sessions, [before, laptop.jar.header()]);
    });

    test('a rotation whose new record lands after the revocation leaves no live session', async () => {
      const { sessions, hold } = await setup(await makeStore());
      const [laptop, phone] = [await signIn(sessions), await signIn(sessions)];
      const before = [laptop.jar.header(), phone.jar.header()];
      // regenerate() deletes the old record at once; its new record is made at commit: held there.
      const create = hold('create', ofAlice);
      const rotation = laptop.request((session) => session.regenerate());
      await create.reached;
      // The laptop's old record is gone already: only the phone's is left to delete.
      assert.equal(await sessions.revokeUserSessions('alice'), 1);
      create.release();
      await rotation;
      await allSignedOut(sessions, [...before, laptop.jar.header()]);
    });

    test('a renewal whose copy or swap is held until the revocation answered leaves no live session', async () => {
      for (const held of ['copy', 'swap'] as const) {
        const { sessions, clock, hold } = await setup(await makeStore(), { renewal: true });
        const [laptop, phone] = [await signIn(sessions), await signIn(sessions)];
        const before = [laptop.jar.header(), phone.jar.header()];
        clock.advance('16m'); // the laptop's next request renews its token
        const call = held === 'copy' ? hold('create', ofAlice) : hold('update', aLink);
        const renewal = laptop.request();
        await call.reached;
        await sessions.revokeUserSessions('alice');
        call.release();
        await renewal;
        await allSignedOut(sessions, [...before, laptop.jar.header()]);
      }
    });

    test('a sign-in racing the revocation may stand; no token from before it does', async () => {
      const { sessions, hold } = await setup(await makeStore());
      const [laptop, phone] = [await signIn(sessions), await signIn(sessions)];
      const before = [laptop.jar.header(), phone.jar.header()];
      const create = hold('create', ofAlice);
      const tablet = sessionBrowser(sessions);
      const signingIn = tablet.request((session) => session.login('alice'));
      await create.reached;
      assert.equal(await sessions.revokeUserSessions('alice'), 2);
      create.release();
      await signingIn;
      for (const cookie of before) assert.equal(await userOf(sessions, cookie), undefined);
      // A new sign-in, not a session the revocation was asked to end: it linearizes after it.
      assert.equal((await tablet.request()).userId, 'alice');
    });

    test('a sign-in in the same millisecond as the revocation outlives it, renewals included', async () => {
      const { sessions, clock } = await setup(await makeStore(), { renewal: true });
      const laptop = await signIn(sessions);
      const before = laptop.jar.header();
      await sessions.revokeUserSessions('alice');
      const phone = await signIn(sessions); // the fake clock has not moved
      assert.equal(await userOf(sessions, before), undefined);
      clock.advance('16m');
      const renewedFrom = phone.jar.header();
      assert.equal((await phone.request()).userId, 'alice');
      assert.notEqual(phone.jar.header(), renewedFrom);
      assert.equal((await phone.request((session) => session.regenerate())).userId, 'alice');
      assert.equal((await phone.request()).userId, 'alice');
    });

    test('"sign out everywhere else" keeps its session through renewals and rotations', async () => {
      const { sessions, clock } = await setup(await makeStore(), { renewal: true });
      const [laptop, phone, tablet] = [
        await signIn(sessions),
        await signIn(sessions),
        await signIn(sessions),
      ];
      const ended = [laptop.jar.header(), tablet.jar.header()];
      let kept: Session<Data> | undefined;
      await phone.request(async (session) => {
        kept = session;
        assert.equal(await sessions.revokeUserSessions('alice', { except: session }), 2);
      });
      assert.ok(kept);
      for (const cookie of ended) assert.equal(await userOf(sessions, cookie), undefined);
      clock.advance('16m');
      const renewedFrom = phone.jar.header();
      assert.equal((await phone.request()).userId, 'alice'); // renewed: a new token
      assert.notEqual(phone.jar.header(), renewedFrom);
      assert.equal((await phone.request((session) => session.regenerate())).userId, 'alice');
      assert.equal((await phone.request()).userId, 'alice');
      // Kept by its store key (the "your devices" page's id) just the same.
      const [device] = await sessions.listUserSessions('alice');
      const other = await signIn(sessions);
      assert.equal(await sessions.revokeUserSessions('alice', { except: device!.id }), 1);
      assert.equal(await userOf(sessions, other.jar.header()), undefined);
      clock.advance('16m');
      assert.equal((await phone.request()).userId, 'alice');
      // A later "everywhere" ends the kept session too, its renewals included.
      const last = phone.jar.header();
      await sessions.revokeUserSessions('alice');
      clock.advance('16m');
      assert.equal(await userOf(sessions, last), undefined);
    });
  });
}

describe('redis: deleteByUser lists the user index, then deletes', () => {
  const clients: Array<ReturnType<typeof createClient>> = [];
  after(async () => {
    for (const client of clients) await client.close();
  });

  test('a renewal between the listing and the deletes: the renewed token does not live on', async () => {
    const client = createClient({ url: 'redis://127.0.0.1:6379' });
    await client.connect();
    clients.push(client);
    // The user index read (ZRANGE) answers, then waits until the renewal has landed.
    let listed: () => void = () => {};
    let goOn: () => void = () => {};
    let holdNext = false;
    const wasListed = new Promise<void>((resolve) => {
      listed = resolve;
    });
    const resume = new Promise<void>((resolve) => {
      goOn = resolve;
    });
    const held = new Proxy(client, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        if (property !== 'zRange') return value.bind(target);
        return async (...args: unknown[]) => {
          const reply = await value.apply(target, args);
          if (holdNext) {
            holdNext = false;
            listed();
            await resume;
          }
          return reply;
        };
      },
    });
    const store = redisStore({ client: held, prefix: `lkrace${randomBytes(4).toString('hex')}:` });
    const { sessions, clock } = await setup(store, { renewal: true });
    const [laptop, phone] = [await signIn(sessions), await signIn(sessions)];
    const before = [laptop.jar.header(), phone.jar.header()];
    clock.advance('16m');
    holdNext = true;
    const revocation = sessions.revokeUserSessions('alice');
    await wasListed;
    // Renewed after the listing: the copy is not in it, and the old record is a link by the deletes.
    await laptop.request();
    goOn();
    await revocation;
    await allSignedOut(sessions, [...before, laptop.jar.header()]);
  });
});
