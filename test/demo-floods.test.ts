/**
 * Issue 14 §2 against the demo app (examples/demo/app.ts) on a real server and a real fs store, the
 * store `npm start` uses: cookieless requests cost no record (checklist #35), and a flood of sign-ins
 * from one client is held to the demo's creation limit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createDemo } from '../examples/demo/app.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { fsStore } from '../src/stores/fs.ts';

const dirs: string[] = [];
const servers: Server[] = [];
after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The records an fs store holds: `<dir>/sessions/<shard>/<hex>.json`. */
function recordsIn(dir: string): number {
  let count = 0;
  const sessions = join(dir, 'sessions');
  let shards: string[] = [];
  try {
    shards = readdirSync(sessions);
  } catch {
    return 0; // no session was ever written
  }
  for (const shard of shards) {
    count += readdirSync(join(sessions, shard)).filter((name) => /^[0-9a-f]{64}\.json$/.test(name)).length;
  }
  return count;
}

async function startDemo() {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-demo-floods-'));
  dirs.push(dir);
  const { handler, sessions } = createDemo({
    keys: generateKeyLine('k1'),
    development: true,
    store: fsStore({ dir }),
  });
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { dir, url, sessions };
}

describe('the demo under a flood (issue 14 §2)', () => {
  test('10,000 cookieless requests create no store record', async () => {
    const demo = await startDemo();
    const total = 10_000;
    let next = 0;
    let csrfCookies = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const response = await fetch(`${demo.url}/`);
        const page = await response.text();
        assert.equal(response.status, 200);
        assert.match(page, /name="_csrf" value="[A-Za-z0-9_-]{86}"/, 'the page still has a CSRF token');
        const lines = response.headers.getSetCookie();
        assert.equal(
          lines.some((line) => line.startsWith('lk=')),
          false,
          'no session token',
        );
        if (lines.some((line) => line.startsWith('lk.csrf='))) csrfCookies++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    assert.equal(csrfCookies, total, 'each visitor gets its secret in a sealed cookie');
    assert.equal(recordsIn(demo.dir), 0);

    // The anonymous form works: a failed sign-in (its notice is worth keeping) makes the first record.
    const home = await fetch(`${demo.url}/`);
    const token = /name="_csrf" value="([^"]+)"/.exec(await home.text())?.[1] ?? '';
    const cookie = home.headers.getSetCookie()[0]!.split(';')[0]!;
    const login = await fetch(`${demo.url}/login`, {
      method: 'POST',
      headers: { cookie, origin: demo.url },
      body: new URLSearchParams({ username: 'ada', _csrf: token }),
      redirect: 'manual',
    });
    assert.equal(login.status, 303);
    assert.equal(recordsIn(demo.dir), 1, 'a sign-in is a record');
  });

  test('a flood of sign-ins from one client is held to the demo’s rate (10 a minute): 429, no record', async (t) => {
    t.mock.method(console, 'error', () => {});
    const demo = await startDemo();
    const home = await fetch(`${demo.url}/`);
    const token = /name="_csrf" value="([^"]+)"/.exec(await home.text())?.[1] ?? '';
    const cookie = home.headers.getSetCookie()[0]!.split(';')[0]!;
    const startedAt = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${demo.url}/login`, {
        method: 'POST',
        headers: { cookie, origin: demo.url },
        body: new URLSearchParams({ username: `flood${i}`, _csrf: token }),
        redirect: 'manual',
      });
      statuses.push(response.status);
      if (response.status === 429) {
        const retryAfter = Number(response.headers.get('retry-after'));
        assert.ok(retryAfter >= 1 && retryAfter <= 6, `Retry-After ${retryAfter}`);
        assert.equal(await response.text(), 'Too Many Requests (ERR_LATCHKEY_RATE_LIMITED)');
        assert.deepEqual(response.headers.getSetCookie(), []);
      } else {
        assert.equal(response.status, 303);
        await response.body?.cancel();
      }
    }
    // The burst of 10, plus one for every 6 s the flood took.
    const allowance = 10 + Math.floor((Date.now() - startedAt) / 6000);
    const signedIn = statuses.filter((status) => status === 303).length;
    assert.ok(signedIn >= 10 && signedIn <= allowance, `${signedIn} sign-ins, allowance ${allowance}`);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(303));
    assert.equal(recordsIn(demo.dir), signedIn, 'a refused sign-in writes nothing');
    await demo.sessions.close();
  });
});
