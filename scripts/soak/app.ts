/**
 * One app process of the soak (scripts/soak/main.ts starts two): node:http with latchkey/node in store
 * mode, on the Redis server or the PostgreSQL table the soak names in its environment. It prints
 * `listening <port>` once it serves, and answers:
 *
 *   POST /login?user=U    session.login(U)
 *   GET  /read            { user, tabs }: the signed-in user and the per-tab counters
 *   POST /write?tab=N     adds one to the counter `tN` (only tab N of a client writes it), answers it
 *   POST /logout          session.destroy()
 *   POST /revoke-all      sessions.revokeUserSessions(user): sign out everywhere, this device included
 *   GET  /__stats         { pid, rss, heapUsed, loopDelayMaxMs, redisEnds }, outside the session
 *                         layer; the event loop's longest stall since the last call, and how many
 *                         times the node-redis client emitted 'end' (the soak never closes it during
 *                         a run: each one is redisStore reconnecting a client that was ready on a
 *                         dead socket, docs/stores/redis.md)
 *
 * Environment: LATCHKEY_KEYS, SOAK_STORE (redis | postgres), SOAK_REDIS_URL, SOAK_PG_TABLE,
 * SOAK_PG_APPLICATION_NAME, SOAK_RENEWAL (optional: tokenRenewal's `every`, such as `10s`). SOAK_SABOTAGE breaks the app on purpose, to show the soak catches it:
 * `lose-writes` drops every 50th counter change, `resurrect` makes logout keep the record.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { createClient } from 'redis';
import { withSession } from '../../src/adapters/node.ts';
import type { Duration } from '../../src/core/policy.ts';
import type { Session } from '../../src/core/session.ts';
import { createSessions } from '../../src/core/sessions.ts';
import { postgresStore } from '../../src/stores/postgres.ts';
import { redisStore } from '../../src/stores/redis.ts';
import type { SessionStore } from '../../src/stores/types.ts';

type Tabs = Record<string, number>;

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    console.error(`soak app: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

let redisEnds = 0;

async function openStore(): Promise<SessionStore> {
  if (env('SOAK_STORE') === 'redis') {
    // As docs/stores/redis.md advises: fail fast while the server is down (503), reconnect on its own.
    const client = createClient({
      url: env('SOAK_REDIS_URL'),
      disableOfflineQueue: true,
      socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(50 * retries, 500) },
      commandOptions: { timeout: 1000 },
    });
    client.on('error', () => {}); // reconnects are expected during the outage window
    client.on('end', () => redisEnds++);
    await client.connect();
    return redisStore({ client, prefix: 'soak:' });
  }
  const pool = new pg.Pool({
    host: '127.0.0.1',
    user: 'postgres',
    database: 'test',
    max: 16,
    connectionTimeoutMillis: 3000,
    application_name: env('SOAK_PG_APPLICATION_NAME'),
  });
  pool.on('error', () => {}); // an idle connection the soak terminated: the pool drops it and goes on
  return postgresStore({ client: pool, table: env('SOAK_PG_TABLE') });
}

const sabotage = process.env.SOAK_SABOTAGE ?? '';
let counterChanges = 0;

const tabKey = (url: URL): string | undefined => {
  const tab = url.searchParams.get('tab') ?? '';
  return /^[0-9]{1,2}$/.test(tab) ? `t${tab}` : undefined;
};

async function route(
  sessions: ReturnType<typeof createSessions<Tabs>>,
  req: IncomingMessage,
  session: Session<Tabs>,
): Promise<{ status: number; body: unknown }> {
  const url = new URL(req.url ?? '/', 'http://soak.invalid');
  const user = () => session.userId ?? null;
  switch (`${req.method} ${url.pathname}`) {
    case 'POST /login': {
      const id = url.searchParams.get('user') ?? '';
      if (!/^u[0-9]{1,6}$/.test(id)) return { status: 400, body: { error: 'user' } };
      await session.login(id);
      return { status: 200, body: { user: user() } };
    }
    case 'GET /read':
      return { status: 200, body: { user: user(), tabs: { ...session.data } } };
    case 'POST /write': {
      const key = tabKey(url);
      if (key === undefined) return { status: 400, body: { error: 'tab' } };
      if (session.userId === undefined) return { status: 200, body: { user: null } };
      const value = (session.get(key) ?? 0) + 1;
      counterChanges++;
      if (!(sabotage === 'lose-writes' && counterChanges % 50 === 0)) session.set(key, value);
      return { status: 200, body: { user: user(), value } };
    }
    case 'POST /logout':
      if (sabotage !== 'resurrect') await session.destroy();
      return { status: 200, body: { user: null } };
    case 'POST /revoke-all': {
      const id = session.userId;
      const revoked = id === undefined ? 0 : await sessions.revokeUserSessions(id);
      return { status: 200, body: { user: null, revoked } };
    }
    default:
      return { status: 404, body: { error: 'not found' } };
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// SOAK_RENEWAL=10s: tokens renew that often (grace: half of it), so renewals race everything else.
const renewal = process.env.SOAK_RENEWAL as Duration | undefined; // createSessions checks it
const sessions = createSessions<Tabs>({
  keys: env('LATCHKEY_KEYS'),
  store: await openStore(),
  trustProxy: true, // the soak's clients send x-forwarded-proto: https, so the __Host- cookie is right
  ...(renewal && { tokenRenewal: { every: renewal, grace: `${Number.parseInt(String(renewal), 10) / 2}s` } }),
});
const withSessions = withSession(sessions, async (req, res, session) => {
  const { status, body } = await route(sessions, req, session);
  send(res, status, body);
});
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const server = createServer((req, res) => {
  if (req.url === '/__stats') {
    const { rss, heapUsed } = process.memoryUsage();
    const loopDelayMaxMs = Math.round(loopDelay.max / 1e6);
    loopDelay.reset();
    send(res, 200, { pid: process.pid, rss, heapUsed, loopDelayMaxMs, redisEnds });
    return;
  }
  void withSessions(req, res);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stdout.write(`listening ${address.port}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 200).unref();
});
