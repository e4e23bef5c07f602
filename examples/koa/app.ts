/** The Koa example app: sign in, a counter, sign out, every form protected against CSRF. */
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import type { SessionsOptions } from 'latchkey';
import { csrf, session } from 'latchkey/koa';
import { csrfField, escapeHtml } from '../shared/html.ts';

// What this app keeps in its sessions: ctx.session.get('count') is a number everywhere.
declare module 'latchkey/koa' {
  interface SessionData {
    count: number;
  }
}

const USERNAME = /^[A-Za-z0-9_.-]{1,32}$/;

function page(userId: string | undefined, count: number, token: string): string {
  const hidden = csrfField(token);
  const body =
    userId === undefined
      ? `<p id="status">You are not signed in.</p>
        <form method="post" action="/login">${hidden}
          <label>Username <input name="username" required maxlength="32"></label>
          <button>Sign in</button>
        </form>`
      : `<p id="status">Signed in as <strong id="user">${escapeHtml(userId)}</strong>.</p>
        <p>Count: <span id="count">${count}</span></p>
        <form method="post" action="/count">${hidden}<button>Count</button></form>
        <form method="post" action="/logout">${hidden}<button>Sign out</button></form>`;
  return `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Latchkey on Koa</title></head>
  <body><h1>Latchkey on Koa</h1>${body}</body>
</html>`;
}

export function createApp(options: SessionsOptions): Koa {
  const app = new Koa();
  // Sessions, then the body parser, then CSRF: it reads the form's _csrf field and the session's secret.
  app.use(session(options));
  app.use(bodyParser({ enableTypes: ['form', 'json'], formLimit: '16kb' }));
  app.use(csrf());

  app.use(async (ctx) => {
    const { session } = ctx;
    switch (`${ctx.method} ${ctx.path}`) {
      case 'GET /':
        ctx.type = 'html';
        ctx.body = page(session.userId, session.get('count') ?? 0, ctx.state.csrfToken());
        return;
      case 'GET /api/session':
        ctx.body = { user: session.userId ?? null, count: session.get('count') ?? 0 };
        return;
      case 'POST /login': {
        const username = (ctx.request.body as Record<string, unknown> | undefined)?.username;
        if (typeof username !== 'string' || !USERNAME.test(username)) {
          ctx.status = 400;
          ctx.body = 'Choose a username';
          return;
        }
        // A real app checks a password here. login() issues a new cookie value (fixation defence).
        await session.login(username);
        ctx.status = 303;
        ctx.redirect('/');
        return;
      }
      case 'POST /count':
        if (session.userId === undefined) {
          ctx.status = 401;
          ctx.body = 'Sign in first';
          return;
        }
        session.set('count', (session.get('count') ?? 0) + 1);
        ctx.status = 303;
        ctx.redirect('/');
        return;
      case 'POST /logout':
        await session.destroy();
        ctx.status = 303;
        ctx.redirect('/');
        return;
      default:
        ctx.throw(404);
    }
  });
  return app;
}
