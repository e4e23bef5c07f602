import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { listen } from '../../test/scenarios/apps/serve.ts';
import type { Session } from '../core/session.ts';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { withSession } from './node.ts';

type Data = { visits: number; blob: string };
const routes: Record<string, (req: IncomingMessage, res: ServerResponse, s: Session<Data>) => unknown> = {
  '/': (_req, res, s) => {
    s.set('visits', (s.get('visits') ?? 0) + 1);
    res.end(String(s.get('visits')));
  },
  '/peek': (req, res, s) => {
    const cookieLines = req.rawHeaders.filter(
      (_, i) => i % 2 === 0 && req.rawHeaders[i]?.toLowerCase() === 'cookie',
    );
    res.end(`${s.get('visits') ?? 0} (${cookieLines.length} Cookie lines)`);
  },
  // writeHead with headers of its own: ours must survive them.
  '/head': (_req, res, s) => {
    s.set('visits', 7);
    res.writeHead(200, {
      'set-cookie': 'theme=dark; Path=/',
      'cache-control': 'public, max-age=60',
      vary: 'Accept',
    });
    res.end('ok');
  },
  '/stream': async (_req, res, s) => {
    s.set('visits', 5);
    res.write('part one, ');
    await new Promise((resolve) => setTimeout(resolve, 5));
    res.end('part two');
  },
  '/throw': () => {
    throw new Error('handler bug');
  },
  '/reject': async () => {
    await Promise.resolve();
    throw new Error('async handler bug');
  },
  '/huge': (_req, res, s) => {
    s.set('blob', 'q'.repeat(60_000));
    res.end('never sent');
  },
  '/later': (_req, res, s) => {
    s.set('blob', 'q'.repeat(60_000));
    setImmediate(() => res.end('never sent'));
  },
  '/throw-after-end': (_req, res, s) => {
    s.set('visits', 1);
    res.end('ok');
    throw new Error('bug after the response');
  },
  '/reject-after-end': async (_req, res) => {
    res.end('ok');
    await Promise.resolve();
    throw new Error('async bug after the response');
  },
  '/set-then-throw': (_req, _res, s) => {
    s.set('visits', 1000);
    throw new Error('half-done');
  },
  '/content-length': (_req, res, s) => {
    s.set('blob', 'q'.repeat(60_000));
    res.writeHead(200, { 'content-length': '2', location: '/elsewhere' });
    res.end('ok');
  },
  '/late-change': async (_req, res, s) => {
    res.writeHead(200);
    await s.destroy();
    res.end();
  },
  '/after-end': (_req, res, s) => {
    res.end('done');
    s.set('visits', 99);
  },
  '/flat': (_req, res, s) => {
    s.set('visits', 1);
    res.writeHead(200, ['Link', '</a>; rel=preload', 'Link', '</b>; rel=preload', 'Set-Cookie', 'x=1']);
    res.end();
  },
  '/logout': async (_req, res, s) => {
    await s.destroy();
    res.writeHead(303, 'See Other', { location: '/' });
    res.end();
  },
};

let base = '';
const server = createServer(
  withSession(
    createSessions<Data>({ keys: generateKeyLine('k1') }),
    (req, res, session) => {
      const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
      return route ? route(req, res, session) : res.writeHead(404).end();
    },
    {},
  ),
);

type Reply = { status: number; headers: IncomingMessage['headers']; body: string };

/** A request whose header arrays go out as repeated header lines (two `Cookie:` lines, say). */
function send(url: string, headers: Record<string, string | string[]>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers });
    req.on('response', async (res) => {
      let body = '';
      for await (const chunk of res) body += chunk;
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
    });
    req.on('error', reject);
    req.end();
  });
}

const sessionPair = (setCookie: string[] | undefined) =>
  (setCookie ?? []).map((l) => l.split(';')[0]!).join('; ');

describe('latchkey/node withSession', () => {
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  test('checklist #15: over plain HTTP without trustProxy, X-Forwarded-Proto is ignored and no cookie is sent', async () => {
    const first = await send(`${base}/`, { 'x-forwarded-proto': 'https' });
    assert.equal(first.body, '1');
    assert.equal(first.headers['set-cookie'], undefined);
  });
});

describe('latchkey/node over HTTPS-equivalent transport', () => {
  const trusted = createServer(
    withSession(
      createSessions<Data>({ keys: generateKeyLine('k1'), trustProxy: true }),
      (req, res, session) => {
        const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
        return route ? route(req, res, session) : res.writeHead(404).end();
      },
    ),
  );
  let origin = '';
  const call = (path: string, headers: Record<string, string | string[]> = {}) =>
    send(`${origin}${path}`, { 'x-forwarded-proto': 'https', ...headers });
  before(async () => {
    trusted.listen(0, '127.0.0.1');
    await once(trusted, 'listening');
    origin = `http://127.0.0.1:${(trusted.address() as AddressInfo).port}`;
  });
  after(() => trusted.close());

  test('counts visits; checklist #57: Cache-Control no-store and Vary: Cookie on the Set-Cookie response', async () => {
    const first = await call('/');
    assert.equal(first.body, '1');
    assert.equal(first.headers['set-cookie']?.length, 1);
    assert.match(
      first.headers['set-cookie']?.[0] ?? '',
      /^__Host-lk=v1\.k1\.[\w-]+; Path=\/; Secure; HttpOnly; SameSite=Lax$/,
    );
    assert.equal(first.headers['cache-control'], 'no-store');
    assert.equal(first.headers.vary, 'Cookie');
    const second = await call('/', { cookie: sessionPair(first.headers['set-cookie']) });
    assert.equal(second.body, '2');
  });

  test("headers passed to writeHead keep the app's Set-Cookie and ours, and no-store wins", async () => {
    const response = await call('/head');
    const lines = response.headers['set-cookie'] ?? [];
    assert.equal(lines.length, 2);
    assert.equal(lines[0], 'theme=dark; Path=/');
    assert.match(lines[1]!, /^__Host-lk=v1\./);
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers.vary, 'Accept, Cookie');
  });

  test('a streamed response commits before its first byte', async () => {
    const response = await call('/stream');
    assert.equal(response.body, 'part one, part two');
    assert.equal(response.headers['set-cookie']?.length, 1);
  });

  test('checklist #22: two Cookie headers are read like one joined header', async () => {
    const first = await call('/');
    const pair = sessionPair(first.headers['set-cookie']);
    // node's HTTP client folds a cookie array into one line, so send two lines over a raw socket.
    const port = new URL(origin).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.end(
          `GET /peek HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nCookie: theme=dark\r\nCookie: ${pair}\r\nConnection: close\r\n\r\n`,
        );
      });
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    const split = { body: raw.slice(raw.indexOf('\r\n\r\n') + 4) };
    assert.equal(split.body, '1 (2 Cookie lines)');
    const joined = await call('/peek', { cookie: `theme=dark; ${pair}` });
    assert.equal(joined.body, '1 (1 Cookie lines)');
  });

  test('checklist #48: handler errors and oversized sessions give a bare 500; the process lives on', async (t) => {
    t.mock.method(console, 'error', () => {});
    for (const path of ['/throw', '/reject', '/huge']) {
      const response = await call(path);
      assert.equal(response.status, 500, path);
      assert.equal(
        response.body,
        path === '/huge' ? 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)' : 'Internal Server Error',
        path,
      );
      assert.equal(response.headers['set-cookie'], undefined);
    }
    assert.equal((await call('/')).status, 200);
  });

  test('checklist #48: a commit failure in a later callback gives a clean 500, not a crash', async (t) => {
    t.mock.method(console, 'error', () => {});
    const late = await call('/later');
    assert.equal(late.status, 500);
    assert.equal(late.body, 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
    const clean = await call('/content-length');
    assert.equal(clean.status, 500);
    assert.equal(clean.body, 'Internal Server Error (ERR_LATCHKEY_TOO_LARGE)');
    assert.notEqual(clean.headers['content-length'], '2', "the handler's Content-Length is gone");
    assert.equal(clean.headers.location, undefined, "the handler's headers are gone");
    assert.equal((await call('/')).status, 200);
  });

  test('an error after the response has ended is reported, and the response stays whole', async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    for (const path of ['/throw-after-end', '/reject-after-end']) {
      const response = await call(path);
      assert.equal(response.status, 200, path);
      assert.equal(response.body, 'ok');
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(logged.mock.callCount(), 2);
  });

  test('a handler that throws commits nothing: the 500 carries no half-made session', async (t) => {
    t.mock.method(console, 'error', () => {});
    const response = await call('/set-then-throw');
    assert.equal(response.status, 500);
    assert.equal(response.headers['set-cookie'], undefined);
  });

  test('a change after writeHead but before end still reaches the response (headers are held)', async () => {
    const first = await call('/');
    const out = await call('/late-change', { cookie: sessionPair(first.headers['set-cookie']) });
    assert.equal(out.status, 200);
    assert.match(out.headers['set-cookie']?.[0] ?? '', /^__Host-lk=; .*Max-Age=0/);
  });

  test('changing the session after end() is a loud ERR_LATCHKEY_STATE, not a silent loss', async (t) => {
    const logged = t.mock.method(console, 'error', () => {});
    const response = await call('/after-end');
    assert.equal(response.body, 'done');
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.match(String(logged.mock.calls[0]?.arguments[0]), /ERR_LATCHKEY_STATE/);
  });

  test('repeated headers in a flat writeHead array are all kept', async () => {
    const response = await call('/flat');
    assert.equal(response.headers.link, '</a>; rel=preload, </b>; rel=preload');
    assert.equal(response.headers['set-cookie']?.[0], 'x=1');
    assert.match(response.headers['set-cookie']?.[1] ?? '', /^__Host-lk=/);
  });

  test('an async onError that rejects does not crash the process', async () => {
    const server = createServer(
      withSession(
        createSessions({ keys: generateKeyLine('k1') }),
        () => {
          throw new Error('handler bug');
        },
        {
          onError: async (_error, _req, res) => {
            res.statusCode = 418;
            res.end('custom');
            throw new Error('the error handler has a bug too');
          },
        },
      ),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (error: unknown) => errors.push(error);
    try {
      const response = await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {});
      assert.equal(response.status, 418);
      await new Promise((resolve) => setImmediate(resolve));
      assert.match(String(errors[0]), /the error handler has a bug too/);
    } finally {
      console.error = original;
      server.close();
    }
  });

  test('checklist #30: logout with writeHead(status, message, headers) clears the cookie', async () => {
    const first = await call('/');
    const out = await call('/logout', { cookie: sessionPair(first.headers['set-cookie']) });
    assert.equal(out.status, 303);
    assert.equal(out.headers.location, '/');
    assert.match(
      out.headers['set-cookie']?.[0] ?? '',
      /^__Host-lk=; Path=\/; Max-Age=0; Expires=Thu, 01 Jan 1970/,
    );
  });
});

describe('withSession: the response hold', () => {
  test('two session managers on one response (nested withSession) each commit their own cookie', async () => {
    const first = createSessions<{ a: number }>({
      keys: generateKeyLine('k1'),
      development: true,
      cookie: { name: 'first' },
    });
    const second = createSessions<{ b: number }>({
      keys: generateKeyLine('k2'),
      development: true,
      cookie: { name: 'second' },
    });
    const server = await listen(
      withSession(first, (req, res, outer) => {
        outer.set('a', (outer.get('a') ?? 0) + 1);
        return withSession(second, (_req, response, inner) => {
          inner.set('b', (inner.get('b') ?? 0) + 10);
          response.end(`${outer.get('a')} ${inner.get('b')}`);
        })(req, res);
      }),
    );
    const url = `${server.url}/`;
    try {
      const one = await fetch(url);
      const cookies = one.headers.getSetCookie().map((line) => line.split(';')[0]);
      assert.deepEqual(cookies.map((pair) => pair?.split('=')[0]).sort(), ['first', 'second']);
      const two = await fetch(url, { headers: { cookie: cookies.join('; ') } });
      assert.equal(await two.text(), '2 20');
    } finally {
      await server.close();
    }
  });

  test('a method patched on ServerResponse.prototype after the first request is used (APM agents do this)', async () => {
    const sessions = createSessions<{ n: number }>({ keys: generateKeyLine('k1'), development: true });
    const server = await listen(
      withSession(sessions, (_req, res, session) => {
        session.set('n', 1);
        res.end('ok');
      }),
    );
    const url = `${server.url}/`;
    const end = ServerResponse.prototype.end;
    let calls = 0;
    try {
      await (await fetch(url)).text();
      ServerResponse.prototype.end = function (this: ServerResponse, ...args: unknown[]) {
        calls++;
        return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
      } as typeof end;
      const reply = await fetch(url);
      assert.equal(await reply.text(), 'ok');
      assert.equal(reply.headers.getSetCookie().length, 1);
      assert.ok(calls >= 1, 'the patched end ran');
    } finally {
      ServerResponse.prototype.end = end;
      await server.close();
    }
  });
});
