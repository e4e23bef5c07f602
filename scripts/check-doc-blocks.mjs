#!/usr/bin/env node
// Type-check every ```ts / ```typescript block in README.md and docs/**/*.md under the repository's
// strict tsconfig, `latchkey/*` resolving to src/ (tsconfig paths). Each block is its own module in
// test-artifacts/doc-blocks/ (git-ignored); failures are reported as file:line of the Markdown. A block
// opened with ```ts nocheck is a fragment and is skipped: use it sparingly.
import { spawnSync } from 'node:child_process';
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

/** Every checked block: { file, line (of its first code line), heading (the section's), code }. */
export function extractBlocks() {
  const blocks = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    let heading = '';
    for (let i = 0; i < lines.length; i++) {
      if (/^#{1,6} /.test(lines[i])) heading = lines[i].replace(/^#+ /, '');
      const open = /^\s*```(ts|typescript)(\s+nocheck)?\s*$/.exec(lines[i]);
      if (!open) continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++;
      if (!open[2]) blocks.push({ file, line: start + 1, heading, code: lines.slice(start, end).join('\n') });
      i = end;
    }
  }
  return blocks;
}

/** Compile the blocks `select` keeps (default: all); `extra` adds blocks (the tests add a broken one). */
export function checkDocBlocks(select = () => true, extra = []) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const blocks = [...extractBlocks().filter(select), ...extra];
  const names = blocks.map((block, n) => {
    const name = `block${String(n).padStart(3, '0')}.ts`;
    // export {} makes each block a module, so blocks do not collide.
    writeFileSync(join(out, name), `${block.code}\nexport {};\n`);
    return name;
  });
  writeFileSync(
    join(out, 'tsconfig.json'),
    JSON.stringify({
      extends: relative(out, join(root, 'tsconfig.json')),
      compilerOptions: { noUnusedLocals: false, noUnusedParameters: false, allowUnusedLabels: false },
      include: ['*.ts'],
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '-p', join(out, 'tsconfig.json')], {
    encoding: 'utf8',
  });
  const failures = [];
  for (const line of result.stdout.split('\n')) {
    const match = /block(\d+)\.ts\((\d+),(\d+)\): (.*)$/.exec(line);
    if (!match) continue;
    const block = blocks[Number(match[1])];
    failures.push(`${block.file}:${block.line + Number(match[2]) - 1}: ${match[4]}`);
  }
  if (result.status !== 0 && failures.length === 0) failures.push(result.stdout + result.stderr);
  return { count: names.length, failures };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { count, failures } = checkDocBlocks();
  console.log(`${count} TypeScript blocks checked, ${failures.length} errors`);
  for (const f of failures) console.log(f);
  process.exit(failures.length === 0 ? 0 : 1);
}
