import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countingStore, sessionBrowser } from '../../test/support/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createCsrf } from '../csrf/index.ts';
import { memoryStore } from '../stores/memory.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions } from './index.ts';

const KEYS = generateKeyLine('k1');
type Data = { cart: string[] };
const csrf = createCsrf();
const post = (token: string | undefined) => ({
  method: 'POST',
  header: (name: string) => (name === 'x-csrf-token' ? token : undefined),
});

function setup() {
  const clock = createFakeClock();
  const backing = memoryStore({ clock });
  const { store, calls } = countingStore(backing);
  const sessions = createSessions<Data>({ keys: KEYS, clock, store });
  return { clock, calls, sessions };
}

/** How many records the store was asked to create. */
const records = (calls: readonly string[]) => calls.filter((call) => call === 'create').length;

describe('anonymous CSRF without a store record (issue 14 §2, checklist #35)', () => {
  test('a rendered token costs a sealed cookie, no store write, and its post checks', async () => {
    const { calls, sessions } = setup();
    const browser = sessionBrowser(sessions);
    let token = '';
    await browser.request((session) => {
      token = csrf.token(session);
    });
    assert.deepEqual(
      calls.filter((call) => call !== 'get'),
      [],
      'no create, no update',
    );
    assert.equal(records(calls), 0);
    assert.equal(browser.jar.get('__Host-lk'), undefined, 'no session token');
    const sealed = browser.jar.get('__Host-lk.csrf');
    assert.ok(sealed && sealed.length > 43, 'a sealed secret cookie');
    // The next request (a post) carries the cookie and the token: it checks, and still no record.
    await browser.request((session) => {
      assert.equal(csrf.check(post(token), session), undefined);
      assert.equal(csrf.check(post(undefined), session)?.reason, 'token-missing');
      assert.ok(session.isNew);
    });
    assert.equal(records(calls), 0);
    assert.equal(calls.includes('create'), false);
  });

  test('a token from another visitor, a forged cookie or an expired one does not check', async () => {
    const { sessions, clock } = setup();
    const alice = sessionBrowser(sessions);
    const mallory = sessionBrowser(sessions);
    let aliceToken = '';
    let malloryToken = '';
    await alice.request((s) => {
      aliceToken = csrf.token(s);
    });
    await mallory.request((s) => {
      malloryToken = csrf.token(s);
    });
    await alice.request((s) => {
      assert.equal(csrf.check(post(malloryToken), s)?.reason, 'token-invalid');
    });
    const sealed = alice.jar.get('__Host-lk.csrf')!;
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.at(-1)}`;
    const forged = await sessions.load({ headers: { cookie: `__Host-lk.csrf=${flipped}` } });
    assert.equal(csrf.check(post(aliceToken), forged)?.reason, 'token-invalid');
    // Moved to another cookie name (the AAD binds it), the secret does not open.
    const other = createSessions<Data>({
      keys: KEYS,
      clock,
      store: memoryStore({ clock }),
      cookie: { name: '__Host-x' },
    });
    const moved = await other.load({ headers: { cookie: `__Host-x.csrf=${sealed}` } });
    assert.equal(csrf.check(post(aliceToken), moved)?.reason, 'token-invalid');
    clock.advance(24 * 3600 * 1000 + 1);
    await alice.request((s) => {
      assert.equal(csrf.check(post(aliceToken), s)?.reason, 'token-invalid', 'past its sealed deadline');
    });
  });

  test('the secret moves into the record when the session gets data, and the cookie is deleted', async () => {
    const { sessions, calls } = setup();
    const browser = sessionBrowser(sessions);
    let token = '';
    await browser.request((s) => {
      token = csrf.token(s);
    });
    await browser.request((s) => {
      assert.equal(csrf.check(post(token), s), undefined);
      s.set('cart', ['tea']);
    });
    assert.equal(browser.jar.get('__Host-lk.csrf'), undefined, 'deleted');
    assert.ok(browser.jar.get('__Host-lk'));
    assert.equal(records(calls), 1);
    await browser.request((s) => {
      assert.equal(csrf.check(post(token), s), undefined, 'the same secret, now in the record');
    });
  });

  test('sign-in makes a record with a new secret; sign-out clears both cookies', async () => {
    const { sessions } = setup();
    const browser = sessionBrowser(sessions);
    let token = '';
    await browser.request((s) => {
      token = csrf.token(s);
    });
    await browser.request(async (s) => {
      await s.login('ada');
    });
    assert.equal(browser.jar.get('__Host-lk.csrf'), undefined);
    await browser.request((s) => {
      assert.equal(s.userId, 'ada');
      assert.equal(csrf.check(post(token), s)?.reason, 'token-invalid', 'a pre-login token is no use');
      token = csrf.token(s);
    });
    await browser.request(async (s) => {
      await s.destroy();
      token = csrf.token(s); // the signed-out page renders a form again
    });
    assert.equal(browser.jar.get('__Host-lk'), undefined, 'the session cookie is cleared');
    assert.ok(browser.jar.get('__Host-lk.csrf'), 'an anonymous secret for the next form');
    await browser.request((s) => {
      assert.equal(csrf.check(post(token), s), undefined);
    });
  });

  test('the same secret is not resealed on every request, only when half its life is gone', async () => {
    const { sessions, clock } = setup();
    const browser = sessionBrowser(sessions);
    const lines = async () => {
      const cookie = browser.jar.header();
      const s = await sessions.load({ headers: cookie ? { cookie } : {} });
      csrf.token(s);
      const set = await sessions.commit(s);
      browser.jar.apply(set);
      return set.length;
    };
    assert.equal(await lines(), 1);
    assert.equal(await lines(), 0);
    clock.advance(12 * 3600 * 1000 + 1);
    assert.equal(await lines(), 1);
  });
});
