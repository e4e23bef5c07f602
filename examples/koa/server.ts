/**
 * Run: `node --conditions=source --import tsx examples/koa/server.ts` (from the repository root).
 *
 * With LATCHKEY_KEYS set (`npx latchkey keygen`), cookies are `__Host-lk`, Secure: serve over HTTPS
 * (behind a TLS-terminating proxy, also set `app.proxy = true`). Without it, plain-HTTP development
 * mode with a key that lasts until the process exits.
 */
import { createApp } from './app.ts';

const keys = process.env.LATCHKEY_KEYS;
const app = createApp(keys ? { keys } : { development: true });

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const server = app.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  console.log(`listening on http://${host}:${actual}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
