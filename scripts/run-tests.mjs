#!/usr/bin/env node
// Runs every *.test.ts under the given folders (default: src and test) with node:test through tsx, with
// `latchkey/*` resolved to src/ (scripts/register-src.mjs).
// Node 20's `node --test` takes no glob patterns, so the files are listed here; the runtime that runs
// this script (process.execPath) runs the tests, which is how CI tests Node 24 too. The browser tests
// under test/e2e run only when asked for by path (`npm run test:e2e`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `--skip=<path>` (repeatable) leaves out a test file or a folder; every other `--` flag goes to node.
const args = process.argv.slice(2);
const roots = args.filter((a) => !a.startsWith('--'));
const skipped = args.filter((a) => a.startsWith('--skip=')).map((a) => join(a.slice('--skip='.length)));
const passThrough = args.filter((a) => a.startsWith('--') && !a.startsWith('--skip='));
const isSkipped = (path) => skipped.some((skip) => path === skip || path.startsWith(`${skip}/`));

function collect(dir, skipE2e) {
  if (dir.endsWith('.test.ts')) return [dir];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'node_modules' || (skipE2e && e.name === 'e2e')) return [];
      return collect(path, skipE2e);
    }
    return e.name.endsWith('.test.ts') ? [path] : [];
  });
}

const files = (roots.length > 0 ? roots : ['src', 'test'])
  .flatMap((root) => collect(root, roots.length === 0))
  .filter((path) => !isSkipped(path))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--import',
    fileURLToPath(new URL('register-src.mjs', import.meta.url)),
    '--test',
    ...passThrough,
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
