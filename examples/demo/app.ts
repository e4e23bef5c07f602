import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSessions, type DeviceSession, type Session, type SessionStore, type Sessions } from 'latchkey';
import { createCsrf } from 'latchkey/csrf';
import { verifyCsrf, withSession } from 'latchkey/node';
import { type PageModel, renderPage } from './page.ts';

export interface DemoData {
  username: string;
  visits: number;
}

export interface DemoOptions {
  /** LATCHKEY_KEYS; without it the demo runs in development mode with an ephemeral key. */
  keys?: string | undefined;
  /** Behind a TLS-terminating proxy: hardened `__Host-` cookie, X-Forwarded-Proto trusted. */
  development: boolean;
  /** Store mode (the demo's default, an fs store): devices list and sign-out everywhere. */
  store?: SessionStore | undefined;
}

const MAX_FORM_BYTES = 2048;

function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        resolve(undefined);
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', () => resolve(undefined));
  });
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'x-content-type-options': 'nosniff' });
  res.end(body);
}

function redirectHome(res: ServerResponse): void {
  res.writeHead(303, { location: '/' });
  res.end();
}

/** What the page and the JSON API show: never the cookie, a key or anything secret. */
export function sessionView(
  session: Session<DemoData>,
  development: boolean,
  devices: readonly DeviceSession[] | null = null,
): PageModel {
  const signedIn = session.userId !== undefined;
  return {
    development,
    signedIn,
    devices:
      devices?.map((device) => ({
        id: device.id,
        label: device.label ?? 'Unknown device',
        createdAt: new Date(device.createdAt).toISOString(),
        lastSeenAt: new Date(device.lastSeenAt).toISOString(),
        current: device.current,
      })) ?? null,
    username: signedIn ? (session.get('username') ?? session.userId ?? null) : null,
    visits: session.get('visits') ?? 0,
    clocks:
      session.isNew && !signedIn && session.get('visits') === undefined
        ? null
        : {
            createdAt: new Date(session.createdAt).toISOString(),
            lastActiveAt: new Date(session.lastActiveAt).toISOString(),
            idleDeadline: new Date(session.idleDeadline).toISOString(),
            absoluteDeadline: new Date(session.absoluteDeadline).toISOString(),
          },
  };
}

const USERNAME = /^[\p{L}\p{N} ._-]{1,40}$/u;

export function createDemo(options: DemoOptions): {
  sessions: Sessions<DemoData>;
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
} {
  const sessions = createSessions<DemoData>({
    keys: options.keys,
    development: options.development,
    trustProxy: !options.development,
    store: options.store,
    // Floods (checklist #35): a client may start 10 sessions a minute, everyone together 600; past
    // that the answer is 429 with Retry-After and nothing is written. Expired records go every 15 min.
    ...(options.store
      ? {
          creationLimit: { perClient: { count: 10, within: '1m' }, overall: { count: 600, within: '1m' } },
          purge: { every: '15m' },
        }
      : {}),
  });
  // Every POST needs a token from one of our own pages and an Origin of this site (checklist #59).
  const csrf = createCsrf({ trustProxy: !options.development });
  /** The signed-in user's devices, when the demo runs in store mode. */
  const devicesOf = async (session: Session<DemoData>) =>
    options.store && session.userId !== undefined
      ? await sessions.listUserSessions(session.userId, { current: session })
      : null;

  const handler = withSession(sessions, async (req, res, session) => {
    const url = new URL(req.url ?? '/', 'http://demo.invalid');
    const route = `${req.method} ${url.pathname}`;
    const form = req.method === 'POST' ? await readForm(req) : undefined;
    if (!verifyCsrf(csrf, req, res, session, form?.get('_csrf') ?? undefined)) return;
    switch (route) {
      case 'GET /': {
        // Only a signed-in user's visits are counted: an anonymous visitor costs no store record
        // (the page's CSRF secret rides in a sealed cookie of its own; checklist #35).
        if (session.userId !== undefined) session.set('visits', (session.get('visits') ?? 0) + 1);
        const notice = session.takeFlash<string>('notice') ?? null;
        const view = sessionView(session, options.development, await devicesOf(session));
        send(res, 200, 'text/html; charset=utf-8', renderPage(view, notice, csrf.token(session)));
        return;
      }
      case 'GET /api/session': {
        const view = sessionView(session, options.development, await devicesOf(session));
        send(res, 200, 'application/json', JSON.stringify(view));
        return;
      }
      case 'POST /devices/revoke': {
        const id = form?.get('id') ?? '';
        if (session.userId !== undefined && options.store) {
          const ended = await sessions.revokeUserSession(session.userId, id);
          session.flash('notice', ended ? 'That device is signed out.' : 'No such device.');
        }
        redirectHome(res);
        return;
      }
      case 'POST /devices/revoke-others': {
        if (session.userId !== undefined && options.store) {
          const ended = await sessions.revokeUserSessions(session.userId, { except: session });
          session.flash('notice', `Signed out ${ended} other device${ended === 1 ? '' : 's'}.`);
        }
        redirectHome(res);
        return;
      }
      case 'POST /login': {
        const username = form?.get('username')?.trim() ?? '';
        if (!USERNAME.test(username)) {
          session.flash('notice', 'Choose a username of 1 to 40 letters, digits, spaces, dots or dashes.');
          redirectHome(res);
          return;
        }
        // A fresh session on sign-in: fixation defence and both timeout clocks restarted.
        await session.login(username);
        session.set('username', username);
        session.flash('notice', `Signed in as ${username}.`);
        redirectHome(res);
        return;
      }
      case 'POST /logout':
        await session.destroy();
        redirectHome(res);
        return;
      default:
        if (
          ['/', '/login', '/logout', '/api/session', '/devices/revoke', '/devices/revoke-others'].includes(
            url.pathname,
          )
        ) {
          send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed');
        } else {
          send(res, 404, 'text/plain; charset=utf-8', 'Not Found');
        }
    }
  });
  return { sessions, handler };
}
