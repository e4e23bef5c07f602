import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSessions, type Session, type Sessions } from 'latchkey';
import { withSession } from 'latchkey/node';
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
export function sessionView(session: Session<DemoData>, development: boolean): PageModel {
  const signedIn = session.userId !== undefined;
  return {
    development,
    signedIn,
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
  });

  const handler = withSession(sessions, async (req, res, session) => {
    const url = new URL(req.url ?? '/', 'http://demo.invalid');
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /': {
        session.set('visits', (session.get('visits') ?? 0) + 1);
        const notice = session.takeFlash<string>('notice') ?? null;
        send(
          res,
          200,
          'text/html; charset=utf-8',
          renderPage(sessionView(session, options.development), notice),
        );
        return;
      }
      case 'GET /api/session':
        send(res, 200, 'application/json', JSON.stringify(sessionView(session, options.development)));
        return;
      case 'POST /login': {
        const form = await readForm(req);
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
        if (['/', '/login', '/logout', '/api/session'].includes(url.pathname)) {
          send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed');
        } else {
          send(res, 404, 'text/plain; charset=utf-8', 'Not Found');
        }
    }
  });
  return { sessions, handler };
}
