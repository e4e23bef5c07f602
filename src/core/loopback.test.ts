import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { withSession as withFetchSession } from '../adapters/fetch.ts';
import { withSession } from '../adapters/node.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import type { SessionEvent } from './events.ts';
import { isLoopbackAddress, isLoopbackHost } from './loopback.ts';
import { createSessions } from './sessions.ts';

const KEYS = generateKeyLine('k1');

/** createSessions with NODE_ENV set as given while it runs (the rule reads it then). */
function sessionsUnder(nodeEnv: string | undefined, events: SessionEvent[] = []) {
  const before = process.env.NODE_ENV;
  if (nodeEnv === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = nodeEnv;
  try {
    return createSessions<{ n: number }>({ keys: KEYS, onEvent: (e) => events.push(e) });
  } finally {
    if (before === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = before;
  }
}

/** A node-shaped request: the headers and a socket with the given peer, as node:http would give. */
function nodeRequest(host: string, remoteAddress: string, extra: Record<string, string> = {}) {
  return { headers: { host, ...extra }, socket: { encrypted: false, remoteAddress } };
}

async function cookieLines(sessions: ReturnType<typeof sessionsUnder>, request: unknown) {
  const session = await sessions.load(request as Parameters<typeof sessions.load>[0]);
  session.set('n', 1);
  return sessions.commit(session);
}

describe('local development over http://localhost (src/core/loopback.ts)', () => {
  test('loopback host names: localhost, *.localhost, 127.0.0.0/8 and [::1], with or without a port', () => {
    for (const host of [
      'localhost',
      'LOCALHOST:3000',
      'app.localhost',
      'a-b.c.localhost:8080',
      '127.0.0.1',
      '127.255.0.9:1',
      '[::1]',
      '[::1]:3000',
    ]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of [
      undefined,
      '',
      'localhost.',
      'localhost.example.com',
      'evil.com',
      'localhostx',
      'a_b.localhost',
      '.localhost',
      '128.0.0.1',
      '127.0.0.256',
      '127.1',
      '0.0.0.0',
      '[::2]',
      '[::1]x',
      'localhost:',
      'localhost:abc',
      '[::ffff:127.0.0.1]',
      '::1',
      '10.0.0.1:3000',
    ]) {
      assert.equal(isLoopbackHost(host), false, String(host));
    }
  });

  test('loopback peers: 127.0.0.0/8, ::1 and IPv4-mapped 127.x; nothing else', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'])
      assert.equal(isLoopbackAddress(address), true, address);
    for (const address of [
      undefined,
      1,
      '',
      '192.0.2.1',
      '::ffff:192.0.2.1',
      'fe80::1',
      '::',
      'localhost',
      '127.0.0.1.evil',
    ]) {
      assert.equal(isLoopbackAddress(address), false, String(address));
    }
  });

  test('a Secure cookie goes out over plain HTTP from a loopback peer to a loopback name', async () => {
    const lines = await cookieLines(sessionsUnder(undefined), nodeRequest('localhost:3000', '127.0.0.1'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^__Host-lk=.*; Secure/);
  });

  test('a spoofed Host: localhost from a non-loopback peer gets no cookie (and the insecure-transport event)', async () => {
    const events: SessionEvent[] = [];
    const sessions = sessionsUnder(undefined, events);
    for (const peer of ['192.0.2.50', '::ffff:192.0.2.50', '2001:db8::1']) {
      assert.deepEqual(await cookieLines(sessions, nodeRequest('localhost', peer)), [], peer);
    }
    assert.equal(events.at(-1)?.type, 'insecure-transport');
  });

  test('a loopback peer with a non-loopback Host (a browser at http://example.com) gets no cookie', async () => {
    assert.deepEqual(
      await cookieLines(sessionsUnder(undefined), nodeRequest('example.com', '127.0.0.1')),
      [],
    );
  });

  test('a request relayed by a proxy on this machine (any proxy header) gets no cookie', async () => {
    const sessions = sessionsUnder(undefined);
    for (const header of [
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
      'forwarded',
      'x-real-ip',
      'via',
    ]) {
      const request = nodeRequest('localhost:3000', '127.0.0.1', { [header]: 'x' });
      assert.deepEqual(await cookieLines(sessions, request), [], header);
    }
  });

  test("NODE_ENV 'production' turns the exception off", async () => {
    assert.deepEqual(
      await cookieLines(sessionsUnder('production'), nodeRequest('localhost', '127.0.0.1')),
      [],
    );
  });

  test('a Fetch Request alone has no known peer: no exception; the peer passed beside it counts', async () => {
    const sessions = sessionsUnder(undefined);
    const request = () => new Request('http://localhost:3000/');
    assert.deepEqual(await cookieLines(sessions, request()), []);
    const handler = withFetchSession(sessions, async (_request, session, _extra: unknown) => {
      session.set('n', 1);
      return new Response('ok');
    });
    const bunLike = { requestIP: () => ({ address: '127.0.0.1' }) };
    const denoLike = { remoteAddr: { hostname: '::1' } };
    const remote = { remoteAddr: { hostname: '192.0.2.9' } };
    assert.equal((await handler(request(), bunLike)).headers.getSetCookie().length, 1, 'Bun.serve');
    assert.equal((await handler(request(), denoLike)).headers.getSetCookie().length, 1, 'Deno.serve');
    assert.equal((await handler(request(), remote)).headers.getSetCookie().length, 0, 'remote peer');
    assert.equal((await handler(request(), {})).headers.getSetCookie().length, 0, 'no peer');
    const spoofed = new Request('http://example.com/', { headers: { host: 'localhost' } });
    assert.equal((await handler(spoofed, denoLike)).headers.getSetCookie().length, 0, 'URL host decides');
  });

  describe('over a real loopback socket', () => {
    const sessions = sessionsUnder(undefined);
    const server = createServer(
      withSession(sessions, (_req, res, session) => {
        session.set('n', (session.get('n') ?? 0) + 1);
        res.end(String(session.get('n')));
      }),
    );
    let port = 0;
    before(async () => {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
    });
    after(() => server.close());

    function get(host: string, cookie?: string) {
      return new Promise<{ body: string; setCookie: string[] }>((resolve, reject) => {
        const headers: Record<string, string> = { host };
        if (cookie !== undefined) headers.cookie = cookie;
        const req = httpRequest({ host: '127.0.0.1', port, path: '/', headers }, (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve({ body, setCookie: res.headers['set-cookie'] ?? [] }));
        });
        req.on('error', reject);
        req.end();
      });
    }

    test('visits count on http://localhost with the default __Host- cookie', async () => {
      const first = await get(`localhost:${port}`);
      assert.equal(first.body, '1');
      assert.equal(first.setCookie.length, 1);
      const second = await get(`localhost:${port}`, first.setCookie[0]!.split(';')[0]);
      assert.equal(second.body, '2');
    });

    test('the same socket with Host: app.example gets no cookie', async () => {
      const response = await get('app.example');
      assert.equal(response.body, '1');
      assert.deepEqual(response.setCookie, []);
    });
  });
});
