import Koa from 'koa';
import { session } from '../../../src/adapters/koa.ts';
import type { Session } from '../../../src/core/session.ts';
import type { ScenarioData, StartScenarioApp } from '../suite.ts';
import { scenarioRoute } from './routes.ts';
import { errorBody, listen } from './serve.ts';

export const startKoaApp: StartScenarioApp = (sessions) => {
  const app = new Koa();
  app.use(
    session({
      sessions,
      onError: (error, ctx) => {
        ctx.body = errorBody(error);
      },
    }),
  );
  app.use(async (ctx) => {
    // ctx.session is typed by the app-wide SessionData; this app's sessions hold ScenarioData.
    const current = ctx.session as unknown as Session<ScenarioData>;
    const body = await scenarioRoute(
      `${ctx.method} ${ctx.path}`,
      current,
      (name) => String(ctx.query[name] ?? ''),
      () => ctx.cookies.set('app', '1', { httpOnly: false }),
    );
    if (body === undefined) {
      ctx.status = 404;
      ctx.body = 'not found';
      return;
    }
    ctx.body = body;
  });
  return listen(app.callback());
};
