import type { ErrorRequestHandler, Express } from 'express';
import express from 'express';
import express4 from 'express4';
import { session } from '../../../src/adapters/express.ts';
import type { Sessions } from '../../../src/core/sessions.ts';
import type { ScenarioApp, ScenarioData } from '../suite.ts';
import { errorBody, listen } from './serve.ts';

/** The scenario routes on Express 5 or Express 4, through latchkey/express's express-session API. */
export function expressApp(version: 4 | 5) {
  return (sessions: Sessions<ScenarioData>): Promise<ScenarioApp> => {
    const app = (version === 5 ? express() : (express4 as unknown as () => Express)()) as Express;
    const onError: ErrorRequestHandler = (error, _req, res, _next) => {
      res.status(500).send(errorBody(error));
    };
    app.use(
      session({
        sessions: sessions as never,
        onError: (error, _req, res) => {
          res.statusCode = 500;
          res.end(errorBody(error));
        },
      }),
    );
    app.get('/read', (req, res) => {
      // req.session.cookie is enumerable, as in express-session: the data is the rest.
      const { latchkey, cookie: _cookie, ...data } = req.session;
      res.json({ isNew: latchkey.isNew, data });
    });
    app.post('/set', (req, res) => {
      req.session[String(req.query.key)] = String(req.query.value);
      res.json({ ok: true });
    });
    app.post('/login', async (req, res) => {
      await req.session.latchkey.login(String(req.query.user));
      res.json({ ok: true });
    });
    app.post('/regenerate', (req, res, next) => {
      // express-session's regenerate starts an empty session; keeping the data is the app's choice.
      const { cookie: _cookie, ...data } = req.session;
      req.session.regenerate((error) => {
        if (error) return next(error);
        Object.assign(req.session, data);
        res.json({ ok: true });
      });
    });
    app.post('/destroy', async (req, res) => {
      await req.session.destroy();
      res.json({ ok: true });
    });
    app.post('/big', (req, res) => {
      req.session.big = 'x'.repeat(200_000);
      res.json({ ok: true });
    });
    app.post('/two-cookies', (req, res) => {
      res.cookie('app', '1', { path: '/' });
      req.session.two = 'yes';
      res.json({ ok: true });
    });
    app.use(onError);
    return listen(app);
  };
}
