/**
 * Cookie-mode revocation (checklist #41) on every real store: a captured cookie is refused after its
 * sign-out and after "sign out everywhere else", and concurrent sign-outs of one user are all kept.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSessions, type Sessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { realStores } from './support/real-stores.ts';
import { sessionBrowser } from './support/sessions.ts';

const KEYS = generateKeyLine('k1');
type Data = Record<string, unknown>;

/** What the server makes of a copied Cookie header. */
const replay = (sessions: Sessions<Data>, cookie: string | undefined) =>
  sessionBrowser(sessions).replay(cookie);

async function signIn(sessions: Sessions<Data>, userId: string) {
  const browser = sessionBrowser(sessions);
  await browser.request((session) => session.login(userId));
  return browser;
}

for (const [name, makeStore, options] of realStores) {
  describe(`cookie-mode revocation on the ${name} store`, options ?? {}, () => {
    test('a captured cookie is refused after sign-out and after "sign out everywhere else"', async () => {
      const sessions = createSessions<Data>({ keys: KEYS, revocation: await makeStore() });
      const laptop = await signIn(sessions, 'alice');
      const phone = await signIn(sessions, 'alice');
      const tablet = await signIn(sessions, 'alice');
      const laptopCookie = laptop.jar.header();
      await laptop.request((session) => session.destroy());
      assert.equal((await replay(sessions, laptopCookie)).isNew, true);
      assert.equal((await phone.request()).userId, 'alice');

      const tabletCookie = tablet.jar.header();
      await phone.request((session) => sessions.revokeUserSessions('alice', { except: session }));
      assert.equal((await replay(sessions, tabletCookie)).isNew, true);
      assert.equal((await phone.request()).userId, 'alice');
      const again = await signIn(sessions, 'alice');
      assert.equal((await again.request()).userId, 'alice');
    });

    test('20 concurrent sign-outs of one user are all kept', async () => {
      const sessions = createSessions<Data>({ keys: KEYS, revocation: await makeStore() });
      const devices = await Promise.all(Array.from({ length: 20 }, () => signIn(sessions, 'bob')));
      const captured = devices.map((browser) => browser.jar.header());
      await Promise.all(devices.map((browser) => browser.request((session) => session.destroy())));
      const replayed = await Promise.all(captured.map((cookie) => replay(sessions, cookie)));
      assert.deepEqual(
        replayed.map((session) => session.userId),
        captured.map(() => undefined),
      );
    });
  });
}
