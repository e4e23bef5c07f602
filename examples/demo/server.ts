import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { generateKeyLine, type SessionStore } from 'latchkey';
import { fsStore } from 'latchkey/stores/fs';
import { redisStore } from 'latchkey/stores/redis';
import { createClient } from 'redis';
import { createDemo } from './app.ts';

const production = process.env.NODE_ENV === 'production';
// Plain HTTP unless told this runs in production behind an HTTPS proxy.
const development = !production;
const dataDir = process.env.DEMO_DATA_DIR ?? '.demo-data';

/**
 * Sessions are sealed with LATCHKEY_KEYS. Without it, in development, the demo keeps a key of its own in
 * .demo-data/dev-key (git-ignored, 0600) so sessions survive a restart, as they would with a real key.
 */
function demoKeys(): { keys: string | undefined; source: string } {
  if (process.env.LATCHKEY_KEYS)
    return { keys: process.env.LATCHKEY_KEYS, source: 'keys from LATCHKEY_KEYS' };
  if (!development) return { keys: undefined, source: 'no keys' };
  const file = join(dataDir, 'dev-key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${generateKeyLine('dev')}\n`, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return { keys: readFileSync(file, 'utf8').trim(), source: `a development key kept in ${file}` };
}

/** REDIS_URL shares sessions between demo processes; otherwise an fs store under .demo-data/. */
async function demoStore(): Promise<{ store: SessionStore; where: string }> {
  if (process.env.REDIS_URL) {
    // While Redis is down: fail at once (503) instead of queueing, and reconnect in the background.
    const client = createClient({
      url: process.env.REDIS_URL,
      disableOfflineQueue: true,
      socket: { connectTimeout: 1000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
    });
    client.on('error', (error) => console.error(`redis: ${error.message}`));
    await client.connect();
    return { store: redisStore({ client }), where: `Redis at ${process.env.REDIS_URL}` };
  }
  const dir = join(dataDir, 'sessions');
  return { store: fsStore({ dir }), where: `files in ${dir}` };
}

const { keys, source } = demoKeys();
const { store, where } = await demoStore();
const { handler, sessions } = createDemo({ keys, development, store });

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const server = createServer(handler);
server.listen(port, host, () => {
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://${host}:${address.port}/` : String(address);
  if (development) {
    console.log(`Latchkey demo in DEVELOPMENT mode: plain-HTTP cookie 'lk', ${source}.`);
  } else {
    console.log("Latchkey demo in production mode: cookie '__Host-lk', Secure; serve it behind HTTPS.");
  }
  console.log(`Sessions are kept server-side: ${where}.`);
  console.log(`Listening on ${url}`);
});

const stop = () => {
  void sessions.close(); // the purge schedule
  server.close(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
