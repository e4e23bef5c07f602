// examples/next in Chromium (`npm run test:e2e`), on Next.js 16 and on Next.js 15: latchkey is built
// (npm run build), the example is built once per Next version with `next build` and started twice with
// `next start`, in cookie mode and in store mode (Redis on 127.0.0.1:6379), each on a free loopback
// port. Every request is a real one from Debian's Chromium, driven by playwright-core. Needs
// @types/react (next build type-checks the example); CI=1 keeps next build from installing anything.
//
// Next 15 (devDependency `next15`, an npm alias of next@15) builds a copy of the example in
// .e2e-next15/ at the repository root (git-ignored): the same app/ and lib/, proxy.ts turned into
// Next 15's middleware.ts (`export const middleware`, on the Node.js runtime, as docs/guides/next.md
// says), and node_modules/next a hard-linked copy of the alias, so that Next's requests for itself
// (`next/dist/...`) find version 15. Inside the repository, `latchkey` resolves as in examples/next.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Browser, chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));
const example = join(root, 'examples', 'next');
const CHROMIUM = '/usr/bin/chromium';
const keys = `k1:${randomBytes(32).toString('base64url')}`;
const prefix = `lk-e2e-next:${randomBytes(6).toString('hex')}:`;
const baseEnv = { ...process.env, CI: '1', NEXT_TELEMETRY_DISABLED: '1', LATCHKEY_KEYS: keys };

interface App {
  child: ChildProcess;
  url: string;
  output: () => string;
}
const apps: App[] = [];
let browser: Browser;

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, env: baseEnv, encoding: 'utf8', timeout: 600_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

interface NextVersion {
  name: string;
  /** The app directory `next build` and `next start` run in. */
  dir: string;
  bin: string;
  /** Makes `dir` (Next 15's copy); Next 16 builds examples/next itself. */
  prepare?: () => void;
}

const next15Dir = join(root, '.e2e-next15');
const versions: NextVersion[] = [
  { name: 'Next.js 16', dir: example, bin: join(root, 'node_modules', 'next', 'dist', 'bin', 'next') },
  {
    name: 'Next.js 15',
    dir: next15Dir,
    bin: join(next15Dir, 'node_modules', 'next', 'dist', 'bin', 'next'),
    prepare() {
      rmSync(next15Dir, { recursive: true, force: true });
      mkdirSync(join(next15Dir, 'node_modules'), { recursive: true });
      for (const part of ['app', 'lib', 'tsconfig.json']) {
        cpSync(join(example, part), join(next15Dir, part), { recursive: true });
      }
      const proxy = readFileSync(join(example, 'proxy.ts'), 'utf8');
      const middleware = proxy
        .replace('export const proxy = ', 'export const middleware = ')
        .replace('export const config = {', "export const config = {\n  runtime: 'nodejs',");
      assert.notEqual(middleware, proxy, 'proxy.ts has the shape this test rewrites');
      writeFileSync(join(next15Dir, 'middleware.ts'), middleware);
      writeFileSync(
        join(next15Dir, 'next.config.mjs'),
        "export default { serverExternalPackages: ['ioredis'], outputFileTracingRoot: new URL('..', import.meta.url).pathname };\n",
      );
      // A hard-linked copy (cheap, same files): Next requires itself by name from its own directory.
      run('cp', ['-al', join(root, 'node_modules', 'next15'), join(next15Dir, 'node_modules', 'next')], root);
      const version = JSON.parse(
        readFileSync(join(next15Dir, 'node_modules', 'next', 'package.json'), 'utf8'),
      );
      assert.match(version.version, /^15\./);
    },
  },
];

async function start(version: NextVersion, mode: 'cookie' | 'redis'): Promise<App> {
  const port = await freePort();
  const child = spawn(process.execPath, [version.bin, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: version.dir,
    env: {
      ...baseEnv,
      LATCHKEY_STORE: mode === 'redis' ? 'redis' : '',
      LATCHKEY_PREFIX: prefix,
      LATCHKEY_TOUCH_AFTER: '1s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const app = { child, url: `http://localhost:${port}`, output: () => output };
  apps.push(app);
  const deadline = Date.now() + 30_000;
  while (!/Ready in/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`next start failed:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return app;
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}`);
  run('npm', ['run', 'build'], root);
  for (const version of versions) {
    version.prepare?.();
    run(process.execPath, [version.bin, 'build'], version.dir);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  for (const { child } of apps) {
    if (child.pid !== undefined && child.exitCode === null) {
      const exited = once(child, 'exit');
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
  }
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  await redis.connect();
  const left = await redis.keys(`${prefix}*`);
  if (left.length > 0) await redis.del(...left);
  await redis.quit();
  rmSync(next15Dir, { recursive: true, force: true });
});

for (const version of versions)
  for (const mode of ['cookie', 'redis'] as const) {
    describe(`examples/next on ${version.name} in ${mode} mode`, () => {
      test('guard, sign in by Server Action, Server Component read, proxy refresh, Server Component write error, sign out', {
        timeout: 60_000,
      }, async () => {
        const app = await start(version, mode);
        const context = await browser.newContext();
        const page = await context.newPage();
        try {
          // The proxy guards /account: no session, back to the sign-in page.
          await page.goto(`${app.url}/account`);
          assert.equal(new URL(page.url()).pathname, '/');

          await page.fill('#user-name', 'ada');
          await page.fill('#password', 'password');
          await Promise.all([page.waitForURL(`${app.url}/account`), page.click('#sign-in')]);
          assert.equal(await page.textContent('#user'), 'ada', 'the Server Component shows the user');
          const cookie = (await context.cookies(app.url)).find((c) => c.name === '__Host-lk');
          assert.ok(cookie, 'the session cookie is set');
          assert.equal(cookie.httpOnly, true);
          if (mode === 'redis') assert.doesNotMatch(cookie.value, /^v1\./, 'store mode: a token only');
          else assert.match(cookie.value, /^v1\./, 'cookie mode: the sealed session');
          const firstActive = Number(await page.textContent('#last-active'));

          // Past touchAfter (1 s), the proxy renews the session: the next page shows the later activity.
          await new Promise((resolve) => setTimeout(resolve, 1500));
          const [response] = await Promise.all([page.waitForResponse(`${app.url}/account`), page.reload()]);
          if (mode === 'cookie') {
            assert.match((await response.allHeaders())['set-cookie'] ?? '', /__Host-lk=v1\./);
            const renewed = (await context.cookies(app.url)).find((c) => c.name === '__Host-lk');
            assert.notEqual(renewed?.value, cookie.value, 'a fresh cookie');
          }
          await page.reload();
          const renewedActive = Number(await page.textContent('#last-active'));
          assert.ok(renewedActive > firstActive, `last active ${firstActive} → ${renewedActive}`);

          // A write in a Server Component: the coded error, shown by the error boundary and logged.
          await page.goto(`${app.url}/write-in-component`);
          await page.waitForSelector('#write-error');
          const digest = (await page.textContent('#digest')) ?? '';
          assert.match(app.output(), /ERR_LATCHKEY_STATE|Server Component cannot write the session/);
          assert.ok(digest === '' || app.output().includes(digest), 'the log names the same digest');
          await page.goto(`${app.url}/account`);
          assert.equal(await page.textContent('#user'), 'ada', 'the failed write changed nothing');

          await Promise.all([page.waitForURL(`${app.url}/`), page.click('#sign-out')]);
          await page.waitForSelector('#sign-in');
          assert.equal(
            (await context.cookies(app.url)).some((c) => c.name === '__Host-lk'),
            false,
            'signed out: the cookie is gone',
          );
          await page.goto(`${app.url}/account`);
          assert.equal(new URL(page.url()).pathname, '/', 'guarded again');
        } finally {
          await context.close();
        }
      });
    });
  }
