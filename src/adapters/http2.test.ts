/**
 * CSRF over HTTP/2 (checklist #59): an HTTP/2 request has no Host header, only the :authority
 * pseudo-header, and a same-origin form post must still pass on every node-style adapter. Before the
 * fix every unsafe HTTP/2 request was refused as cross-origin.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import Fastify from 'fastify';
import Koa from 'koa';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { createCsrf } from '../csrf/index.ts';
import latchkey from './fastify.ts';
import { csrf as koaCsrf, session as koaSession } from './koa.ts';
import { verifyCsrf, withSession } from './node.ts';

const keys = generateKeyLine('k1');
const closers: Array<() => Promise<unknown>> = [];
after(() => Promise.all(closers.map((close) => close())));

interface Answer {
  status: number;
  body: string;
  setCookie: string[];
}

/** One HTTP/2 (h2c) request. */
function h2(
  origin: string,
  path: string,
  method: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const client = connect(origin);
    client.on('error', reject);
    const stream = client.request({ ':path': path, ':method': method, ...headers });
    stream.end();
    let status = 0;
    let setCookie: string[] = [];
    let body = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      const lines = h['set-cookie'];
      setCookie = Array.isArray(lines) ? lines : lines === undefined ? [] : [lines];
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => {
      client.close();
      resolve({ status, body, setCookie });
    });
    stream.on('error', reject);
  });
}

async function listenH2(server: Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** GET /form for a token and the session cookie, then a same-origin and a cross-origin POST. */
async function formPosts(origin: string): Promise<{ same: Answer; cross: Answer }> {
  const form = await h2(origin, '/form', 'GET');
  assert.equal(form.status, 200, form.body);
  const cookie = form.setCookie[0]!.split(';')[0]!;
  const post = (from: string) =>
    h2(origin, '/transfer', 'POST', { cookie, 'x-csrf-token': form.body, origin: from });
  return { same: await post(origin), cross: await post('http://evil.test') };
}

describe('CSRF over HTTP/2: :authority stands for Host (checklist #59)', () => {
  test('latchkey/node on a node:http2 server', async () => {
    const sessions = createSessions({ keys, development: true });
    const csrf = createCsrf();
    const handler = withSession(sessions, (req, res, session) => {
      if (req.method === 'GET') {
        res.end(csrf.token(session));
        return;
      }
      if (verifyCsrf(csrf, req, res, session)) res.end('moved');
    });
    // node:http2's compatibility API gives the handler node:http-like request and response objects.
    const origin = await listenH2(createServer(handler as unknown as Parameters<typeof createServer>[0]));
    const { same, cross } = await formPosts(origin);
    assert.deepEqual([same.status, same.body], [200, 'moved']);
    assert.equal(cross.status, 403);
  });

  test('latchkey/koa on a node:http2 server', async () => {
    const app = new Koa();
    app.use(koaSession({ keys, development: true }));
    app.use(koaCsrf());
    app.use((ctx) => {
      ctx.body = ctx.method === 'GET' ? (ctx.state.csrfToken as () => string)() : 'moved';
    });
    const origin = await listenH2(createServer(app.callback()));
    const { same, cross } = await formPosts(origin);
    assert.deepEqual([same.status, same.body], [200, 'moved']);
    assert.equal(cross.status, 403);
  });

  test('latchkey/fastify with http2: true', async () => {
    const app = Fastify({ http2: true });
    await app.register(latchkey, { keys, development: true, csrf: true });
    app.get('/form', async (request) => request.csrfToken());
    app.post('/transfer', async () => 'moved');
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const { same, cross } = await formPosts(origin);
    assert.deepEqual([same.status, same.body], [200, 'moved']);
    assert.equal(cross.status, 403);
  });
});
