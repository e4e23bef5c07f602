/**
 * One server of bench/store.ts, in its own process:
 *
 *   node --import tsx bench/store-server.ts <config id> '<ServerOptions as JSON>'
 *
 * It listens on a free loopback port and prints `ready <port>` when it can take requests. Routes:
 *
 *   GET /       read the counter `n` from the session, add one, store it, answer its new value (every request
 *               writes); a request without a session creates one with n = 1
 *   GET /peek   answer `n` without changing the session (for the runner's checks; not timed)
 *
 * It stops on SIGTERM (the runner kills it by PID).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { createSessions, generateKeyLine, type Session, type SessionStore } from 'latchkey';
import { xaesKey } from 'latchkey/crypto';
import { sessionMiddleware, withSession } from 'latchkey/node';
import { fsStore } from 'latchkey/stores/fs';
import { postgresStore } from 'latchkey/stores/postgres';
import { redisStore } from 'latchkey/stores/redis';
import pg from 'pg';
import { createClient } from 'redis';
import { CONFIGS, PG, REDIS_URL, type ServerOptions } from './store-configs.ts';

type Data = { n: number };

// express-session and connect-redis are loaded untyped on purpose: importing them would bring in
// @types/express-session, whose global `Express.Request['session']` clashes with Latchkey's
// `sessionMiddleware` typing for every file of the project (src/adapters/node-middleware.test.ts included).
const require = createRequire(import.meta.url);
const session = require('express-session') as (options: {
  store: unknown;
  secret: string;
  resave: boolean;
  saveUninitialized: boolean;
  cookie: { secure: boolean };
}) => RequestHandler;
const { RedisStore } = require('connect-redis') as {
  RedisStore: new (options: { client: unknown; prefix: string }) => object;
};
/** What express-session puts on the request: the session object, holding our counter. */
const esSession = (req: unknown) => (req as { session: { n?: number } }).session;

const [id, optionsJson] = process.argv.slice(2);
const config = CONFIGS.find((c) => c.id === id);
if (!config || optionsJson === undefined) {
  process.stderr.write(`usage: store-server.ts <${CONFIGS.map((c) => c.id).join('|')}> '<options JSON>'\n`);
  process.exit(2);
}
const options = JSON.parse(optionsJson) as ServerOptions;

const closers: Array<() => Promise<unknown>> = [];

async function redisClient() {
  // One connection, as an app would have; node-redis pipelines concurrent commands on it.
  const client = createClient({ url: REDIS_URL });
  client.on('error', (error: unknown) => console.error('redis client:', error));
  await client.connect();
  closers.push(() => client.close());
  return client;
}

async function latchkeyStore(): Promise<SessionStore> {
  switch (config!.store) {
    case 'redis':
      return redisStore({
        client: await redisClient(),
        prefix: options.redisPrefix,
        ...(options.storeTimeout !== undefined && { timeout: options.storeTimeout }),
      });
    case 'postgres': {
      // pg's default pool: at most 10 connections; the other requests queue for one.
      const pool = new pg.Pool({ ...PG });
      pool.on('error', (error) => console.error('pg pool:', error));
      closers.push(() => pool.end());
      return postgresStore({ client: pool, table: options.pgTable });
    }
    case 'fs':
      return fsStore({ dir: options.fsDir });
    case 'memory':
      throw new Error('memory is the no-library ceiling only');
  }
}

/** The `sid` cookie of the ceilings (a random 16-byte id: 22 characters) and of the minimal session (a 43-character token). */
function sidOf(req: IncomingMessage, length: number): string | undefined {
  const header = req.headers.cookie;
  const at = header?.indexOf('sid=') ?? -1;
  return at === -1 ? undefined : header!.slice(at + 4, at + 4 + length);
}

/**
 * The ceilings (library 'none'): Express, a random cookie id and the counter under it, in Redis (GET,
 * then SET with a TTL: the two round trips of any Redis-backed session) or in a Map. No crypto, no
 * signing, no expiry check: an upper bound for any session library on Express, not a way to build one.
 */
async function ceiling(): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const map = new Map<string, number>();
  const client = config!.store === 'redis' ? await redisClient() : undefined;
  const read = async (id: string | undefined): Promise<number | undefined> => {
    if (id === undefined) return undefined;
    if (client === undefined) return map.get(id);
    const value = await client.get(options.redisPrefix + id);
    return value === null ? undefined : Number(value);
  };
  const write = async (id: string, n: number): Promise<void> => {
    if (client === undefined) map.set(id, n);
    else await client.set(options.redisPrefix + id, String(n), { EX: 86_400 });
  };
  const app = express();
  app.get('/', (req, res, next) => {
    const known = sidOf(req, 22);
    read(known)
      .then(async (stored) => {
        const id = stored === undefined ? randomBytes(16).toString('base64url') : known!;
        const n = (stored ?? 0) + 1;
        await write(id, n);
        if (stored === undefined) res.setHeader('set-cookie', `sid=${id}; Path=/; HttpOnly`);
        res.send(String(n));
      })
      .catch(next);
  });
  app.get('/peek', (req, res, next) => {
    read(sidOf(req, 22)).then((n) => res.send(String(n ?? 0)), next);
  });
  return app;
}

function text(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

/** A compare-and-set for the minimal store session: replace the record only at the expected version. */
const CAS_SCRIPT = `local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. '.' then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;
const IDLE_MS = 3_600_000;
const ABSOLUTE_MS = 24 * 3_600_000;

/**
 * The minimal store session (MUSTS_ID in bench/store-configs.ts): only the design's musts, written by
 * hand. A record is `<version>.<base64url(nonce ‖ XAES-256-GCM(clocks and data))>`, sealed with its
 * store key as associated data. NOT a way to build sessions: it is a bound for the benchmark.
 */
async function musts(): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const client = await redisClient();
  const sha = await client.scriptLoad(CAS_SCRIPT);
  const xaes = xaesKey(randomBytes(32));
  const keyOf = (token: string) =>
    options.redisPrefix + createHash('sha256').update(token).digest('base64url');
  type Sealed = { c: number; a: number; d: { n?: number } };
  const seal = (key: string, version: number, state: Sealed) => {
    const nonce = randomBytes(24);
    const body = xaes.seal(nonce, JSON.stringify(state), Buffer.from(key));
    return `${version}.${Buffer.concat([nonce, body]).toString('base64url')}`;
  };
  /** The live record under `key`: its version and state, or undefined. */
  const read = async (key: string): Promise<{ version: number; state: Sealed } | undefined> => {
    const value = await client.get(key);
    const dot = value?.indexOf('.') ?? -1;
    if (value === null || value === undefined || dot < 1) return undefined;
    try {
      const bytes = Buffer.from(value.slice(dot + 1), 'base64url');
      const plain = xaes.open(bytes.subarray(0, 24), bytes.subarray(24), Buffer.from(key));
      const state = JSON.parse(Buffer.from(plain).toString('utf8')) as Sealed;
      const now = Date.now();
      if (now - state.a >= IDLE_MS || now - state.c >= ABSOLUTE_MS) return undefined;
      return { version: Number(value.slice(0, dot)), state };
    } catch {
      return undefined;
    }
  };
  const tokenOf = (req: IncomingMessage) => sidOf(req, 43); // 32 bytes in base64url
  const app = express();
  app.get('/', (req, res, next) => {
    const token = tokenOf(req);
    (async () => {
      const key = token === undefined ? undefined : keyOf(token);
      let found = key === undefined ? undefined : await read(key);
      const now = Date.now();
      if (found === undefined || key === undefined) {
        const fresh = randomBytes(32).toString('base64url');
        const freshKey = keyOf(fresh);
        const state: Sealed = { c: now, a: now, d: { n: 1 } };
        await client.set(freshKey, seal(freshKey, 1, state), { PX: IDLE_MS, NX: true });
        res.setHeader('set-cookie', `sid=${fresh}; Path=/; HttpOnly; Secure; SameSite=Lax`);
        res.setHeader('cache-control', 'no-store');
        res.send('1');
        return;
      }
      for (let attempt = 0; ; attempt++) {
        const state = { ...found.state, a: now, d: { ...found.state.d, n: (found.state.d.n ?? 0) + 1 } };
        const next = seal(key, found.version + 1, state);
        const ok = await client.evalSha(sha, {
          keys: [key],
          arguments: [String(found.version), next, String(IDLE_MS)],
        });
        if (ok === 1) {
          res.send(String(state.d.n));
          return;
        }
        found = attempt < 3 ? await read(key) : undefined;
        if (found === undefined) throw new TypeError('the session went, or kept conflicting');
      }
    })().catch(next);
  });
  app.get('/peek', (req, res, next) => {
    const token = tokenOf(req);
    (token === undefined ? Promise.resolve(undefined) : read(keyOf(token))).then(
      (found) => res.send(String(found?.state.d.n ?? 0)),
      next,
    );
  });
  return app;
}

async function handler(): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  if (config!.library === 'none') return ceiling();
  if (config!.library === 'musts') return musts();
  if (config!.library === 'express-session') {
    const app = express();
    app.use(
      session({
        store: new RedisStore({ client: await redisClient(), prefix: options.redisPrefix }),
        secret: 'latchkey-bench-not-a-secret',
        resave: false,
        saveUninitialized: false,
        cookie: { secure: false },
      }),
    );
    app.get('/', (req, res) => {
      const s = esSession(req);
      s.n = (s.n ?? 0) + 1;
      res.send(String(s.n));
    });
    app.get('/peek', (req, res) => {
      res.send(String(esSession(req).n ?? 0));
    });
    return app;
  }

  const sessions = createSessions<Data>({
    keys: generateKeyLine('k1'),
    store: await latchkeyStore(),
    trustProxy: true,
  });
  if (config!.framework === 'node:http') {
    return withSession(sessions, (req, res, s) => {
      if (req.url === '/peek') return text(res, String(s.get('n') ?? 0));
      const n = (s.get('n') ?? 0) + 1;
      s.set('n', n);
      text(res, String(n));
    });
  }
  const app = express();
  app.use(sessionMiddleware(sessions));
  const sessionOf = (req: unknown) => (req as { session: Session<Data> }).session;
  app.get('/', (req, res) => {
    const s = sessionOf(req);
    const n = (s.get('n') ?? 0) + 1;
    s.set('n', n);
    res.send(String(n));
  });
  app.get('/peek', (req, res) => {
    res.send(String(sessionOf(req).get('n') ?? 0));
  });
  return app;
}

const server = createServer(await handler());
process.on('SIGTERM', () => {
  server.closeAllConnections();
  const deadline = new Promise((resolve) => setTimeout(resolve, 300).unref());
  void Promise.race([Promise.allSettled(closers.map((close) => close())), deadline]).then(() =>
    process.exit(0),
  );
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
