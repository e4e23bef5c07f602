/**
 * The Hono example app: sign in, a counter, sign out, every form protected against CSRF.
 * `server.ts` serves it on node:http; on Bun, Deno or Workers, `export default app` instead.
 */
import { Hono } from 'hono';
import { html } from 'hono/html';
import type { SessionsOptions } from 'latchkey';
import { type CsrfEnv, csrf, type SessionEnv, sessionMiddleware } from 'latchkey/hono';

/** What this app keeps in its sessions. */
export interface ExampleData {
  count: number;
}

const USERNAME = /^[A-Za-z0-9_.-]{1,32}$/;

function page(userId: string | undefined, count: number, token: string) {
  const hidden = html`<input type="hidden" name="_csrf" value="${token}">`;
  const body =
    userId === undefined
      ? html`<p id="status">You are not signed in.</p>
          <form method="post" action="/login">${hidden}
            <label>Username <input name="username" required maxlength="32"></label>
            <button>Sign in</button>
          </form>`
      : html`<p id="status">Signed in as <strong id="user">${userId}</strong>.</p>
          <p>Count: <span id="count">${count}</span></p>
          <form method="post" action="/count">${hidden}<button>Count</button></form>
          <form method="post" action="/logout">${hidden}<button>Sign out</button></form>`;
  return html`<!doctype html>
    <html lang="en">
      <head><meta charset="utf-8"><title>Latchkey on Hono</title></head>
      <body><h1>Latchkey on Hono</h1>${body}</body>
    </html>`;
}

export function createApp(options: SessionsOptions) {
  const app = new Hono<SessionEnv<ExampleData> & CsrfEnv>();
  // Sessions first, then CSRF: it keeps its secret in the session.
  app.use(sessionMiddleware<ExampleData>(options), csrf());

  app.get('/', (c) => {
    const session = c.get('session');
    return c.html(page(session.userId, session.get('count') ?? 0, c.get('csrfToken')()));
  });

  app.get('/api/session', (c) => {
    const session = c.get('session');
    return c.json({ user: session.userId ?? null, count: session.get('count') ?? 0 });
  });

  app.post('/login', async (c) => {
    const { username } = await c.req.parseBody();
    if (typeof username !== 'string' || !USERNAME.test(username)) return c.text('Choose a username', 400);
    // A real app checks a password here. login() issues a new cookie value (fixation defence).
    await c.get('session').login(username);
    return c.redirect('/', 303);
  });

  app.post('/count', (c) => {
    const session = c.get('session');
    if (session.userId === undefined) return c.text('Sign in first', 401);
    session.set('count', (session.get('count') ?? 0) + 1);
    return c.redirect('/', 303);
  });

  app.post('/logout', async (c) => {
    await c.get('session').destroy();
    return c.redirect('/', 303);
  });

  return app;
}
