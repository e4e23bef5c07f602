/**
 * The runtime examples, run where they are meant to run: examples/bun/server.ts under Bun,
 * examples/deno/server.ts under Deno (each on http://localhost with keys and no other option: the
 * loopback rule gives them their Secure cookie), and examples/hono/worker.ts (the Hono example app) in
 * workerd, with and without nodejs_compat, behind a proxy header that makes its URL https as
 * Cloudflare's edge does. Each is bundled with esbuild, `latchkey/*` taken from src/.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { generateKeyLine } from '../../src/crypto/keyring.ts';
import { CookieJar } from '../support/cookies.ts';
import { freePort } from '../support/ports.ts';
import { srcAliases } from './src-alias.ts';
import { workerdConfig } from './workerd-config.ts';

const bin = (name: string) => fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));
const example = (path: string) => fileURLToPath(new URL(`../../examples/${path}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'latchkey-examples-'));
const keys = generateKeyLine('k1');

async function bundle(entry: string, out: string, platform: 'node' | 'neutral'): Promise<string> {
  const outfile = join(dir, out);
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform,
    alias: srcAliases(),
    // Deno and Bun have these built in; workerd gets them from nodejs_compat or does without.
    external: ['node:*'],
    mainFields: ['module', 'main'],
    conditions: platform === 'neutral' ? ['workerd', 'worker', 'browser'] : [],
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

function start(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  return { child, output: () => output };
}

async function waitFor(url: string, server: { child: ChildProcess; output: () => string }): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (server.child.exitCode !== null) assert.fail(`exited ${server.child.exitCode}:\n${server.output()}`);
    try {
      await fetch(url, { method: 'HEAD' });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  assert.fail(`no answer from ${url}:\n${server.output()}`);
}

after(() => rmSync(dir, { recursive: true, force: true }));

for (const runtime of ['bun', 'deno'] as const) {
  describe(`examples/${runtime}/server.ts under ${runtime}`, () => {
    let server: { child: ChildProcess; output: () => string };
    let base: string;
    before(async () => {
      const script = await bundle(example(`${runtime}/server.ts`), `${runtime}-server.mjs`, 'node');
      const port = await freePort();
      base = `http://localhost:${port}`;
      const args =
        runtime === 'bun' ? ['run', script] : ['run', '--quiet', '--allow-net', '--allow-env', script];
      server = start(bin(runtime), args, { LATCHKEY_KEYS: keys, PORT: String(port), NODE_ENV: '' });
      await waitFor(`${base}/`, server);
    });
    after(() => {
      server?.child.kill();
    });

    test('counts visits on http://localhost with a Secure __Host- cookie and no development option', async () => {
      const jar = new CookieJar();
      for (let visits = 1; visits <= 3; visits++) {
        const cookie = jar.header();
        const response = await fetch(`${base}/`, { headers: cookie ? { cookie } : {} });
        const setCookie = response.headers.getSetCookie();
        if (visits === 1) {
          assert.match(setCookie[0] ?? '', /^__Host-lk=.*; Secure/, server.output());
          assert.match(setCookie[0] ?? '', /HttpOnly/);
        }
        jar.apply(setCookie);
        assert.equal(await response.text(), `You have been here ${visits} times.\n`, server.output());
      }
    });

    test('a tampered cookie starts over', async () => {
      const first = await fetch(`${base}/`);
      const [line = ''] = first.headers.getSetCookie();
      const value = line.slice(line.indexOf('=') + 1, line.indexOf(';'));
      const tampered = `${value.slice(0, -4)}${value.at(-4) === 'A' ? 'B' : 'A'}${value.slice(-3)}`;
      const response = await fetch(`${base}/`, { headers: { cookie: `__Host-lk=${tampered}` } });
      assert.equal(await response.text(), 'You have been here 1 times.\n');
    });
  });
}

for (const compat of [true, false]) {
  describe(`examples/hono/worker.ts in workerd ${compat ? 'with' : 'without'} nodejs_compat`, () => {
    let server: { child: ChildProcess; output: () => string };
    let base: string;
    before(async () => {
      await bundle(example('hono/worker.ts'), 'worker.js', 'neutral');
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      const config = join(dir, `hono-${compat}.capnp`);
      // X-Forwarded-Proto stands for Cloudflare's edge: the Worker sees the https URL its users use.
      writeFileSync(
        config,
        workerdConfig({
          port,
          module: 'worker.js',
          bindings: { LATCHKEY_KEYS: keys },
          nodejsCompat: compat,
          forwardedProtoHeader: 'X-Forwarded-Proto',
        }),
      );
      server = start(bin('workerd'), ['serve', config], {});
      await waitFor(`${base}/api/session`, server);
    });
    after(() => {
      server?.child.kill();
    });

    test('signs in through the CSRF-protected form, counts, signs out', async () => {
      const jar = new CookieJar();
      const origin = base.replace('http:', 'https:');
      const send = async (path: string, form?: Record<string, string>) => {
        const cookie = jar.header();
        const response = await fetch(`${base}${path}`, {
          method: form ? 'POST' : 'GET',
          redirect: 'manual',
          headers: {
            'x-forwarded-proto': 'https',
            ...(cookie ? { cookie } : {}),
            ...(form ? { origin, 'content-type': 'application/x-www-form-urlencoded' } : {}),
          },
          ...(form ? { body: new URLSearchParams(form).toString() } : {}),
        });
        jar.apply(response.headers.getSetCookie());
        return response;
      };
      const page = await (await send('/')).text();
      const token = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
      assert.ok(token, `${page}\n${server.output()}`);
      assert.equal((await send('/login', { username: 'ada' })).status, 403); // no token
      const login = await send('/login', { username: 'ada', _csrf: token });
      assert.equal(login.status, 303, server.output());
      assert.ok(jar.get('__Host-lk'), 'the session cookie');
      const signedIn = await (await send('/')).text();
      const after = /name="_csrf" value="([^"]+)"/.exec(signedIn)?.[1];
      assert.ok(after);
      assert.equal((await send('/count', { _csrf: after })).status, 303);
      assert.deepEqual(await (await send('/api/session')).json(), { user: 'ada', count: 1 });
      assert.equal((await send('/logout', { _csrf: after })).status, 303);
      assert.deepEqual(await (await send('/api/session')).json(), { user: null, count: 0 });
    });
  });
}
