#!/usr/bin/env node
// Type-check every ```ts / ```typescript block in README.md and docs/**/*.md under the repository's
// strict tsconfig, `latchkey/*` resolving to src/ (tsconfig paths). Each block is its own module in
// test-artifacts/doc-blocks/ (git-ignored); failures are reported as file:line of the Markdown. A block
// opened with ```ts nocheck is skipped (use it sparingly); ```ts fragment compiles after the file's prelude.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'test-artifacts', 'doc-blocks');

function markdownFiles() {
  const files = ['README.md'];
  const walk = (dir) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${dir}/${e.name}`);
      else if (e.name.endsWith('.md')) files.push(`${dir}/${e.name}`);
    }
  };
  walk('docs');
  return files;
}

/**
 * Every checked block: { file, line (of its first code line), heading (the section's), code }.
 * A block opened with ```ts fragment continues a setup the guide has shown already (the `app`, the
 * `keys`): it is compiled after the file's prelude, an HTML comment that readers of the Markdown source
 * can see and that renders as nothing:
 *   <!-- doc-blocks prelude
 *   import Fastify from 'fastify';
 *   const app = Fastify();
 *   -->
 */
export function extractBlocks() {
  const blocks = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    let heading = '';
    let prelude = null;
    for (let i = 0; i < lines.length; i++) {
      if (/^#{1,6} /.test(lines[i])) heading = lines[i].replace(/^#+ /, '');
      if (/^<!-- doc-blocks prelude\s*$/.test(lines[i])) {
        let end = i + 1;
        while (end < lines.length && !/^-->\s*$/.test(lines[end])) end++;
        prelude = { line: i + 2, code: lines.slice(i + 1, end).join('\n'), count: end - i - 1 };
        i = end;
        continue;
      }
      const open = /^\s*```(ts|typescript)(\s+(nocheck|fragment))?\s*$/.exec(lines[i]);
      if (!open) continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++;
      const code = lines.slice(start, end).join('\n');
      if (open[3] === 'fragment') {
        if (!prelude)
          throw new Error(`${file}:${start}: a \`ts fragment\` block before any doc-blocks prelude`);
        blocks.push({ file, line: start + 1, heading, code: `${prelude.code}\n${code}`, prelude });
      } else if (open[3] !== 'nocheck') {
        blocks.push({ file, line: start + 1, heading, code });
      }
      i = end;
    }
  }
  return blocks;
}

/** The Markdown line of line `n` (1-based) of a compiled block. */
function markdownLine(block, n) {
  if (!block.prelude) return block.line + n - 1;
  return n <= block.prelude.count ? block.prelude.line + n - 1 : block.line + n - 1 - block.prelude.count;
}

/**
 * Compile the blocks `select` keeps (default: all); `extra` adds blocks (the tests add a broken one).
 * A `declare module` augmentation (typing `req.session` as express-session users do) is global to a
 * TypeScript program, so the blocks of a Markdown file that augments a module compile in a program of
 * their own; all other blocks share one. The programs run in parallel.
 */
export async function checkDocBlocks(select = () => true, extra = []) {
  rmSync(out, { recursive: true, force: true });
  const blocks = [...extractBlocks().filter(select), ...extra];
  const augmenting = new Set(blocks.filter((b) => /^\s*declare module /m.test(b.code)).map((b) => b.file));
  const groups = new Map();
  blocks.forEach((block, n) => {
    const group = augmenting.has(block.file) ? block.file.replace(/[^A-Za-z0-9]+/g, '-') : 'shared';
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(n);
  });
  const runs = [...groups].map(([group, members]) => compileGroup(join(out, group), blocks, members));
  const failures = (await Promise.all(runs)).flat();
  return { count: blocks.length, failures };
}

/** One tsc program over the blocks numbered `members`; failures as Markdown file:line. */
function compileGroup(dir, blocks, members) {
  mkdirSync(dir, { recursive: true });
  for (const n of members) {
    // export {} makes each block a module, so blocks do not collide.
    writeFileSync(join(dir, `block${String(n).padStart(3, '0')}.ts`), `${blocks[n].code}\nexport {};\n`);
  }
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: relative(dir, join(root, 'tsconfig.json')),
      compilerOptions: { noUnusedLocals: false, noUnusedParameters: false, allowUnusedLabels: false },
      include: ['*.ts'],
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [tsc, '--noEmit', '-p', join(dir, 'tsconfig.json')],
      (error, stdout, stderr) => {
        const failures = [];
        for (const line of stdout.split('\n')) {
          const match = /block(\d+)\.ts\((\d+),(\d+)\): (.*)$/.exec(line);
          if (!match) continue;
          const block = blocks[Number(match[1])];
          failures.push(`${block.file}:${markdownLine(block, Number(match[2]))}: ${match[4]}`);
        }
        if (error && failures.length === 0) failures.push(stdout + stderr);
        resolve(failures);
      },
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { count, failures } = await checkDocBlocks();
  console.log(`${count} TypeScript blocks checked, ${failures.length} errors`);
  for (const f of failures) console.log(f);
  process.exit(failures.length === 0 ? 0 : 1);
}
