import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Run ESM code the way a user's app would: plain node, no tsx, no `source` condition, so `dist/` is used. */
function runAsUser(code: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

describe('the published package', () => {
  before(() => {
    execFileSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: 'pipe' });
  });

  test('every subpath export resolves from dist with types beside it', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const subpaths = Object.keys(pkg.exports).filter((path) => path !== './package.json');
    assert.ok(subpaths.length >= 6);
    const code = `
      const names = ${JSON.stringify(subpaths.map((path: string) => path.replace(/^\./, 'latchkey')))};
      for (const name of names) {
        const mod = await import(name);
        if (Object.keys(mod).length === 0) throw new Error(name + ' exports nothing');
      }
      console.log('ok');`;
    const result = runAsUser(code);
    assert.equal(result.status, 0, result.stderr);
    for (const path of subpaths) {
      const entry = pkg.exports[path];
      assert.match(entry.import.types, /^\.\/dist\/.*\.d\.ts$/);
      assert.match(entry.require.types, /^\.\/dist\/.*\.d\.cts$/);
      for (const file of [entry.import.types, entry.require.types, entry.require.default])
        assert.ok(readFileSync(new URL(`../${file}`, import.meta.url)).length > 0, file);
    }
  });

  test('every subpath export can be required from CommonJS, and is the ESM module', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const names = Object.keys(pkg.exports)
      .filter((path) => path !== './package.json')
      .map((path) => path.replace(/^\./, 'latchkey'));
    // One instance for both (require(esm)): the same classes, so instanceof holds across the two.
    const code = `
      const { createRequire } = await import('node:module');
      const require = createRequire(${JSON.stringify(`${root}/x.cjs`)});
      for (const name of ${JSON.stringify(names)}) {
        const esm = await import(name);
        const cjs = require(name);
        for (const key of Object.keys(esm)) {
          if (key === 'default' ? (cjs !== esm.default && cjs.default !== esm.default) : cjs[key] !== esm[key])
            throw new Error(name + ': ' + key + ' differs');
        }
      }
      console.log('ok');`;
    const result = runAsUser(code);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'ok');
  });

  test("require('latchkey/express') has express-session's shape; require('latchkey/fastify') is the plugin", () => {
    const result = spawnSync(
      process.execPath,
      [
        '--input-type=commonjs',
        '-e',
        `const session = require('latchkey/express');
        const fastify = require('latchkey/fastify');
        const cookieOnly = require('latchkey/express/cookie');
        const store = new session.MemoryStore();
        console.log([
          typeof session, typeof session.session, typeof session.csrf, session.default === session,
          store instanceof session.Store, typeof session.Session, typeof session.Cookie,
          typeof session({ keys: require('latchkey').generateKeyLine('k1') }),
          typeof fastify, fastify.default === fastify, fastify.latchkeySession === fastify,
          typeof fastify.csrfProtection,
          typeof cookieOnly, cookieOnly.Store === session.Store,
          cookieOnly({ keys: require('latchkey').generateKeyLine('k1') }).sessions.mode,
        ].join(' '));`,
      ],
      { cwd: root, encoding: 'utf8' },
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout.trim(),
      'function function function true true function function function function true true function function true cookie',
    );
    assert.equal(result.stderr, '', 'no ExperimentalWarning from require(esm)');
  });

  test('a sealed session round-trips through the built package', () => {
    const code = `
      import { createSessions, generateKeyLine } from 'latchkey';
      import { withSession } from 'latchkey/fetch';
      import { xaes256gcm } from 'latchkey/crypto';
      import { LatchkeyError } from 'latchkey/errors';
      const sessions = createSessions({ keys: generateKeyLine('k1') });
      const app = withSession(sessions, async (req, s) => { s.set('n', (s.get('n') ?? 0) + 1); return new Response(String(s.get('n'))); });
      const first = await app(new Request('https://a.test/'));
      const cookie = first.headers.getSetCookie()[0].split(';')[0];
      const second = await app(new Request('https://a.test/', { headers: { cookie } }));
      const key = new Uint8Array(32).fill(1);
      const nonce = new TextEncoder().encode('ABCDEFGHIJKLMNOPQRSTUVWX');
      const ct = xaes256gcm.seal(key, nonce, new TextEncoder().encode('XAES-256-GCM'), new Uint8Array());
      try { createSessions({ keys: 'secret' }); } catch (e) { console.log(e instanceof LatchkeyError, e.code); }
      console.log(await second.text(), Buffer.from(ct).toString('hex'));`;
    const result = runAsUser(code);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout.trim(),
      'true ERR_LATCHKEY_KEY\n2 ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271',
    );
  });

  test('the latchkey bin runs from dist', () => {
    const result = spawnSync(process.execPath, ['dist/cli/bin.js', 'keygen', '--kid', 'k1'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^k1:[A-Za-z0-9_-]{43}\n$/);
  });

  test('npm pack ships dist, README and no tests or sources of secrets', () => {
    const [packed] = JSON.parse(
      execFileSync(npm, ['pack', '--dry-run', '--json'], { cwd: root, encoding: 'utf8' }),
    );
    const files: string[] = packed.files.map((file: { path: string }) => file.path);
    assert.ok(files.includes('dist/index.js'));
    assert.ok(files.includes('README.md'));
    assert.ok(files.includes('dist/cli/bin.js'));
    assert.deepEqual(
      files.filter((file) => /\.test\.|^src\/|^test\/|\.env/.test(file)),
      [],
    );
  });
});
