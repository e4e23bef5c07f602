/**
 * Run: `node --import ./scripts/register-src.mjs examples/hono/server.ts` (from the repository root).
 *
 * With LATCHKEY_KEYS set (`npx latchkey keygen`), cookies are `__Host-lk`, Secure: serve over HTTPS.
 * Without it, plain-HTTP development mode with a key that lasts until the process exits.
 *
 * Hono apps run on node:http through @hono/node-server (`serve({ fetch: app.fetch, port })`); this
 * example carries a small bridge of its own (node-bridge.ts) so that it needs nothing beyond Hono.
 */
import { createServer } from 'node:http';
import { serve } from '../shared/serve.ts';
import { createApp } from './app.ts';
import { fetchListener } from './node-bridge.ts';

const keys = process.env.LATCHKEY_KEYS;
const app = createApp(keys ? { keys } : { development: true });

serve(createServer(fetchListener(app.fetch)));
