import { Hono } from 'hono';
import { setCookie } from 'hono/cookie';
import { type SessionEnv, sessionMiddleware } from '../../../src/adapters/hono.ts';
import type { Sessions } from '../../../src/core/sessions.ts';
import type { ScenarioData } from '../suite.ts';
import { errorBody } from './error-body.ts';

/** The scenario routes as a Hono app through latchkey/hono (no node: imports: workerd runs it). */
export function honoScenarioApp(sessions: Sessions<ScenarioData>) {
  const app = new Hono<SessionEnv<ScenarioData>>();
  app.use(sessionMiddleware({ sessions, onError: (error, c) => c.text(errorBody(error), 500) }));
  app.get('/read', (c) => {
    const session = c.get('session');
    return c.json({ isNew: session.isNew, data: session.data });
  });
  app.post('/set', (c) => {
    c.get('session').set(c.req.query('key') ?? '', c.req.query('value') ?? '');
    return c.json({ ok: true });
  });
  app.post('/login', async (c) => {
    await c.get('session').login(c.req.query('user') ?? '');
    return c.json({ ok: true });
  });
  app.post('/regenerate', async (c) => {
    await c.get('session').regenerate();
    return c.json({ ok: true });
  });
  app.post('/destroy', async (c) => {
    await c.get('session').destroy();
    return c.json({ ok: true });
  });
  app.post('/big', (c) => {
    c.get('session').set('big', 'x'.repeat(200_000));
    return c.json({ ok: true });
  });
  app.post('/two-cookies', (c) => {
    setCookie(c, 'app', '1', { path: '/' });
    c.get('session').set('two', 'yes');
    return c.json({ ok: true });
  });
  return app;
}
