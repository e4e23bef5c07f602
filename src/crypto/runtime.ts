/**
 * What the runtime offers for crypto, found by feature detection when this module loads, so that one
 * build runs on Node, Bun, Deno and workerd with `nodejs_compat` (node:crypto, synchronous) and on
 * workerd without it, Vercel Edge, Deno Deploy and browsers (WebCrypto only, asynchronous).
 *
 * node:crypto is reached through `process.getBuiltinModule` (Node >= 20.16, Bun, Deno, workerd with
 * nodejs_compat), never a static import: a static `import 'node:crypto'` fails to load at all where the
 * module does not exist, before any detection could run.
 */
import type * as NodeCryptoModule from 'node:crypto';

export type NodeCrypto = typeof NodeCryptoModule;

interface ProcessLike {
  getBuiltinModule?: (id: string) => unknown;
  emitWarning?: (message: string, options: { code: string }) => void;
  env?: Record<string, string | undefined>;
}

function processLike(): ProcessLike | undefined {
  const candidate = (globalThis as { process?: unknown }).process;
  return typeof candidate === 'object' && candidate !== null ? (candidate as ProcessLike) : undefined;
}

function loadNodeCrypto(): NodeCrypto | undefined {
  try {
    const module = processLike()?.getBuiltinModule?.('node:crypto') as Partial<NodeCrypto> | undefined;
    // Partial implementations exist (polyfills, older compat layers): the backend selection runs a
    // known-answer test before trusting the ciphers; here only the shape is checked.
    return typeof module?.createCipheriv === 'function' &&
      typeof module.createHash === 'function' &&
      typeof module.randomFillSync === 'function'
      ? (module as NodeCrypto)
      : undefined;
  } catch {
    return undefined;
  }
}

/** node:crypto where the runtime has it, else undefined. */
export const nodeCrypto: NodeCrypto | undefined = loadNodeCrypto();

/** WebCrypto's SubtleCrypto where the runtime has it (every runtime Latchkey supports), else undefined. */
export const subtle: SubtleCrypto | undefined = globalThis.crypto?.subtle;

/** An environment variable, or undefined where there is no `process` (workerd without nodejs_compat). */
export function environmentVariable(name: string): string | undefined {
  const value = processLike()?.env?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** process.emitWarning where it exists (once-per-code filtering is the app's), else console.warn. */
export function emitWarning(message: string, code: string): void {
  const emit = processLike()?.emitWarning;
  if (typeof emit === 'function') emit(message, { code });
  else console.warn(`${code}: ${message}`);
}
