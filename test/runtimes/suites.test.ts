/**
 * The runtime matrix beyond Node: the shared scenario suite (test/scenarios: every adapter over real
 * HTTP, in cookie mode, with a revocation store and in store mode) and the Redis and PostgreSQL store
 * conformance runs (src/stores/redis.test.ts, postgres.test.ts: node-redis, ioredis and pg against the
 * real servers) run again under Bun (`bun test`) and Deno (`deno test`), both installed from npm. The
 * files are the same ones Node runs; Bun and Deno load the TypeScript themselves and run node:test's
 * describe/test. Workers (workerd) run the fetch app in workerd.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = (name: string) => fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));

const files = [
  ...readdirSync(new URL('../scenarios', import.meta.url))
    .filter((name) => name.endsWith('.test.ts'))
    .sort()
    .map((name) => `test/scenarios/${name}`),
  'src/stores/redis.test.ts',
  'src/stores/postgres.test.ts',
];

/** FORCE_COLOR (set by some CI runners) beats NO_COLOR in Deno. */
function withoutForceColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _, ...rest } = env;
  return rest;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...withoutForceColor(process.env), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output: output.replace(/\u001b\[[0-9;]*m/g, '') }));
  });
}

/** The last `limit` characters: enough to see which test failed. */
const tail = (text: string, limit = 6000) => text.slice(-limit);

describe('the scenario suite and the Redis/PostgreSQL stores on Bun and Deno', { concurrency: true }, () => {
  test(`bun test: ${files.length} files pass`, { timeout: 240_000 }, async () => {
    const { code, output } = await run(bin('bun'), [
      'test',
      '--timeout',
      '60000',
      ...files.map((f) => `./${f}`),
    ]);
    assert.equal(code, 0, tail(output));
    const pass = Number(/^\s*(\d+) pass$/m.exec(output)?.[1]);
    const fail = Number(/^\s*(\d+) fail$/m.exec(output)?.[1]);
    assert.equal(fail, 0, tail(output));
    // Every adapter's scenarios (31 each, Express twice) and both stores' kits ran.
    assert.ok(pass >= 31 * 7 + 70, `${pass} passed\n${tail(output)}`);
  });

  test(`deno test: ${files.length} files pass`, { timeout: 240_000 }, async () => {
    const { code, output } = await run(bin('deno'), ['test', '--allow-all', '--no-check', ...files]);
    assert.equal(code, 0, tail(output));
    const summary = /^ok \| (\d+) passed \((\d+) steps\) \| 0 failed/m.exec(output);
    assert.ok(summary, tail(output));
    assert.ok(Number(summary[2]) >= 31 * 7 + 70, `${summary[2]} steps\n${tail(output)}`);
  });
});
