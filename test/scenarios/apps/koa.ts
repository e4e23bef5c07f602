import Koa from 'koa';
import { session } from '../../../src/adapters/koa.ts';
import type { Session } from '../../../src/core/session.ts';
import type { ScenarioData, StartScenarioApp } from '../suite.ts';
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
    switch (`${ctx.method} ${ctx.path}`) {
      case 'GET /read':
        ctx.body = { isNew: current.isNew, data: current.data };
        return;
      case 'POST /set':
        current.set(String(ctx.query.key ?? ''), String(ctx.query.value ?? ''));
        break;
      case 'POST /regenerate':
        await current.regenerate();
        break;
      case 'POST /destroy':
        await current.destroy();
        break;
      case 'POST /big':
        current.set('big', 'x'.repeat(200_000));
        break;
      case 'POST /two-cookies':
        ctx.cookies.set('app', '1', { httpOnly: false });
        current.set('two', 'yes');
        break;
      default:
        ctx.status = 404;
        ctx.body = 'not found';
        return;
    }
    ctx.body = { ok: true };
  });
  return listen(app.callback());
};
