/**
 * Run: `node --import ./scripts/register-src.mjs examples/koa/server.ts` (from the repository root).
 *
 * With LATCHKEY_KEYS set (`npx latchkey keygen`), cookies are `__Host-lk`, Secure: serve over HTTPS
 * (behind a TLS-terminating proxy, also set `app.proxy = true`). Without it, plain-HTTP development
 * mode with a key that lasts until the process exits.
 */
import { createServer } from 'node:http';
import { serve } from '../shared/serve.ts';
import { createApp } from './app.ts';

const keys = process.env.LATCHKEY_KEYS;
const app = createApp(keys ? { keys } : { development: true });

serve(createServer(app.callback()));
