import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import { CookieJar } from '../../test/support/cookies.ts';
import type { Session } from '../core/session.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { sessionMiddleware } from './node.ts';

type Data = { visits: number };
const sessions = createSessions<Data>({
  keys: generateKeyLine('k1'),
  store: memoryStore(),
  trustProxy: true,
});
const app = express();
app.use(sessionMiddleware(sessions));
app.get('/', (req, res) => {
  const session = (req as typeof req & { session: Session<Data> }).session;
  session.set('visits', (session.get('visits') ?? 0) + 1);
  res.json({ visits: session.get('visits') });
});
app.post('/logout', async (req, res) => {
  await (req as typeof req & { session: Session<Data> }).session.destroy();
  res.redirect(303, '/');
});
const server = app.listen(0, '127.0.0.1');
let base = '';
before(async () => {
  if (!server.listening) await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

test('connect-style middleware: req.session in Express, store mode, committed before headers', async () => {
  const jar = new CookieJar();
  const call = async (path: string, method = 'GET') => {
    const cookie = jar.header();
    const response = await fetch(`${base}${path}`, {
      method,
      redirect: 'manual',
      headers: { 'x-forwarded-proto': 'https', ...(cookie ? { cookie } : {}) },
    });
    jar.apply(response.headers.getSetCookie());
    return response;
  };
  assert.deepEqual(await (await call('/')).json(), { visits: 1 });
  const second = await call('/');
  assert.deepEqual(await second.json(), { visits: 2 });
  assert.deepEqual(second.headers.getSetCookie(), [], 'the token cookie is not re-sent when unchanged');
  const out = await call('/logout', 'POST');
  assert.equal(out.status, 303);
  assert.match(out.headers.getSetCookie()[0] ?? '', /^__Host-lk=; .*Max-Age=0/);
  assert.equal(out.headers.get('cache-control'), 'no-store');
  assert.deepEqual(await (await call('/')).json(), { visits: 1 });
});
