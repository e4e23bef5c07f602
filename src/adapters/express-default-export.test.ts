/**
 * latchkey/express's default export has express-session's shape: the middleware factory carrying
 * `Store`, `MemoryStore`, `Session` and `Cookie` (and the other exports), so `session.MemoryStore` code
 * keeps working and CommonJS's `require('latchkey/express')` (module.exports = this function) reaches
 * every export. The CommonJS side itself: test/package.test.ts and test/e2e/pack.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import express from 'express';
import { listen } from '../../test/scenarios/apps/serve.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import session, * as namespace from './express.ts';

test("the default export is session() with every other export as a property (express-session's shape)", () => {
  assert.equal(typeof session, 'function');
  assert.equal(session.default, session);
  for (const name of Object.keys(namespace)) {
    if (name !== 'default')
      assert.equal(session[name as keyof typeof session], namespace[name as 'csrf'], name);
  }
  assert.equal(session.session, namespace.session);
  assert.ok(new session.MemoryStore() instanceof session.Store);
});

test('an app written against express-session: session({ store: new session.MemoryStore() }) counts visits', async () => {
  const app = express();
  app.use(session({ keys: generateKeyLine('k1'), store: new session.MemoryStore(), development: true }));
  app.get('/', (req, res) => {
    req.session.views = Number(req.session.views ?? 0) + 1;
    res.send(`views: ${req.session.views}`);
  });
  const server = await listen(app);
  try {
    const first = await fetch(`${server.url}/`);
    assert.equal(await first.text(), 'views: 1');
    const cookie = first.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    assert.ok(cookie !== '');
    const second = await fetch(`${server.url}/`, { headers: { cookie } });
    assert.equal(await second.text(), 'views: 2');
  } finally {
    await server.close();
  }
});
