/**
 * cookie-session (Express) → latchkey/express, over real HTTP: the app below is the same source on
 * both libraries; only the line that makes the session middleware changes
 * (docs/migrate-from-cookie-session.md).
 */
import { createRequire } from 'node:module';
import express, { type RequestHandler } from 'express';
import { generateKeyLine } from 'latchkey/crypto';
import session from 'latchkey/express';
import { cookieSession } from 'latchkey/legacy';
import { describeSwitchOver, listen, type Running } from './support.ts';

// cookie-session ships no types.
const require = createRequire(import.meta.url);
const cookieSessionMiddleware = require('cookie-session') as (options: object) => RequestHandler;

/** The app: cookie-session's API only (`req.session.x = …`, `req.session = null` to sign out). */
function startApp(makeSession: () => RequestHandler): Promise<Running> {
  const app = express();
  app.use(makeSession());
  app.get('/login', (req, res) => {
    const current = req.session as unknown as Record<string, unknown>;
    current.user = 'user-42';
    current.theme = 'dark';
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    const current = req.session as unknown as Record<string, unknown> | null | undefined;
    res.json({ user: current?.user ?? null, theme: current?.theme ?? null });
  });
  app.get('/logout', (req, res) => {
    (req as unknown as { session: null }).session = null;
    res.json({ ok: true });
  });
  return listen(app);
}

const KEYS = generateKeyLine('k1');
const OLD_KEYS = ['cookie-session key 2', 'cookie-session key 1'];

describeSwitchOver({
  title: 'cookie-session (Express) → latchkey/express',
  oldNames: ['session', 'session.sig'],
  // before
  startPeer: () => startApp(() => cookieSessionMiddleware({ keys: OLD_KEYS })),
  // after: the registration line, as the migration guide writes it
  startLatchkey: (store) =>
    startApp(() =>
      session({
        keys: KEYS,
        development: true,
        unset: 'destroy', // `req.session = null` signs out, as in cookie-session
        legacy: [cookieSession({ keys: OLD_KEYS })],
        legacyUntil: '2099-01-01',
        ...(store === undefined ? {} : { store }),
      }),
    ),
});
