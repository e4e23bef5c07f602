/**
 * The package as a user gets it: `npm pack`, the tarball installed into an empty project (offline: no
 * runtime dependencies), the README's node:http quick-start pasted in (its port swapped for a free
 * one), run on http://localhost with keys from `latchkey keygen` and no other option, and Chromium
 * counting visits; the quick-starts compile under strict tsc with nodenext and bundler resolution; and
 * from CommonJS, an Express app built on require('latchkey/express') counts visits, and a .cts file that
 * requires it type-checks.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));
const project = mkdtempSync(join(tmpdir(), 'latchkey-pack-'));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The ```ts block under a README heading. */
function quickStart(heading: string): string {
  const section = readme.slice(readme.indexOf(`## ${heading}`));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match, heading);
  return match[1]!;
}

function run(cmd: string, args: string[]) {
  return execFileSync(cmd, args, { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('the packed tarball in an empty project', () => {
  before(() => {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe' });
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', project], { cwd: root, encoding: 'utf8' }),
    );
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module' }),
    );
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', `./${packed.filename}`]);
    // The peers and tools the snippets use, from the repository's install.
    for (const name of [
      'typescript',
      '@types/node',
      'undici-types',
      'express',
      '@types/express',
      'fastify',
    ]) {
      const link = join(project, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), link, 'dir');
    }
  });
  after(() => rmSync(project, { recursive: true, force: true }));

  test('the node:http quick-start signs in a browser and counts visits on http://localhost', async () => {
    const port = 40_000 + (process.pid % 20_000);
    writeFileSync(
      join(project, 'server.mts'),
      quickStart('Quick start: node:http').replace('3000', String(port)),
    );
    const keys = run(process.execPath, [
      'node_modules/latchkey/dist/cli/bin.js',
      'keygen',
      '--kid',
      'k1',
    ]).trim();
    const child = spawn(
      process.execPath,
      ['--import', join(root, 'node_modules/tsx/dist/loader.mjs'), 'server.mts'],
      {
        cwd: project,
        env: { ...process.env, LATCHKEY_KEYS: keys, NODE_ENV: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stderr.on('data', (c) => {
      output += c;
    });
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox'],
    });
    try {
      const page = await (await browser.newContext()).newPage();
      let first = '';
      for (let i = 0; i < 50 && first === ''; i++) {
        try {
          await page.goto(`http://localhost:${port}/`);
          first = (await page.textContent('body')) ?? '';
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.equal(first.trim(), 'You have been here 1 times.', output);
      await page.goto(`http://localhost:${port}/`);
      // Chromium's favicon request counts a visit too: the count grows, so the cookie came back.
      const second = /You have been here (\d+) times\./.exec((await page.textContent('body')) ?? '');
      assert.ok(Number(second?.[1]) >= 2, output);
      const cookies = await page.context().cookies();
      assert.equal(cookies[0]?.name, '__Host-lk');
      assert.equal(cookies[0]?.secure, true);
    } finally {
      await browser.close();
      child.kill();
    }
  });

  for (const resolution of ['nodenext', 'bundler'] as const) {
    test(`the quick-starts compile under strict tsc (moduleResolution ${resolution})`, () => {
      writeFileSync(join(project, 'a.mts'), quickStart('Quick start: node:http'));
      writeFileSync(join(project, 'b.mts'), quickStart('Quick start: Fetch'));
      const module = resolution === 'bundler' ? 'preserve' : 'nodenext';
      const tsc = spawnSync(
        process.execPath,
        [
          'node_modules/typescript/bin/tsc',
          '--noEmit',
          '--strict',
          '--target',
          'es2022',
          '--types',
          'node',
          '--lib',
          'es2023,dom',
          '--module',
          module,
          '--moduleResolution',
          resolution,
          'a.mts',
          'b.mts',
        ],
        { cwd: project, encoding: 'utf8' },
      );
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    });
  }

  test("require('latchkey/express') from CommonJS: an Express app counts visits", async () => {
    writeFileSync(
      join(project, 'server.cjs'),
      `const express = require('express');
const session = require('latchkey/express');
const shape = [typeof session, typeof session.Store, typeof session.MemoryStore, typeof session.Session,
  typeof session.Cookie, new session.MemoryStore() instanceof session.Store, session.default === session];
const app = express();
app.use(session({ keys: process.env.LATCHKEY_KEYS }));
app.get('/', (req, res) => {
  req.session.views = (req.session.views || 0) + 1;
  res.send('views: ' + req.session.views);
});
const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port, shape })));
`,
    );
    const keys = run(process.execPath, ['node_modules/latchkey/dist/cli/bin.js', 'keygen']).trim();
    const child = spawn(process.execPath, ['server.cjs'], {
      cwd: project,
      env: { ...process.env, LATCHKEY_KEYS: keys, NODE_ENV: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let errors = '';
    child.stderr.on('data', (c) => {
      errors += c;
    });
    try {
      const started = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (c) => resolve(String(c)));
        child.once('exit', (code) => reject(new Error(`server.cjs exited (${code}): ${errors}`)));
      });
      const { port, shape } = JSON.parse(started);
      assert.deepEqual(shape, ['function', 'function', 'function', 'function', 'function', true, true]);
      const visit = (cookie?: string) =>
        fetch(`http://localhost:${port}/`, cookie === undefined ? {} : { headers: { cookie } });
      const first = await visit();
      assert.equal(await first.text(), 'views: 1', errors);
      const cookie = first.headers.getSetCookie()[0]?.split(';')[0];
      assert.match(cookie ?? '', /^__Host-lk=v1\./);
      const second = await visit(cookie);
      assert.equal(await second.text(), 'views: 2', errors);
      assert.equal(errors, '', 'no warning (require(esm) is not experimental on Node 20.19+)');
    } finally {
      child.kill();
    }
  });

  // TypeScript's `module: nodenext` (5.8+) models require(esm), as Node 20.19+ does; `node16` models
  // Node 16, which could not require ESM, and needs skipLibCheck (README, "CommonJS").
  test('CommonJS TypeScript (.cts, module nodenext) type-checks an Express app on require(latchkey/express)', () => {
    writeFileSync(
      join(project, 'c.cts'),
      `import express = require('express');
import session = require('latchkey/express');
import fastifySession = require('latchkey/fastify');
import { createSessions } from 'latchkey';
const options: session.ExpressSessionOptions = { keys: process.env.LATCHKEY_KEYS ?? '' };
const store: session.Store = new session.MemoryStore();
const app = express();
app.use(session(options));
app.get('/', (req, res) => {
  const views: number = req.session.views ?? 0; // SessionData, augmented in types.d.mts
  req.session.views = views + 1;
  res.send(String(views));
});
export const parts = [store, session.csrf(), fastifySession.csrfProtection, createSessions];
// @ts-expect-error: a number is no options object
session(1);
`,
    );
    writeFileSync(
      join(project, 'types.d.mts'),
      "declare module 'latchkey/express' { interface SessionData { views: number } }\nexport {};\n",
    );
    const tsc = spawnSync(
      process.execPath,
      [
        'node_modules/typescript/bin/tsc',
        '--noEmit',
        '--strict',
        '--target',
        'es2022',
        '--types',
        'node',
        '--lib',
        'es2023,dom',
        '--module',
        'nodenext',
        'c.cts',
        'types.d.mts',
      ],
      { cwd: project, encoding: 'utf8' },
    );
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });
});
