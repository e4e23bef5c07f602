/**
 * c.get('session') with hono-sessions' calls (get, set, forget, flash read by get, deleteSession,
 * session_key_rotation), in cookie mode and store mode.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Hono } from 'hono';
import type { SessionsOptions } from '../core/options.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { type SessionEnv, sessionMiddleware } from './hono.ts';

type Data = { counter: number; user: string };
const keys = generateKeyLine('k1');
const modes: Array<[string, () => SessionsOptions]> = [
  ['cookie mode', () => ({ keys, development: true })],
  ['store mode', () => ({ keys, development: true, store: memoryStore() })],
];

function browser(app: Hono<SessionEnv<Data>>) {
  let cookies = new Map<string, string>();
  return {
    async call(path: string, cookie?: string) {
      const header = cookie ?? [...cookies].map(([n, v]) => `${n}=${v}`).join('; ');
      const response = await app.request(path, { headers: header ? { cookie: header } : {} });
      const next = new Map(cookies);
      for (const line of response.headers.getSetCookie()) {
        const pair = line.slice(0, line.indexOf(';'));
        const name = pair.slice(0, pair.indexOf('='));
        if (line.includes('Max-Age=0')) next.delete(name);
        else next.set(name, pair.slice(pair.indexOf('=') + 1));
      }
      cookies = next;
      return response;
    },
    cookies: () => [...cookies].map(([n, v]) => `${n}=${v}`).join('; '),
  };
}

for (const [mode, options] of modes) {
  describe(`latchkey/hono with hono-sessions' calls (${mode})`, () => {
    test('get/set/forget, a flash read once by get(), deleteSession() and key rotation', async () => {
      const app = new Hono<SessionEnv<Data>>();
      app.use(sessionMiddleware<Data>(options()));
      app.get('/', (c) => {
        const session = c.get('session');
        session.set('counter', (session.get('counter') || 0) + 1);
        return c.json({ counter: session.get('counter') });
      });
      app.get('/flash', (c) => {
        c.get('session').flash('notice', 'saved');
        return c.text('ok');
      });
      app.get('/read-flash', (c) =>
        c.json({ notice: (c.get('session').get as (k: string) => unknown)('notice') ?? null }),
      );
      app.get('/forget', (c) => {
        c.get('session').forget('counter');
        return c.json({ counter: c.get('session').get('counter') ?? null });
      });
      app.get('/rotate', (c) => {
        c.set('session_key_rotation', true);
        return c.text('ok');
      });
      app.get('/logout', (c) => {
        c.get('session').deleteSession();
        return c.text('bye');
      });
      const user = browser(app);
      assert.deepEqual(await (await user.call('/')).json(), { counter: 1 });
      assert.deepEqual(await (await user.call('/')).json(), { counter: 2 });
      await user.call('/flash');
      assert.deepEqual(await (await user.call('/read-flash')).json(), { notice: 'saved' });
      assert.deepEqual(await (await user.call('/read-flash')).json(), { notice: null });
      const before = user.cookies();
      await user.call('/rotate');
      assert.notEqual(user.cookies(), before);
      assert.deepEqual(await (await user.call('/')).json(), { counter: 3 });
      if (mode === 'store mode')
        assert.deepEqual(await (await user.call('/', before)).json(), { counter: 1 });
      assert.deepEqual(await (await user.call('/forget')).json(), { counter: null });
      await user.call('/');
      const signedIn = user.cookies();
      assert.equal(await (await user.call('/logout')).text(), 'bye');
      assert.equal(user.cookies(), '');
      if (mode === 'store mode')
        assert.deepEqual(await (await user.call('/', signedIn)).json(), { counter: 1 });
    });
  });
}
