/**
 * creationLimit through every adapter's default failure answer: a refused creation is a 429 with
 * Retry-After, the code in the body, no cookie and no record (issue 14 §2). Each adapter gets the
 * client's address its own way: a node socket, a Bun-style `requestIP`, Hono's node-server bindings,
 * Fastify's `request.raw`.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { listen } from '../../test/scenarios/apps/serve.ts';
import type { ScenarioApp } from '../../test/scenarios/suite.ts';
import { countingStore } from '../../test/support/sessions.ts';
import type { Session } from '../core/session.ts';
import { createSessions, type Sessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import expressSession from './express.ts';
import latchkey from './fastify.ts';
import { withSession as fetchWithSession } from './fetch.ts';
import { sessionMiddleware } from './hono.ts';
import { session as koaSession } from './koa.ts';
import { withSession as nodeWithSession } from './node.ts';

type Data = { n: number };
const keys = generateKeyLine('k1');
const servers: ScenarioApp[] = [];
after(() => Promise.all(servers.map((server) => server.close())));

function limited() {
  const { store, calls } = countingStore(memoryStore());
  const sessions = createSessions<Data>({
    keys,
    development: true,
    store,
    creationLimit: { perClient: { count: 2, within: '1h' } },
  });
  return { sessions, created: () => calls.filter((call) => call === 'create').length };
}

type Answer = { status: number; body: string; retryAfter: string | null; setCookie: string[] };
const answerOf = async (response: Response): Promise<Answer> => ({
  status: response.status,
  body: await response.text(),
  retryAfter: response.headers.get('retry-after'),
  setCookie: response.headers.getSetCookie(),
});

/** Each adapter: an app on `sessions` whose one route puts a value in the session; one cookieless call. */
const adapters: Array<[string, (sessions: Sessions<Data>) => Promise<() => Promise<Answer>>]> = [
  [
    'node',
    async (sessions) => {
      const app = await listen(
        nodeWithSession(sessions, (_req, res, session) => {
          session.set('n', 1);
          res.end('ok');
        }),
      );
      servers.push(app);
      return async () => answerOf(await fetch(app.url));
    },
  ],
  [
    'express',
    async (sessions) => {
      const app = express();
      app.use(expressSession({ sessions }));
      app.get('/', (req, res) => {
        (req.session as unknown as { n: number }).n = 1;
        res.send('ok');
      });
      const server = await listen(app);
      servers.push(server);
      return async () => answerOf(await fetch(server.url));
    },
  ],
  [
    'koa',
    async (sessions) => {
      const app = new Koa();
      app.silent = true;
      app.use(koaSession({ sessions })).use((ctx) => {
        (ctx.session as unknown as Session<Data>).set('n', 1);
        ctx.body = 'ok';
      });
      const server = await listen(app.callback());
      servers.push(server);
      return async () => answerOf(await fetch(server.url));
    },
  ],
  [
    'fastify',
    async (sessions) => {
      const app = Fastify();
      await app.register(latchkey, { sessions });
      app.get('/', async (request) => {
        (request.session as unknown as Session<Data>).set('n', 1);
        return 'ok';
      });
      return async () => {
        const reply = await app.inject({ url: '/', remoteAddress: '203.0.113.4' });
        const setCookie = reply.headers['set-cookie'];
        return {
          status: reply.statusCode,
          body: reply.body,
          retryAfter: (reply.headers['retry-after'] as string | undefined) ?? null,
          setCookie: setCookie === undefined ? [] : ([] as string[]).concat(setCookie),
        };
      };
    },
  ],
  [
    'fetch',
    async (sessions) => {
      type Bun = { requestIP(request: Request): { address: string } };
      const handler = fetchWithSession(sessions, (_request, session, _server: Bun) => {
        session.set('n', 1);
        return new Response('ok');
      });
      // Bun.serve passes its server, whose requestIP gives the peer.
      const bun = { requestIP: () => ({ address: '203.0.113.4' }) };
      return async () => answerOf(await handler(new Request('http://localhost/'), bun));
    },
  ],
  [
    'hono',
    async (sessions) => {
      const app = new Hono().use(sessionMiddleware({ sessions })).get('/', (c) => {
        (c.get('session') as unknown as Session<Data>).set('n', 1);
        return c.text('ok');
      });
      // @hono/node-server's bindings carry the node request.
      const env = { incoming: { socket: { remoteAddress: '203.0.113.4' } } };
      return async () => answerOf(await app.request('http://localhost/', {}, env));
    },
  ],
];

describe('creationLimit through the adapters: 429 with Retry-After, no cookie, no record', () => {
  for (const [name, start] of adapters) {
    test(name, async (t) => {
      t.mock.method(console, 'error', () => {});
      const { sessions, created } = limited();
      const call = await start(sessions);
      const answers: Answer[] = [];
      for (let i = 0; i < 5; i++) answers.push(await call());
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [200, 200, 429, 429, 429],
      );
      for (const answer of answers.slice(0, 2)) assert.equal(answer.setCookie.length, 1);
      for (const answer of answers.slice(2)) {
        assert.equal(answer.body, 'Too Many Requests (ERR_LATCHKEY_RATE_LIMITED)');
        assert.ok(
          Number(answer.retryAfter) >= 1800 && Number(answer.retryAfter) <= 3600,
          `${answer.retryAfter}`,
        );
        assert.deepEqual(answer.setCookie, []);
      }
      assert.equal(created(), 2);
    });
  }
});
