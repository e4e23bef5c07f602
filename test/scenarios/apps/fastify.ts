import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import latchkey from '../../../src/adapters/fastify.ts';
import type { Session } from '../../../src/core/session.ts';
import type { ScenarioData, StartScenarioApp } from '../suite.ts';
import { errorBody } from './serve.ts';

export const startFastifyApp: StartScenarioApp = async (sessions) => {
  const app = Fastify();
  await app.register(latchkey, {
    sessions,
    onError: (error, _request, reply) => {
      reply.code(500);
      return errorBody(error);
    },
  });
  // The app may have augmented the session data type; this suite sets any string key.
  const session = (request: { session: unknown }) => request.session as Session<ScenarioData>;
  app.get('/read', async (request) => ({ isNew: session(request).isNew, data: session(request).data }));
  app.post<{ Querystring: { key?: string; value?: string } }>('/set', async (request) => {
    session(request).set(request.query.key ?? '', request.query.value ?? '');
    return { ok: true };
  });
  app.post<{ Querystring: { user?: string } }>('/login', async (request) => {
    await session(request).login(request.query.user ?? '');
    return { ok: true };
  });
  app.post('/regenerate', async (request) => {
    await session(request).regenerate();
    return { ok: true };
  });
  app.post('/destroy', async (request) => {
    await session(request).destroy();
    return { ok: true };
  });
  app.post('/big', async (request) => {
    session(request).set('big', 'x'.repeat(200_000));
    return { ok: true };
  });
  app.post('/two-cookies', async (request, reply) => {
    reply.header('set-cookie', 'app=1; Path=/');
    session(request).set('two', 'yes');
    return { ok: true };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
};
