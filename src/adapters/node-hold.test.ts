import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express from 'express';
import type { Session } from '../core/session.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import { sessionMiddleware, withSession } from './node.ts';

type Data = { visits: number };
const HOOKED = ['writeHead', 'write', 'end', 'flushHeaders', 'setHeader', 'removeHeader', 'headersSent'];

const modes = {
  cookie: () => createSessions<Data>({ keys: generateKeyLine('k1'), trustProxy: true }),
  store: () => createSessions<Data>({ keys: generateKeyLine('k1'), store: memoryStore(), trustProxy: true }),
};

async function listen(handler: http.RequestListener): Promise<{ base: string; close: () => void }> {
  const server = http.createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}

const get = (url: string, cookie?: string) =>
  fetch(url, { headers: { 'x-forwarded-proto': 'https', ...(cookie ? { cookie } : {}) } });

const cookieOf = (response: Response) => (response.headers.getSetCookie()[0] ?? '').split(';')[0]!;

for (const [mode, make] of Object.entries(modes)) {
  test(`${mode} mode: a held node:http response gets no own properties (the hooks live on the prototype)`, async () => {
    const sessions = make();
    let own: string[] = [];
    const server = await listen(
      withSession(sessions, (_req, res, session) => {
        session.set('visits', (session.get('visits') ?? 0) + 1);
        own = HOOKED.filter((name) => Object.hasOwn(res, name));
        res.end(String(session.get('visits')));
      }),
    );
    try {
      const first = await get(server.base);
      assert.equal(await first.text(), '1');
      assert.match(first.headers.getSetCookie()[0] ?? '', /^__Host-lk=/);
      assert.deepEqual(own, []);
      const second = await get(server.base, cookieOf(first));
      assert.equal(await second.text(), '2');
    } finally {
      server.close();
    }
  });

  test(`${mode} mode: a route on a mounted Express sub-app (which swaps the response's prototype again) still commits`, async () => {
    const sessions = make();
    const app = express();
    app.use(sessionMiddleware(sessions));
    const sub = express();
    sub.get('/count', (req, res) => {
      const session = (req as typeof req & { session: Session<Data> }).session;
      session.set('visits', (session.get('visits') ?? 0) + 1);
      res.send(String(session.get('visits')));
    });
    app.use('/sub', sub);
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const first = await get(`${base}/sub/count`);
      assert.equal(await first.text(), '1');
      assert.match(first.headers.getSetCookie()[0] ?? '', /^__Host-lk=/);
      const second = await get(`${base}/sub/count`, cookieOf(first));
      assert.equal(await second.text(), '2');
    } finally {
      server.close();
    }
  });

  test(`${mode} mode: middleware that saved res.end before Latchkey ran (as compression does) still goes through the hold`, async () => {
    const sessions = make();
    const middleware = sessionMiddleware(sessions);
    const wrapped: string[] = [];
    const server = await listen((req, res) => {
      // On the very first request of the process's server, before Latchkey has held any response.
      const end = res.end;
      res.end = function (this: ServerResponse, ...args: unknown[]) {
        wrapped.push('end');
        return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
      } as ServerResponse['end'];
      middleware(req, res, () => {
        const session = (req as IncomingMessage & { session: Session<Data> }).session;
        session.set('visits', 1);
        res.end('ok');
      });
    });
    try {
      const response = await get(server.base);
      assert.equal(await response.text(), 'ok');
      assert.match(response.headers.getSetCookie()[0] ?? '', /^__Host-lk=/);
      assert.deepEqual(wrapped, ['end']);
    } finally {
      server.close();
    }
  });

  test(`${mode} mode: two holds of one response (two Sessions) both commit`, async () => {
    const outer = make();
    const inner = createSessions<Data>({
      keys: generateKeyLine('k2'),
      trustProxy: true,
      cookie: { name: '__Host-other' },
    });
    const first = sessionMiddleware(outer);
    const second = sessionMiddleware(inner);
    const server = await listen((req, res) => {
      first(req, res, () => {
        const a = (req as IncomingMessage & { session: Session<Data> }).session;
        a.set('visits', 1);
        second(req, res, () => {
          (req as IncomingMessage & { session: Session<Data> }).session.set('visits', 2);
          res.end('both');
        });
      });
    });
    try {
      const response = await get(server.base);
      assert.equal(await response.text(), 'both');
      const names = response.headers.getSetCookie().map((line) => line.split('=')[0]);
      assert.deepEqual(names.sort(), ['__Host-lk', '__Host-other']);
    } finally {
      server.close();
    }
  });
}

test('a response without a hold behaves natively once the hooks are installed', async () => {
  let afterEnd: unknown;
  let sentAfterWriteHead: boolean | undefined;
  const server = await listen((_req, res) => {
    res.setHeader('x-a', '1');
    res.removeHeader('x-a');
    res.appendHeader('x-b', '2');
    res.writeHead(201, { 'x-c': '3' });
    sentAfterWriteHead = res.headersSent;
    res.write('a');
    res.end('b');
    try {
      res.setHeader('x-late', '1');
    } catch (error) {
      afterEnd = (error as { code?: string }).code;
    }
  });
  try {
    const response = await fetch(server.base);
    assert.equal(response.status, 201);
    assert.equal(await response.text(), 'ab');
    assert.equal(response.headers.get('x-a'), null);
    assert.equal(response.headers.get('x-b'), '2');
    assert.equal(response.headers.get('x-c'), '3');
    assert.equal(sentAfterWriteHead, true);
    assert.equal(afterEnd, 'ERR_HTTP_HEADERS_SENT');
  } finally {
    server.close();
  }
});
