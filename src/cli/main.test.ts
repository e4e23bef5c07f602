import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSessions } from '../core/sessions.ts';
import { generateKeyLine, parseKeyring } from '../crypto/keyring.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { run } from './main.ts';
import { openStore } from './store-url.ts';

async function capture(args: string[], env: Record<string, string | undefined> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete process.env[key];
  const out: string[] = [];
  const err: string[] = [];
  try {
    const status = await run(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { status, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.env = saved;
  }
}

async function sealedCookie(
  keys: string,
  data: Record<string, unknown>,
  clock = createFakeClock(Date.now()),
) {
  const sessions = createSessions({ keys, clock });
  const session = await sessions.load(undefined);
  for (const [key, value] of Object.entries(data)) session.set(key, value);
  const [line] = await sessions.commit(session);
  return line!.slice(line!.indexOf('=') + 1, line!.indexOf(';'));
}

describe('latchkey CLI', () => {
  test('keygen prints a key line that the keyring accepts, different every time', async () => {
    const a = await capture(['keygen', '--kid', 'prod1']);
    const b = await capture(['keygen', '--kid', 'prod1']);
    assert.equal(a.status, 0);
    assert.match(a.out, /^prod1:[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.out, b.out);
    assert.equal(parseKeyring(a.out).current.kid, 'prod1');
  });

  test('keys rotate puts a new key first and keeps the old ones', async () => {
    const old = generateKeyLine('k1');
    const result = await capture(['keys', 'rotate', '--kid', 'k2'], { LATCHKEY_KEYS: old });
    assert.equal(result.status, 0);
    const ring = parseKeyring(result.out);
    assert.deepEqual(ring.kids, ['k2', 'k1']);
    assert.ok(result.out.endsWith(old));
    assert.equal(
      (await capture(['keys', 'rotate', '--kid', 'k1'], { LATCHKEY_KEYS: old })).status,
      2,
      'kid in use',
    );
  });

  test('inspect opens a cookie: kid, clocks and data; exit 0', async () => {
    const keys = generateKeyLine('k1');
    const value = await sealedCookie(keys, { cart: [1, 2], name: 'Ada' });
    const result = await capture(['inspect', value, '--json'], { LATCHKEY_KEYS: keys });
    assert.equal(result.status, 0, result.err);
    const report = JSON.parse(result.out);
    assert.equal(report.status, 'valid');
    assert.equal(report.kid, 'k1');
    assert.deepEqual(report.data, { cart: [1, 2], name: 'Ada' });
    assert.match(report.absoluteDeadline, /^\d{4}-\d\d-\d\dT/);
    const text = await capture(['inspect', `__Host-lk=${value}`], { LATCHKEY_KEYS: keys });
    assert.equal(text.status, 0);
    assert.match(text.out, /^status +valid$/m);
  });

  test('inspect says why a value does not open, with exit 1', async () => {
    const keys = generateKeyLine('k1');
    const value = await sealedCookie(keys, { a: 1 });
    const cases: Array<[string, string, RegExp]> = [
      [keys, `${value.slice(0, -6)}${value.at(-6) === 'A' ? 'B' : 'A'}${value.slice(-5)}`, /tampered/],
      [generateKeyLine('k9'), value, /unknown key/],
      [keys, 'hello', /malformed/],
    ];
    for (const [env, input, why] of cases) {
      const result = await capture(['inspect', input], { LATCHKEY_KEYS: env });
      assert.equal(result.status, 1, input.slice(0, 20));
      assert.match(result.out, why);
    }
    const old = await sealedCookie(keys, { a: 1 }, createFakeClock(Date.now() - 2 * 86_400_000));
    const expired = await capture(['inspect', old, '--json'], { LATCHKEY_KEYS: keys });
    assert.equal(expired.status, 1);
    assert.equal(JSON.parse(expired.out).status, 'expired');
    assert.equal(JSON.parse(expired.out).expiredBy, 'absolute');
    const moved = await capture(['inspect', value, '--name', '__Host-other'], { LATCHKEY_KEYS: keys });
    assert.match(moved.out, /tampered/);
  });

  test('usage and key errors exit 2 with a coded message, never a stack trace', async () => {
    assert.equal((await capture([])).status, 2);
    assert.equal((await capture(['frobnicate'])).status, 2);
    const noKeys = await capture(['inspect', 'v1.k1.abc'], { LATCHKEY_KEYS: undefined });
    assert.equal(noKeys.status, 2);
    assert.match(noKeys.err, /ERR_LATCHKEY_KEY/);
    assert.equal((await capture(['inspect', '--bogus'])).status, 2);
    const badKid = await capture(['keygen', '--kid', 'a:b']);
    assert.equal(badKid.status, 2, 'a kid the key line cannot hold');
    assert.match(badKid.err, /^latchkey: /);
  });

  test('the bin runs as a program', () => {
    const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', bin, 'keygen'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout.trim(), /^k\d{8}:[A-Za-z0-9_-]{43}$/);
  });

  test('keys rotate on the day of keygen needs no --kid: the dated id gets a suffix', async () => {
    const first = generateKeyLine(); // today's dated id, as `latchkey keygen` prints it
    const once = await capture(['keys', 'rotate'], { LATCHKEY_KEYS: first });
    assert.equal(once.status, 0, once.err);
    const twice = await capture(['keys', 'rotate'], { LATCHKEY_KEYS: once.out });
    assert.equal(twice.status, 0, twice.err);
    const kids = parseKeyring(twice.out).kids;
    const dated = first.slice(0, first.indexOf(':'));
    assert.deepEqual(kids, [`${dated}c`, `${dated}b`, dated]);
    const taken = await capture(['keys', 'rotate', '--kid', dated], { LATCHKEY_KEYS: first });
    assert.equal(taken.status, 2);
    assert.match(taken.err, /--kid/, 'the message says how to pick another id');
  });

  test('--version prints the package version', async () => {
    const { version } = JSON.parse(
      readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-v']) {
      const result = await capture([flag]);
      assert.equal(result.status, 0);
      assert.equal(result.out, `latchkey ${version}`);
    }
  });

  test('inspect says which timeouts its expiresAt assumes', async () => {
    const keys = generateKeyLine('k1');
    const value = await sealedCookie(keys, { a: 1 });
    const bare = JSON.parse((await capture(['inspect', value, '--json'], { LATCHKEY_KEYS: keys })).out);
    assert.match(bare.expiresAtAssumes, /aal2.*--preset/);
    const told = JSON.parse(
      (await capture(['inspect', value, '--json', '--idle', '5m'], { LATCHKEY_KEYS: keys })).out,
    );
    assert.equal(told.expiresAtAssumes, undefined);
    assert.ok(Date.parse(told.expiresAt) <= Date.now() + 5 * 60_000 + 1000, 'the idle timeout given');
  });

  test('inspect --store reads a store-mode token without changing its record', async () => {
    const keys = generateKeyLine('k1');
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-inspect-'));
    try {
      const url = `file:${dir}`;
      const opened = await openStore(url, { create: true });
      let token: string;
      try {
        await opened.migrate();
        const sessions = createSessions({ keys, store: opened.store });
        const session = await sessions.load(undefined);
        await session.login('ada');
        session.set('cart', [3]);
        const [line] = await sessions.commit(session);
        token = line!.slice(line!.indexOf('=') + 1, line!.indexOf(';'));
      } finally {
        await opened.close();
      }
      const before = readdirSync(dir, { recursive: true }).sort();
      const result = await capture(['inspect', token, '--store', url, '--json'], { LATCHKEY_KEYS: keys });
      assert.equal(result.status, 0, result.err);
      const report = JSON.parse(result.out);
      assert.equal(report.status, 'valid');
      assert.equal(report.userId, 'ada');
      assert.deepEqual(report.data, { cart: [3] });
      assert.deepEqual(readdirSync(dir, { recursive: true }).sort(), before, 'nothing written');
      const other = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BA' : 'AA'}`;
      const unknown = await capture(['inspect', other, '--store', url], { LATCHKEY_KEYS: keys });
      assert.equal(unknown.status, 1);
      assert.match(unknown.out, /unknown session/);
      // One token in 64 starts with '-': it is the value, not an unknown option, before or after them.
      const dashed = `-${token.slice(1)}`;
      for (const args of [
        ['inspect', dashed, '--store', url],
        ['inspect', '--store', url, dashed],
        ['inspect', '--store', url, '--', dashed],
      ]) {
        const answer = await capture(args, { LATCHKEY_KEYS: keys });
        assert.equal(answer.status, 1, `${args.join(' ')}: ${answer.err}`);
        assert.match(answer.out, /unknown session/);
      }
      const wrongKeys = await capture(['inspect', token, '--store', url], {
        LATCHKEY_KEYS: generateKeyLine('k9'),
      });
      assert.equal(wrongKeys.status, 1);
      assert.match(wrongKeys.out, /unknown key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('piped into a reader that stops early, the bin exits quietly (no EPIPE crash)', async () => {
    const bin = fileURLToPath(new URL('./bin.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', bin, '--help'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // the reader is gone before the first write, as with `| head -0`
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const [code] = (await once(child, 'close')) as [number | null];
    assert.doesNotMatch(stderr, /EPIPE|Error/);
    assert.equal(code, 0);
  });
});
