// Bundled by test/runtimes/cross-runtime.test.ts and run under Bun and Deno: opens the value sealed on
// Node that it is given, and seals one back, both printed as JSON on stdout.
import { createKeyring, openValueAsync, sealValueAsync } from 'latchkey/crypto';

const [keyHex = '', sealed = ''] =
  (globalThis as { process?: { argv: string[] } }).process?.argv.slice(2) ?? [];
const key = new Uint8Array(keyHex.match(/../g)!.map((pair) => Number.parseInt(pair, 16)));
const keyring = createKeyring([{ kid: 'k1', key }]);
const opened = await openValueAsync(keyring, 'cookie', 'vector', sealed);
console.log(
  JSON.stringify({
    synchronous: keyring.synchronous,
    opened: opened.ok ? new TextDecoder().decode(opened.plaintext) : `failed: ${opened.reason}`,
    sealed: await sealValueAsync(keyring, 'cookie', 'vector', 'sealed elsewhere'),
  }),
);
