// The app's session manager, made once. Cookie mode by default; with LATCHKEY_STORE=redis the data
// lives in Redis (REDIS_URL, default redis://127.0.0.1:6379) and the cookie holds a token only.
import { Redis } from 'ioredis';
import { createSessions, type Duration } from 'latchkey';
import { getSession } from 'latchkey/next';
import { redisStore } from 'latchkey/stores/redis';
import { cookies, headers } from 'next/headers';

export interface AppSession {
  userName: string;
}

function store() {
  if (process.env.LATCHKEY_STORE !== 'redis') return undefined;
  const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    commandTimeout: 2000,
    connectTimeout: 2000,
    maxRetriesPerRequest: 1,
  });
  client.on('error', () => {}); // an outage surfaces as StoreUnavailable (503), not a crash
  return redisStore({ client, prefix: process.env.LATCHKEY_PREFIX ?? 'latchkey-next:' });
}

export const sessions = createSessions<AppSession>({
  keys: process.env.LATCHKEY_KEYS,
  store: store(),
  // Rolling sessions: proxy.ts re-issues the cookie once this much time passed since the last renewal.
  touchAfter: (process.env.LATCHKEY_TOUCH_AFTER ?? '5m') as Duration,
});

/** The current request's session: read-only in Server Components, writable in Server Actions. */
export async function currentSession() {
  return getSession(sessions, await cookies(), { headers: await headers() });
}
