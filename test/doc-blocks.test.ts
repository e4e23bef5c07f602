/**
 * The docs' TypeScript blocks compile under the strict tsconfig (scripts/check-doc-blocks.mjs). For now
 * the README's quick-starts are held to it here; `npm run check:docs` checks every block in README.md
 * and docs/ (the guides still have fragments to fix or mark ```ts nocheck).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: a plain .mjs script without types
import { checkDocBlocks } from '../scripts/check-doc-blocks.mjs';

type Block = { file: string; line: number; heading: string; code: string };

test("the README's quick-starts compile under strict tsc; a broken block is reported by file:line", () => {
  const broken: Block = { file: 'BROKEN.md', line: 10, heading: '', code: "const n: number = 'one';" };
  const result = checkDocBlocks(
    (block: Block) => block.file === 'README.md' && block.heading.startsWith('Quick start'),
    [broken],
  ) as { count: number; failures: string[] };
  assert.ok(result.count >= 3, `${result.count} blocks`);
  assert.equal(result.failures.length, 1, result.failures.join('\n'));
  assert.match(result.failures[0]!, /^BROKEN\.md:10: error TS2322/);
});
