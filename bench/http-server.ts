/**
 * One server of bench/http.ts, in its own process:
 *
 *   node --import tsx bench/http-server.ts <config id>    (the runner imports scripts/register-src.mjs instead for --source)
 *
 * It listens on a free loopback port and prints `ready <port>` when it can take requests. One route:
 *
 *   GET /   read the counter `n` from the session, add one, store it back, answer `{"n":<new value>}`
 *           as JSON; a request without a session starts one with n = 1. The configurations without a
 *           session answer a process-wide counter in the same shape.
 *
 * Every key, secret and password is drawn from node:crypto when the server starts; none is written
 * anywhere. It stops on SIGTERM (the runner kills it by PID).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import { getIronSession } from 'iron-session';
import { createSessions, generateKeyLine, type Session, type Sessions } from 'latchkey';
import { sessionMiddleware as fetchSessionMiddleware } from 'latchkey/fetch';
import type { SessionEnv } from 'latchkey/hono';
import { sessionMiddleware as nodeSessionMiddleware, withSession } from 'latchkey/node';
import { CONFIGS, type HttpConfig } from './http-configs.ts';
import {
  type HandwrittenSessions,
  handwrittenMustsSessions,
  handwrittenSessions,
  MUST_HEADERS,
} from './http-handwritten.ts';

type Data = { n: number };

const require = createRequire(import.meta.url);

// Loaded untyped on purpose. @types/express-session was removed from the project (its global
// `Express.Request['session']` clashes with latchkey/express), and @fastify/secure-session's types
// declare `FastifyRequest['session']` globally, which would clash with latchkey/fastify's for every file
// of the project. cookie-session ships no types.
const expressSession = require('express-session') as (options: {
  secret: string;
  resave: boolean;
  saveUninitialized: boolean;
  cookie: { maxAge: number; secure: boolean };
}) => RequestHandler;
const cookieSession = require('cookie-session') as (options: {
  name: string;
  keys: string[];
  maxAge: number;
  secure: boolean;
}) => RequestHandler;
const secureSession = require('@fastify/secure-session') as (
  instance: FastifyInstance,
  options: { key: Buffer; cookieName: string; cookie: { path: string; httpOnly: boolean } },
) => Promise<void>;

/** The session object each library puts on the request, as far as this server touches it. */
interface PropertySession {
  n?: number;
}
interface GetSetSession {
  get(key: 'n'): number | undefined;
  set(key: 'n', value: number): void;
}
const propertySession = (req: unknown) => (req as { session: PropertySession }).session;
const getSetSession = (req: unknown) => (req as { session: GetSetSession }).session;

/** What every session configuration does per request: add one to the counter `n` and return it. */
function bump(session: GetSetSession): number {
  const n = (session.get('n') ?? 0) + 1;
  session.set('n', n);
  return n;
}

// latchkey/express, latchkey/fastify and latchkey/hono are imported by their package name, as an app
// would (from dist/, or src/ under --source: see prepareLatchkey in bench/common.ts), and only by the
// server that uses them.

const [id] = process.argv.slice(2);
const config = CONFIGS.find((c) => c.id === id);
if (!config) {
  process.stderr.write(`usage: http-server.ts <${CONFIGS.map((c) => c.id).join('|')}>\n`);
  process.exit(2);
}

/**
 * Latchkey in cookie mode: a fresh random key, `development: true` (the cookie is `lk`, without Secure,
 * as plain-HTTP loopback needs; the other libraries here are set up without Secure likewise).
 */
function latchkeySessions(): { sessions: Sessions<Data>; keys: string } {
  const keys = generateKeyLine('k1');
  return { sessions: createSessions<Data>({ keys, development: true }), keys };
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;
/** The body of every response: `{"n":…}`. */
const body = (n: number) => JSON.stringify({ n });
let counter = 0;

/**
 * The node:http answer: with a Content-Length, as Express, Fastify and the Hono bridge send. `extra`:
 * headers that go with the Set-Cookie.
 */
function json(res: ServerResponse, n: number, setCookie?: string, extra?: Record<string, string>): void {
  const text = body(n);
  res.writeHead(200, {
    ...JSON_HEADERS,
    'content-length': Buffer.byteLength(text),
    ...(setCookie === undefined ? {} : { 'set-cookie': setCookie }),
    ...extra,
  });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------------
// A minimal Fetch bridge for Hono on node:http (@hono/node-server is not a dependency). GET/HEAD only
// carry no body; anything else streams the request body through. Every Set-Cookie stays its own line.

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, {
    method,
    headers,
    ...(hasBody ? { body: req as unknown as ReadableStream, duplex: 'half' } : {}),
  } as RequestInit);
}

async function sendResponse(response: Response, res: ServerResponse): Promise<void> {
  const data = response.body === null ? undefined : Buffer.from(await response.arrayBuffer());
  const headers: string[] = [];
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers.push(name, value);
  });
  for (const line of response.headers.getSetCookie()) headers.push('set-cookie', line);
  if (data !== undefined && !response.headers.has('content-length'))
    headers.push('content-length', String(data.length));
  res.writeHead(response.status, headers);
  res.end(data);
}

function fetchBridge(fetch: (request: Request) => Response | Promise<Response>): RequestListener {
  return (req, res) => {
    Promise.resolve()
      .then(() => fetch(toRequest(req)))
      .then((response) => sendResponse(response, res))
      .catch((error: unknown) => {
        console.error('bridge:', error);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
  };
}

// ---------------------------------------------------------------------------------------------------
// The configurations

type Server = { kind: 'listener'; listener: RequestListener } | { kind: 'fastify'; app: FastifyInstance };

/** The node:http route with a hand-written cookie session; `extra` headers go with its Set-Cookie. */
function handwrittenRoute(sessions: HandwrittenSessions, extra?: Record<string, string>): RequestListener {
  return (req, res) => {
    const data = sessions.load(req.headers.cookie);
    const n = (typeof data.n === 'number' ? data.n : 0) + 1;
    data.n = n;
    json(res, n, sessions.setCookie(data), extra);
  };
}

async function build(config: HttpConfig): Promise<Server> {
  const listener = (l: RequestListener): Server => ({ kind: 'listener', listener: l });
  switch (config.id) {
    case 'http':
      return listener((_req, res) => json(res, ++counter));

    case 'handwritten':
      return listener(handwrittenRoute(handwrittenSessions(randomBytes(32))));

    case 'handwritten-musts':
      return listener(handwrittenRoute(handwrittenMustsSessions(randomBytes(32)), MUST_HEADERS));

    case 'lk-http':
      return listener(
        withSession(latchkeySessions().sessions, (_req, res, session) => json(res, bump(session))),
      );

    case 'iron-session': {
      const password = randomBytes(32).toString('base64url'); // 43 characters; iron-session wants ≥ 32
      return listener((req, res) => {
        getIronSession<Data>(req, res, {
          password,
          cookieName: 'iron',
          cookieOptions: { secure: false },
        })
          .then(async (session) => {
            const n = (session.n ?? 0) + 1;
            session.n = n;
            await session.save();
            json(res, n);
          })
          .catch((error: unknown) => {
            console.error('iron-session:', error);
            res.writeHead(500);
            res.end();
          });
      });
    }

    case 'express':
    case 'handwritten-express':
    case 'handwritten-musts-express':
    case 'handwritten-express-mw':
    case 'lk-express':
    case 'lk-express-mw':
    case 'lk-express-legacy':
    case 'express-session':
    case 'cookie-session': {
      const app = express();
      app.disable('x-powered-by');
      if (config.id === 'express') {
        app.get('/', (_req, res) => {
          res.json({ n: ++counter });
        });
        return listener(app);
      }
      if (config.id === 'handwritten-express' || config.id === 'handwritten-musts-express') {
        // The practical limit on Express: no middleware, the cookie opened and sealed in the route (with
        // only the musts, for the second).
        const musts = config.id === 'handwritten-musts-express';
        const hw = (musts ? handwrittenMustsSessions : handwrittenSessions)(randomBytes(32));
        app.get('/', (req, res) => {
          const data = hw.load(req.headers.cookie);
          const n = (typeof data.n === 'number' ? data.n : 0) + 1;
          data.n = n;
          res.setHeader('set-cookie', hw.setCookie(data));
          if (musts) res.set(MUST_HEADERS);
          res.json({ n });
        });
        return listener(app);
      }
      if (config.id === 'lk-express-mw') {
        app.use(nodeSessionMiddleware(latchkeySessions().sessions));
        app.get('/', (req, res) => {
          res.json({ n: bump((req as unknown as { session: Session<Data> }).session) });
        });
        return listener(app);
      }
      if (config.id === 'handwritten-express-mw') {
        // The same cookie as a minimal middleware, the way express-session hooks in (on-headers): the
        // floor for any middleware that gives `req.session`, since Express charges for the extra layer
        // and for the properties it adds to req and res.
        const hw = handwrittenSessions(randomBytes(32));
        app.use((req, res, next) => {
          const data = hw.load(req.headers.cookie);
          (req as unknown as { session: PropertySession }).session = data;
          const writeHead = res.writeHead as (...args: unknown[]) => ServerResponse;
          res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
            this.setHeader('set-cookie', hw.setCookie(data));
            return writeHead.apply(this, args);
          } as typeof res.writeHead;
          next();
        });
      } else if (config.id === 'lk-express') {
        const { default: session } = await import('latchkey/express');
        app.use(session({ keys: latchkeySessions().keys, development: true }));
      } else if (config.id === 'lk-express-legacy') {
        // Two old libraries' readers, as an app moving users over would configure them; the client
        // never sends either old cookie, so neither reader is asked (docs/legacy.md).
        const { default: session } = await import('latchkey/express');
        const legacy = await import('latchkey/legacy');
        const MemoryStore = (require('express-session') as { MemoryStore: new () => never }).MemoryStore;
        app.use(
          session({
            keys: latchkeySessions().keys,
            development: true,
            legacy: [
              legacy.expressSession({
                secret: randomBytes(32).toString('base64url'),
                store: new MemoryStore(),
              }),
              legacy.ironSession({ cookieName: 'iron', password: randomBytes(32).toString('base64url') }),
            ],
            legacyUntil: new Date(Date.now() + 30 * 24 * 3600 * 1000),
          }),
        );
      } else if (config.id === 'express-session') {
        app.use(
          expressSession({
            secret: randomBytes(32).toString('base64url'),
            resave: false,
            saveUninitialized: false,
            // With maxAge the cookie is sent again on every request that changes the session, as a
            // rolling login cookie would be; without it express-session sends it only once.
            cookie: { maxAge: 24 * 3600 * 1000, secure: false },
          }),
        );
      } else {
        app.use(
          cookieSession({
            name: 'cs',
            keys: [randomBytes(32).toString('base64url')],
            maxAge: 24 * 3600 * 1000,
            secure: false,
          }),
        );
      }
      // latchkey/express, express-session, cookie-session and the hand-written middleware all expose the
      // session's data as properties.
      app.get('/', (req, res) => {
        const session = propertySession(req);
        const n = (session.n ?? 0) + 1;
        session.n = n;
        res.json({ n });
      });
      return listener(app);
    }

    case 'fastify':
    case 'handwritten-fastify':
    case 'handwritten-musts-fastify':
    case 'lk-fastify':
    case 'secure-session': {
      const app = Fastify({ logger: false });
      if (config.id === 'fastify') {
        app.get('/', async () => ({ n: ++counter }));
        return { kind: 'fastify', app };
      }
      if (config.id === 'handwritten-fastify' || config.id === 'handwritten-musts-fastify') {
        // The practical limit on Fastify: no plugin, the cookie opened and sealed in the route (with
        // only the musts, for the second).
        const musts = config.id === 'handwritten-musts-fastify';
        const hw = (musts ? handwrittenMustsSessions : handwrittenSessions)(randomBytes(32));
        app.get('/', async (request, reply) => {
          const data = hw.load(request.headers.cookie);
          const n = (typeof data.n === 'number' ? data.n : 0) + 1;
          data.n = n;
          reply.header('set-cookie', hw.setCookie(data));
          if (musts) reply.headers(MUST_HEADERS);
          return { n };
        });
        return { kind: 'fastify', app };
      }
      if (config.id === 'lk-fastify') {
        const { default: latchkey } = await import('latchkey/fastify');
        await app.register(latchkey, { sessions: latchkeySessions().sessions });
      } else {
        await app.register(secureSession, {
          key: randomBytes(32),
          cookieName: 'ss',
          cookie: { path: '/', httpOnly: true },
        });
      }
      app.get('/', async (request) => ({ n: bump(getSetSession(request)) }));
      return { kind: 'fastify', app };
    }

    case 'hono':
      return listener(fetchBridge(new Hono().get('/', (c) => c.json({ n: ++counter })).fetch));

    case 'lk-hono': {
      const { sessionMiddleware } = await import('latchkey/hono');
      const app = new Hono<SessionEnv<Data>>();
      app.use(sessionMiddleware({ sessions: latchkeySessions().sessions }));
      app.get('/', (c) => c.json({ n: bump(c.get('session')) }));
      return listener(fetchBridge(app.fetch));
    }

    case 'lk-hono-fetch': {
      const app = new Hono<{ Variables: { session: Session<Data> } }>();
      app.use(fetchSessionMiddleware(latchkeySessions().sessions));
      app.get('/', (c) => c.json({ n: bump(c.get('session')) }));
      return listener(fetchBridge(app.fetch));
    }
  }
  throw new TypeError(`no server for ${config.id}`);
}

const server = await build(config);
let close: () => void;
let port: number;
if (server.kind === 'fastify') {
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  port = (server.app.server.address() as AddressInfo).port;
  close = () => {
    server.app.server.closeAllConnections();
  };
} else {
  const http = createServer(server.listener);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = (http.address() as AddressInfo).port;
  close = () => http.closeAllConnections();
}
process.on('SIGTERM', () => {
  close();
  process.exit(0);
});
process.stdout.write(`ready ${port}\n`);
