/**
 * esbuild aliases for bundling the repo's own `latchkey/*` imports from src/ (the repo-only resolution
 * of scripts/resolve-src.mjs, for bundles that Bun, Deno and workerd run): each export's dist target
 * `./dist/X.js` maps to `src/X.ts`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function srcAliases(): Record<string, string> {
  const root = new URL('../../', import.meta.url);
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
    exports: Record<string, string | { default?: string }>;
  };
  const aliases: Record<string, string> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const dist = typeof target === 'string' ? target : target.default;
    if (dist === undefined || !dist.startsWith('./dist/') || !dist.endsWith('.js')) continue;
    const name = subpath === '.' ? 'latchkey' : `latchkey/${subpath.slice(2)}`;
    aliases[name] = fileURLToPath(new URL(`src/${dist.slice('./dist/'.length, -'.js'.length)}.ts`, root));
  }
  return aliases;
}
