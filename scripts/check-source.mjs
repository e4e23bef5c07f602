#!/usr/bin/env node
// Lint rules Biome cannot express. Checklist #1: identifiers, nonces and keys come from the CSPRNG
// only, so `Math.random` and `randomUUID` are banned from library code (tests may use them).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const BANNED = [
  { pattern: /\bMath\.random\b/, why: 'not a CSPRNG (checklist #1)' },
  { pattern: /\brandomUUID\b/, why: 'only 122 random bits and a fixed layout (checklist #1)' },
  { pattern: /\bnew Error\(/, why: 'throw a coded LatchkeyError (or TypeError for caller mistakes)' },
];

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const problems = [];
for (const file of sources('src')) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, index) => {
    if (/^\s*(\/\/|\*)/.test(line)) return;
    for (const { pattern, why } of BANNED) {
      if (pattern.test(line)) problems.push(`${file}:${index + 1}: ${pattern.source}: ${why}`);
    }
  });
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`check-source: ${sources('src').length} files clean`);
