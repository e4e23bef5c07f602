/**
 * Latchkey on Express 5, with express-session's API: sign-in and sign-out, a visit counter, and a
 * form protected by CSRF tokens. Cookie mode: the whole session is sealed in the cookie, no store to run.
 *
 *   node --import ./scripts/register-src.mjs examples/express/server.ts
 *
 * Keys come from LATCHKEY_KEYS (`npx latchkey keygen`); then the cookie is `__Host-lk` with Secure, so
 * serve it over HTTPS. Without LATCHKEY_KEYS it runs in development mode: plain HTTP, cookie `lk`, and
 * a random key that lasts until the process exits.
 *
 * LATCHKEY_STORE=memory runs it in store mode instead (an in-memory store: one process, and sessions
 * end when it exits), which adds the signed-in user's device list at /api/devices.
 */
import { createServer } from 'node:http';
import express, { type ErrorRequestHandler, type Request } from 'express';
import session, { csrf } from 'latchkey/express';
import { memoryStore } from 'latchkey/stores/memory';
import { renderNotePage } from '../shared/html.ts';
import { serve } from '../shared/serve.ts';

// req.session is untyped here (its values are `unknown`), so the handlers check what they read. To
// type it, augment SessionData once in your app (docs/guides/express.md, "Typing your session data"):
//   declare module 'latchkey/express' { interface SessionData { userName: string; visits: number } }

const USER_NAME = /^[\p{L}\p{N} ._-]{1,40}$/u;
const keys = process.env.LATCHKEY_KEYS || undefined;
const storeMode = process.env.LATCHKEY_STORE === 'memory';

const sessionMiddleware = session({
  keys,
  development: keys === undefined,
  // express-session's option names. cookie.maxAge (ms) is the idle timeout, enforced on the server, and
  // makes the cookie persistent as in express-session.
  cookie: { maxAge: 30 * 60 * 1000, sameSite: 'lax' },
  // Latchkey's own: the session ends 12 hours after sign-in whatever the activity.
  absoluteTimeout: '12h',
  ...(storeMode ? { store: memoryStore() } : {}),
});

const app = express();
app.disable('x-powered-by');
app.use(express.urlencoded({ extended: false, limit: '4kb' }));
app.use(sessionMiddleware);
app.use(csrf()); // every POST below needs the page's token (the `_csrf` field) and an Origin of this site

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const field = (req: Request, name: string): string => String(req.body?.[name] ?? '').trim();

app.get('/', (req, res) => {
  const visits = (typeof req.session.visits === 'number' ? req.session.visits : 0) + 1;
  req.session.visits = visits;
  res.type('html').send(
    renderNotePage('Express', {
      userName: text(req.session.userName),
      visits,
      note: text(req.session.note),
      // The latchkey door: one-time messages that survive the redirect.
      notice: req.session.latchkey.takeFlash<string>('notice'),
      csrfToken: req.csrfToken(),
      devices: storeMode,
    }),
  );
});

app.get('/api/session', (req, res) => {
  res.json({
    signedIn: req.session.latchkey.userId !== undefined,
    userName: text(req.session.userName) ?? null,
    visits: typeof req.session.visits === 'number' ? req.session.visits : 0,
    note: text(req.session.note) ?? null,
  });
});

if (storeMode) {
  app.get('/api/devices', async (req, res) => {
    const userId = req.session.latchkey.userId;
    if (userId === undefined) {
      res.status(401).json({ error: 'sign in first' });
      return;
    }
    // The middleware's `.sessions` is the manager behind req.session (express-session's sessionStore).
    const devices = await sessionMiddleware.sessions.listUserSessions(userId, {
      current: req.session.latchkey,
    });
    res.json(devices.map(({ id, label, createdAt, current }) => ({ id, label, createdAt, current })));
  });
}

app.post('/login', async (req, res) => {
  const userName = field(req, 'userName');
  if (!USER_NAME.test(userName)) {
    req.session.latchkey.flash('notice', 'Choose a name of 1 to 40 letters, digits, spaces, dots or dashes.');
    res.redirect(303, '/');
    return;
  }
  // A real app checks a password here. Then a fresh session for the new identity (fixation defence).
  // login() regenerates the session (a new cookie value; in store mode the old token dies at once),
  // binds the user (device lists, sign-out everywhere), restarts the idle and absolute clocks and
  // renews the CSRF secret. It keeps the data, so the counter survives.
  // express-session's way, `await req.session.regenerate()`, works too, but it empties the data and
  // binds no user.
  await req.session.latchkey.login(userName);
  req.session.userName = userName;
  req.session.latchkey.flash('notice', `Signed in as ${userName}.`);
  res.redirect(303, '/');
});

app.post('/logout', async (req, res) => {
  // Ends the session: its data is gone, the cookie is cleared on this response (and the store record
  // deleted at once in store mode); req.session is undefined after it.
  await req.session.destroy();
  res.redirect(303, '/');
});

app.post('/note', (req, res) => {
  const note = field(req, 'note').slice(0, 200);
  if (note === '') delete req.session.note;
  else req.session.note = note;
  res.redirect(303, '/');
});

// A store outage while loading a session reaches here with `status` 503; nothing else says more.
app.use(((error, _req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  console.error(error);
  const status = (error as { status?: unknown } | null)?.status === 503 ? 503 : 500;
  res
    .status(status)
    .type('text/plain')
    .send(status === 503 ? 'Service Unavailable' : 'Internal Server Error');
}) satisfies ErrorRequestHandler);

serve(createServer(app));
