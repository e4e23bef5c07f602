/**
 * iron-session → latchkey/fetch, over real HTTP: a Next-style Fetch route handler (Request in,
 * Response out), the same source on both libraries; only the line that opens the session changes
 * (docs/migrate-from-iron-session.md).
 */
import { getIronSession, webCookies } from 'iron-session';
import { createSessions } from 'latchkey';
import { generateKeyLine } from 'latchkey/crypto';
import { getSession } from 'latchkey/fetch';
import { ironSession } from 'latchkey/legacy';
import { listenFetch } from '../scenarios/apps/serve.ts';
import { describeSwitchOver, type Running } from './support.ts';

/** What the app uses of iron-session's session: its data as properties, save and destroy. */
type AppSession = { user?: string; theme?: string; save(): Promise<void>; destroy(): unknown };
type OpenSession = (request: Request, headers: Headers) => Promise<AppSession>;

/**
 * The app: route handlers written for iron-session (`session.user = …; await session.save()`,
 * `session.destroy()`), each building its Response from the headers the session wrote to.
 */
function startApp(open: OpenSession): Promise<Running> {
  return listenFetch(async (request) => {
    const headers = new Headers();
    const session = await open(request, headers);
    const { pathname } = new URL(request.url);
    if (pathname === '/login') {
      session.user = 'user-42';
      session.theme = 'dark';
      await session.save();
      return Response.json({ ok: true }, { headers });
    }
    if (pathname === '/logout') {
      await session.destroy();
      return Response.json({ ok: true }, { headers });
    }
    return Response.json({ user: session.user ?? null, theme: session.theme ?? null }, { headers });
  });
}

const PASSWORD = { 2: 'the iron-session password, 32+ characters', 1: 'an older password of 32+ characters' };
const IRON_OPTIONS = {
  cookieName: 'app_session',
  password: PASSWORD,
  ttl: 3600,
  cookieOptions: { secure: false }, // plain HTTP on 127.0.0.1
};
const KEYS = generateKeyLine('k1');

describeSwitchOver({
  title: 'iron-session (Fetch route handler) → latchkey/fetch',
  oldNames: ['app_session'],
  // before
  startPeer: () =>
    startApp((request, headers) => getIronSession<AppSession>(webCookies(request, headers), IRON_OPTIONS)),
  // after: the line that opens the session, with the sessions as the migration guide makes them
  startLatchkey: (store) => {
    const sessions = createSessions({
      keys: KEYS,
      development: true,
      legacy: [ironSession({ cookieName: 'app_session', password: PASSWORD, ttl: 3600 })],
      legacyUntil: '2099-01-01',
      ...(store === undefined ? {} : { store }),
    });
    return startApp((request, headers) => getSession(sessions, request, headers));
  },
});
