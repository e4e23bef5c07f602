/** CSRF through latchkey/fetch (verifyCsrf) and latchkey/node (csrfMiddleware), checklist #59. */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import express from 'express';
import { listen } from '../../test/scenarios/apps/serve.ts';
import { CookieJar } from '../../test/support/cookies.ts';
import type { Session } from '../core/session.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createCsrf } from '../csrf/index.ts';
import { verifyCsrf, withSession } from './fetch.ts';
import { csrfMiddleware, sessionMiddleware } from './node.ts';

const keys = generateKeyLine('k1');
const csrf = createCsrf();

describe('latchkey/fetch verifyCsrf', () => {
  const handler = withSession(createSessions({ keys }), async (request, session) => {
    if (new URL(request.url).pathname === '/form') return Response.json({ token: csrf.token(session) });
    const refused = await verifyCsrf(csrf, request, session);
    if (refused) return refused;
    // The handler can still read the body: the token was read from a clone.
    const body = request.method === 'POST' ? await request.text() : '';
    return Response.json({ ok: true, body });
  });

  test('form field, header, missing token and cross-origin posts', async () => {
    const jar = new CookieJar();
    const form = await handler(new Request('https://app.test/form'));
    jar.apply(form.headers.getSetCookie());
    const { token } = (await form.json()) as { token: string };
    const post = (headers: Record<string, string>, body?: string) =>
      handler(
        new Request('https://app.test/do', {
          method: 'POST',
          headers: { cookie: jar.header() ?? '', ...headers },
          ...(body === undefined ? {} : { body }),
        }),
      );
    const origin = 'https://app.test';
    const formType = 'application/x-www-form-urlencoded';
    const viaForm = await post({ origin, 'content-type': formType }, `_csrf=${token}&a=1`);
    assert.deepEqual(await viaForm.json(), { ok: true, body: `_csrf=${token}&a=1` });
    assert.equal((await post({ origin, 'x-csrf-token': token })).status, 200);
    const missing = await post({ origin, 'content-type': formType }, 'a=1');
    assert.equal(missing.status, 403);
    assert.equal(await missing.text(), 'Forbidden: ERR_LATCHKEY_CSRF (token-missing)\n');
    const forged = await post({ origin: 'https://evil.test', 'content-type': formType }, `_csrf=${token}`);
    assert.equal(forged.status, 403);
    assert.match(await forged.text(), /cross-origin/);
    assert.equal((await post({ origin: 'http://app.test', 'x-csrf-token': token })).status, 403, 'scheme');
    const get = await handler(
      new Request('https://app.test/do', { headers: { cookie: jar.header() ?? '' } }),
    );
    assert.equal(get.status, 200, 'GET is not checked');
  });

  test('a form post from another origin is refused before its body is read', async () => {
    const session = await createSessions({ keys }).load(undefined);
    let pulled = false;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pulled = true;
          controller.enqueue(new TextEncoder().encode(`_csrf=${csrf.token(session)}`));
          controller.close();
        },
      },
      { highWaterMark: 0 },
    ); // nothing is pulled until someone reads
    const request = new Request('https://app.test/do', {
      method: 'POST',
      headers: { origin: 'https://evil.test', 'content-type': 'application/x-www-form-urlencoded' },
      body,
      duplex: 'half',
    } as RequestInit);
    const refused = await verifyCsrf(csrf, request, session);
    assert.equal(refused?.status, 403);
    assert.match(await refused!.text(), /cross-origin/);
    assert.equal(pulled, false, 'not a byte of the upload was read');
  });
});

describe('latchkey/node csrfMiddleware', () => {
  const apps: Array<{ close(): Promise<void> }> = [];
  after(() => Promise.all(apps.map((app) => app.close())));

  test('req.csrfToken() in a connect-style stack; refusals are 403 before the route runs', async () => {
    let ran = 0;
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use(sessionMiddleware(createSessions({ keys, development: true })));
    app.use(csrfMiddleware(csrf));
    app.get('/form', (req, res) => {
      res.json({ token: (req as typeof req & { csrfToken(): string }).csrfToken() });
    });
    app.post('/do', (req, res) => {
      ran++;
      (req as unknown as { session: Session }).session.set('done', true);
      res.json({ ok: true });
    });
    const server = await listen(app);
    apps.push(server);
    const jar = new CookieJar();
    const form = await fetch(`${server.url}/form`);
    jar.apply(form.headers.getSetCookie());
    const { token } = (await form.json()) as { token: string };
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${server.url}/do`, {
        method: 'POST',
        headers: {
          cookie: jar.header() ?? '',
          'content-type': 'application/x-www-form-urlencoded',
          ...headers,
        },
        body,
      });
    assert.equal((await post({ origin: server.url }, `_csrf=${token}`)).status, 200);
    assert.equal((await post({ origin: server.url }, '')).status, 403);
    assert.equal((await post({ 'sec-fetch-site': 'cross-site' }, `_csrf=${token}`)).status, 403);
    assert.equal(ran, 1, 'refused requests never reach the route');
  });

  test('without sessionMiddleware first it is a coded state error, not a silent pass', async () => {
    const app = express();
    app.use(csrfMiddleware(csrf));
    app.post('/do', (_req, res) => res.end('ran'));
    app.use(((error, _req, res, _next) => {
      res.status(500).end((error as { code?: string }).code);
    }) as express.ErrorRequestHandler);
    const server = await listen(app);
    apps.push(server);
    const response = await fetch(`${server.url}/do`, { method: 'POST' });
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'ERR_LATCHKEY_STATE');
  });
});
