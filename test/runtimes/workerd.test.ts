// Latchkey inside workerd (node_modules/.bin/workerd), bundled with esbuild: cookie mode through
// latchkey/fetch with CSRF, with nodejs_compat (node:crypto, the synchronous path) and without it
// (WebCrypto only, the asynchronous path); and values sealed on Node open in workerd and back.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { createKeyring } from '../../src/crypto/keyring.ts';
import { openValue, sealValue } from '../../src/crypto/seal.ts';
import { CookieJar } from '../support/cookies.ts';
import { freePort } from '../support/ports.ts';
import { srcAliases } from './src-alias.ts';
import { workerdConfig } from './workerd-config.ts';

const WORKERD = new URL('../../node_modules/.bin/workerd', import.meta.url).pathname;
const keyHex = randomBytes(32).toString('hex');
const keyring = createKeyring([{ kid: 'k1', key: new Uint8Array(Buffer.from(keyHex, 'hex')) }]);
const dir = mkdtempSync(join(tmpdir(), 'latchkey-workerd-'));

async function startWorkerd(compat: boolean): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const config = join(dir, `config-${compat}.capnp`);
  writeFileSync(
    config,
    workerdConfig({ port, module: 'worker.js', bindings: { KEY_HEX: keyHex }, nodejsCompat: compat }),
  );
  const child = spawn(WORKERD, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${base}/backend`);
      return { child, base };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  child.kill();
  throw new Error('workerd did not start');
}

before(async () => {
  await build({
    entryPoints: [new URL('./worker-app.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    alias: srcAliases(),
    outfile: join(dir, 'worker.js'),
    logLevel: 'error',
  });
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const compat of [true, false]) {
  describe(`workerd ${compat ? 'with' : 'without'} nodejs_compat`, () => {
    let server: { child: ChildProcess; base: string };
    before(async () => {
      server = await startWorkerd(compat);
    });
    after(() => {
      server.child.kill();
    });

    test(`takes the ${compat ? 'synchronous node:crypto' : 'asynchronous WebCrypto'} backend`, async () => {
      const body = (await (await fetch(`${server.base}/backend`)).json()) as { synchronous: boolean };
      assert.equal(body.synchronous, compat);
    });

    test('the counter increments across requests and CSRF accepts its token, refuses a forged one', async () => {
      const jar = new CookieJar();
      let token = '';
      for (let visits = 1; visits <= 3; visits++) {
        const cookie = jar.header();
        const response = await fetch(`${server.base}/`, { headers: cookie ? { cookie } : {} });
        jar.apply(response.headers.getSetCookie());
        const body = (await response.json()) as { visits: number; token: string };
        assert.equal(body.visits, visits);
        token = body.token;
      }
      const post = (csrfToken: string, origin = server.base.replace('http:', 'https:')) =>
        fetch(`${server.base}/`, {
          method: 'POST',
          headers: { cookie: jar.header() ?? '', origin, 'x-csrf-token': csrfToken },
        });
      const accepted = await post(token);
      assert.equal(accepted.status, 200, await accepted.text());
      assert.equal(
        (await post(`${token.slice(0, -6)}${token.at(-6) === 'A' ? 'B' : 'A'}${token.slice(-5)}`)).status,
        403,
      );
      assert.equal((await post(token, 'https://evil.example')).status, 403);
    });

    test("latchkey/fetch's getSession (iron-session's shape) counts across requests", async () => {
      const jar = new CookieJar();
      for (let visits = 1; visits <= 2; visits++) {
        const cookie = jar.header();
        const response = await fetch(`${server.base}/iron`, { headers: cookie ? { cookie } : {} });
        jar.apply(response.headers.getSetCookie());
        assert.deepEqual(await response.json(), { visits });
      }
    });

    test('a value sealed on Node opens here, and one sealed here opens on Node', async () => {
      const fromNode = sealValue(keyring, 'cookie', 'vector', 'sealed on node');
      assert.equal(
        await (await fetch(`${server.base}/open`, { method: 'POST', body: fromNode })).text(),
        'sealed on node',
      );
      const tampered = `${fromNode.slice(0, -6)}${fromNode.at(-6) === 'A' ? 'B' : 'A'}${fromNode.slice(-5)}`;
      assert.match(
        await (await fetch(`${server.base}/open`, { method: 'POST', body: tampered })).text(),
        /^failed/,
      );
      const fromWorkerd = await (
        await fetch(`${server.base}/seal`, { method: 'POST', body: 'sealed in workerd' })
      ).text();
      const opened = openValue(keyring, 'cookie', 'vector', fromWorkerd);
      assert.equal(opened.ok && new TextDecoder().decode(opened.plaintext), 'sealed in workerd');
    });
  });
}
