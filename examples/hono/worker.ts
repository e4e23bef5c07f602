/**
 * The Hono example app on Cloudflare Workers (or any workerd): `npx wrangler dev` in examples/hono
 * (wrangler.toml), after `npx wrangler secret put LATCHKEY_KEYS` with a line from
 * `npx latchkey keygen` (for `wrangler dev`, put `LATCHKEY_KEYS=…` in examples/hono/.dev.vars).
 *
 * Workers pass their secrets and bindings as `env` on each request, not in `process.env`, so the app
 * is made on the first request, from `env`. Cookie mode needs no `nodejs_compat`: without it Latchkey
 * seals through WebCrypto (the same sealed format); with it, through node:crypto, which is faster.
 */
import { createApp } from './app.ts';

interface Env {
  LATCHKEY_KEYS: string;
}

let app: ReturnType<typeof createApp> | undefined;

export default {
  fetch(request: Request, env: Env, ctx: { waitUntil(promise: Promise<unknown>): void }) {
    app ??= createApp({ keys: env.LATCHKEY_KEYS });
    return app.fetch(request, env, ctx as never);
  },
};
