/**
 * What publishing needs to stay true as entries are added: every export entry has its tsconfig path
 * (tsc in this repository), its typesVersions entry (TypeScript's node10 resolution), its TypeDoc entry
 * point and a source file for scripts/resolve-src.mjs; no `source` condition reaches consumers; the
 * shipped Markdown links only to files that ship.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const json = (path: string) => JSON.parse(readFileSync(join(root, path), 'utf8'));
const pkg = json('package.json');
type Target = { types: string; default: string };
const entries = Object.entries(pkg.exports as Record<string, unknown>).filter(
  (entry): entry is [string, { import: Target; require: Target }] => typeof entry[1] === 'object',
);
const specifier = (subpath: string) => (subpath === '.' ? 'latchkey' : `latchkey/${subpath.slice(2)}`);
const sourceOf = (target: string) => target.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts');

describe('publishing', () => {
  test('every export entry: a source file, a tsconfig path, a typesVersions entry, a TypeDoc entry point', () => {
    const paths = json('tsconfig.json').compilerOptions.paths;
    const typesVersions = pkg.typesVersions['*'];
    const typedoc = new Set(json('typedoc.json').entryPoints.map((p: string) => `./${p}`));
    assert.ok(entries.length >= 10);
    for (const [subpath, conditions] of entries) {
      // ESM (`import`) and CommonJS (`require`: the .cjs and .d.cts that scripts/build-cjs.mjs writes)
      assert.deepEqual(Object.keys(conditions), ['import', 'require'], `${subpath}: import and require`);
      const entry = conditions.import;
      assert.deepEqual(Object.keys(entry), ['types', 'default'], `${subpath}: import has types first`);
      assert.deepEqual(
        conditions.require,
        { types: entry.types.replace(/\.d\.ts$/, '.d.cts'), default: entry.default.replace(/\.js$/, '.cjs') },
        `${subpath}: require names the .d.cts and .cjs beside the ESM build`,
      );
      const source = sourceOf(entry.default);
      assert.ok(existsSync(join(root, source)), `${subpath}: ${source} exists`);
      assert.deepEqual(paths[specifier(subpath)], [source], `tsconfig.json paths["${specifier(subpath)}"]`);
      assert.ok(typedoc.has(source), `typedoc.json entryPoints has ${source.slice(2)}`);
      if (subpath !== '.')
        assert.deepEqual(typesVersions[subpath.slice(2)], [entry.types], `typesVersions ${subpath}`);
    }
    assert.equal(pkg.types, pkg.exports['.'].import.types);
  });

  test('the shipped Markdown links only to files in the package (others by URL)', () => {
    const ships = (path: string) =>
      /^(docs|dist)\//.test(path) || ['README.md', 'LICENSE', 'CHANGELOG.md', 'SECURITY.md'].includes(path);
    const markdown = ['README.md', 'CHANGELOG.md', 'SECURITY.md'];
    const walk = (dir: string) => {
      for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
        if (e.isDirectory()) walk(`${dir}/${e.name}`);
        else if (e.name.endsWith('.md')) markdown.push(`${dir}/${e.name}`);
      }
    };
    walk('docs');
    const dead: string[] = [];
    for (const file of markdown) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const match of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = match[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        const path = relative(root, normalize(join(root, dirname(file), target)));
        if (!ships(path) || !existsSync(join(root, path))) dead.push(`${file}: ${target}`);
      }
    }
    assert.deepEqual(dead, []);
  });

  test('the files the registry page and licence need are in the package', () => {
    for (const file of ['LICENSE', 'CHANGELOG.md', 'SECURITY.md', 'docs/security-checklist.md']) {
      assert.ok(existsSync(join(root, file)), file);
    }
    assert.match(readFileSync(join(root, 'LICENSE'), 'utf8'), /^MIT License[\s\S]*Latchkey contributors/);
    for (const field of ['repository', 'homepage', 'bugs', 'keywords', 'author'])
      assert.ok(pkg[field], field);
  });
});
