// A module resolve hook for working in this repository: `latchkey` and `latchkey/<subpath>` resolve to
// the TypeScript sources in src/ instead of the built dist/, so tests, the demo, the benchmarks and the
// examples run without a build. The map comes from package.json's own export map: each entry's
// `default` target ./dist/<path>.js becomes ./src/<path>.ts. Nothing of this ships: consumers of the
// package see only dist/ (no `source` condition to trip over). Registered by scripts/register-src.mjs.
import { existsSync, readFileSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));

/** The export's `default` target (following nested conditions), or a plain string target. */
function defaultTarget(entry) {
  if (typeof entry === 'string') return entry;
  if (entry === null || typeof entry !== 'object') return undefined;
  for (const key of ['import', 'default']) {
    const target = defaultTarget(entry[key]);
    if (target !== undefined) return target;
  }
  return undefined;
}

/** `latchkey/<subpath>` → file URL of its source, for every export whose target is ./dist/….js. */
export const sourceMap = new Map();
for (const [subpath, entry] of Object.entries(pkg.exports ?? {})) {
  const target = defaultTarget(entry);
  const match = target === undefined ? null : /^\.\/dist\/(.+)\.js$/.exec(target);
  if (match === null) continue;
  const source = new URL(`src/${match[1]}.ts`, root);
  if (!existsSync(source)) continue; // a built-only entry: left to Node's own resolution
  sourceMap.set(subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`, source.href);
}

export async function resolve(specifier, context, nextResolve) {
  const source = sourceMap.get(specifier);
  if (source !== undefined) return { url: source, format: 'module', shortCircuit: true };
  return nextResolve(specifier, context);
}
