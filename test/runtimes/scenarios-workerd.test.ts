/**
 * The shared scenario suite (test/scenarios/suite.ts) against latchkey/fetch and latchkey/hono running
 * inside workerd: with nodejs_compat in all three modes, and without it (WebCrypto only) in cookie
 * mode, where store mode and a revocation store are refused at start-up (they need node:crypto's
 * synchronous hashing). The suite's requests go to workerd over loopback; its clock moves the worker's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { generateKeyLine } from '../../src/crypto/keyring.ts';
import type { ScenarioMode } from '../scenarios/options.ts';
import { describeScenarios } from '../scenarios/suite.ts';
import { freePort } from '../support/ports.ts';
import { srcAliases } from './src-alias.ts';
import { workerdConfig } from './workerd-config.ts';

const WORKERD = fileURLToPath(new URL('../../node_modules/.bin/workerd', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'latchkey-workerd-scenarios-'));
const running = new Set<ChildProcess>();

before(async () => {
  await build({
    entryPoints: [fileURLToPath(new URL('./scenario-worker.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    alias: srcAliases(),
    outfile: join(dir, 'worker.js'),
    logLevel: 'error',
  });
});
after(() => {
  for (const child of running) child.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function startWorker(adapter: 'fetch' | 'hono', mode: ScenarioMode, nodejsCompat: boolean) {
  const port = await freePort();
  const config = join(dir, `${adapter}-${mode}-${nodejsCompat}.capnp`);
  writeFileSync(
    config,
    workerdConfig({
      port,
      module: 'worker.js',
      bindings: { KEYS: generateKeyLine('k1'), ADAPTER: adapter, MODE: mode },
      nodejsCompat,
    }),
  );
  const child = spawn(WORKERD, ['serve', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  running.add(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${url}/__ready`);
      break;
    } catch (error) {
      if (i > 100 || child.exitCode !== null) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    app: {
      url,
      close: async () => {
        child.kill();
        running.delete(child);
      },
    },
    advance: async (ms: number) => {
      await (await fetch(`${url}/__advance?ms=${ms}`, { method: 'POST' })).text();
    },
  };
}

for (const adapter of ['fetch', 'hono'] as const) {
  // workerd joins two Cookie header lines of an HTTP/1.1 request with ', ', which Latchkey does not
  // read (browsers send one Cookie line over HTTP/1.1; RFC 9113 §8.2.3 has HTTP/2's cookie fields
  // joined with '; ').
  describeScenarios(`workerd (nodejs_compat) ${adapter}`, (mode) => startWorker(adapter, mode, true), {
    twoCookieLines: false,
  });
  describeScenarios(`workerd (WebCrypto only) ${adapter}`, (mode) => startWorker(adapter, mode, false), {
    modes: ['cookie'],
    twoCookieLines: false,
  });
}
