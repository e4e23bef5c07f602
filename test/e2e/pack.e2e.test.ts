/**
 * The package as a user gets it: `npm pack`, the tarball installed into an empty project (offline: no
 * runtime dependencies), the README's node:http quick-start pasted in (its port swapped for a free
 * one), run on http://localhost with keys from `latchkey keygen` and no other option, and Chromium
 * counting visits; the quick-starts compile under strict tsc with nodenext and bundler resolution; and
 * require('latchkey/express') from CommonJS once that export has a `require` condition.
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
    for (const name of ['typescript', '@types/node', 'undici-types']) {
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

  test("require('latchkey/express') from CommonJS", (t) => {
    const pkg = JSON.parse(readFileSync(join(project, 'node_modules/latchkey/package.json'), 'utf8'));
    if (!('require' in pkg.exports['./express'])) {
      t.skip("latchkey/express has no 'require' condition yet (the CommonJS wrapper lands with h-express)");
      return;
    }
    writeFileSync(join(project, 'c.cjs'), "console.log(typeof require('latchkey/express').default)");
    assert.equal(run(process.execPath, ['c.cjs']).trim(), 'function');
  });
});
