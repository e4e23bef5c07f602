/**
 * Every TypeScript block in README.md and docs/ compiles under the strict tsconfig
 * (scripts/check-doc-blocks.mjs): whole examples as they are, `ts fragment` blocks after their file's
 * prelude. `ts nocheck` blocks are the only ones skipped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: a plain .mjs script without types
import { checkDocBlocks, extractBlocks } from '../scripts/check-doc-blocks.mjs';

type Block = { file: string; line: number; heading: string; code: string };

/** Files still being reworked, checked by `npm run check:docs` only. Empty this list, do not grow it. */
const PENDING = new Set<string>();

test('every TypeScript block of README.md and docs/ compiles under strict tsc; a broken one is named by file:line', async () => {
  const broken: Block = { file: 'BROKEN.md', line: 10, heading: '', code: "const n: number = 'one';" };
  // A fragment: one prelude line (Markdown line 3), then the block's code from Markdown line 20.
  const fragment = { file: 'FRAG.md', line: 20, heading: '', prelude: { line: 3, count: 1 } };
  const badFragment = { ...fragment, code: 'const ok = 1;\nconst n: string = ok;' };
  const badPrelude = { ...fragment, file: 'PRE.md', code: 'const bad: string = 1;\nconst n = 2;' };
  const result = (await checkDocBlocks(
    (block: Block) => !PENDING.has(block.file),
    [broken, badFragment, badPrelude],
  )) as {
    count: number;
    failures: string[];
  };
  assert.ok(result.count >= 40, `${result.count} blocks`);
  assert.deepEqual(
    result.failures.map((f) => f.replace(/: error TS\d+:.*/, '')),
    ['BROKEN.md:10', 'FRAG.md:20', 'PRE.md:3'],
    result.failures.join('\n'),
  );
});

test('a fragment compiles after its prelude and its errors point at the Markdown line', () => {
  const blocks = extractBlocks() as (Block & { prelude?: { line: number } })[];
  const fragments = blocks.filter((b) => b.prelude);
  assert.ok(fragments.length >= 10, `${fragments.length} fragments`);
  for (const b of fragments) assert.ok(b.prelude!.line < b.line, `${b.file}:${b.line}`);
});
