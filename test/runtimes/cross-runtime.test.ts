// Values sealed on Node open on Bun and Deno, theirs open on Node, and Bun's open on Deno and back
// (workerd: workerd.test.ts).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import { createKeyring } from '../../src/crypto/keyring.ts';
import { openValue, sealValue } from '../../src/crypto/seal.ts';
import { srcAliases } from './src-alias.ts';

const bin = (name: string) => new URL(`../../node_modules/.bin/${name}`, import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'latchkey-runtimes-'));
const script = join(dir, 'vector-script.mjs');
const keyHex = randomBytes(32).toString('hex');
const keyring = createKeyring([{ kid: 'k1', key: new Uint8Array(Buffer.from(keyHex, 'hex')) }]);

before(async () => {
  await build({
    entryPoints: [new URL('./vector-script.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    alias: srcAliases(),
    outfile: script,
    logLevel: 'error',
  });
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const [runtime, args] of [
  ['bun', ['run', script]],
  ['deno', ['run', '--quiet', script]],
] as const) {
  test(`${runtime}: opens a value sealed on Node, refuses it tampered, and seals one Node opens`, () => {
    const fromNode = sealValue(keyring, 'cookie', 'vector', 'sealed on node');
    const run = (value: string) =>
      JSON.parse(execFileSync(bin(runtime), [...args, keyHex, value], { encoding: 'utf8' })) as {
        synchronous: boolean;
        opened: string;
        sealed: string;
      };
    const result = run(fromNode);
    assert.equal(result.synchronous, true); // node:crypto through process.getBuiltinModule
    assert.equal(result.opened, 'sealed on node');
    const back = openValue(keyring, 'cookie', 'vector', result.sealed);
    assert.equal(back.ok && new TextDecoder().decode(back.plaintext), 'sealed elsewhere');
    assert.match(
      run(`${fromNode.slice(0, -6)}${fromNode.at(-6) === 'A' ? 'B' : 'A'}${fromNode.slice(-5)}`).opened,
      /^failed: tampered/,
    );
  });
}

test("bun and deno: each opens the other's sealed value", () => {
  const run = (runtime: 'bun' | 'deno', value: string) =>
    JSON.parse(
      execFileSync(
        bin(runtime),
        [...(runtime === 'bun' ? ['run'] : ['run', '--quiet']), script, keyHex, value],
        {
          encoding: 'utf8',
        },
      ),
    ) as { opened: string; sealed: string };
  const fromBun = run('bun', sealValue(keyring, 'cookie', 'vector', 'x')).sealed;
  const fromDeno = run('deno', fromBun);
  assert.equal(fromDeno.opened, 'sealed elsewhere'); // Bun's value, opened on Deno
  assert.equal(run('bun', fromDeno.sealed).opened, 'sealed elsewhere'); // Deno's, opened on Bun
  assert.notEqual(fromBun, fromDeno.sealed); // two seals, two random nonces
});
