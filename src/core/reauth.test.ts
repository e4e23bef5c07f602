/**
 * Checklist #26: re-authentication resets both clocks and records when the user authenticated;
 * `authenticatedWithin(maxAge)` refuses an older sign-in, in both modes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sessionBrowser } from '../../test/support/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { isLatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions } from './index.ts';

const KEYS = generateKeyLine('k1');

for (const mode of ['cookie', 'store'] as const) {
  describe(`checklist #26: recent authentication (${mode} mode)`, () => {
    test('authenticatedWithin refuses an older sign-in until login() is called again, which resets both clocks', async () => {
      const clock = createFakeClock();
      const sessions = createSessions({
        keys: KEYS,
        clock,
        idleTimeout: '30m',
        ...(mode === 'store' ? { store: memoryStore({ clock }) } : {}),
      });
      const { request } = sessionBrowser(sessions);

      const anonymous = await request((s) => s.set('cart', [1]));
      assert.equal(anonymous.authenticatedAt, undefined);
      assert.equal(anonymous.authenticatedWithin('1h'), false);

      const signedInAt = clock.now();
      await request((s) => s.login('alice'));
      clock.advance('4m');
      const fresh = await request((s) => s.set('n', 1));
      assert.equal(
        fresh.authenticatedAt,
        signedInAt,
        'sealed with the session, read back on a later request',
      );
      assert.equal(fresh.authenticatedWithin('5m'), true);

      clock.advance('2m');
      const stale = await request(async (s) => {
        await s.regenerate(); // a new cookie value is not a new authentication
      });
      assert.equal(stale.authenticatedWithin('5m'), false, 'six minutes after sign-in');

      const reauthAt = clock.now();
      const again = await request((s) => s.login('alice')); // the password was asked again
      assert.equal(again.authenticatedAt, reauthAt);
      assert.equal(again.createdAt, reauthAt, 'the absolute clock restarts');
      assert.equal(again.lastActiveAt, reauthAt, 'the idle clock restarts');
      assert.equal(again.authenticatedWithin('5m'), true);
      assert.throws(
        () => again.authenticatedWithin('soon' as '5m'),
        (err) => isLatchkeyError(err, 'ERR_LATCHKEY_CONFIG'),
      );
    });
  });
}
