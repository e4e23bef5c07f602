/**
 * Latchkey on Fastify 5: sign-in and sign-out, a visit counter, and a form protected by CSRF tokens.
 * Cookie mode: the whole session is sealed in the cookie, no store to run.
 *
 *   node --import ./scripts/register-src.mjs examples/fastify/server.ts
 *
 * Keys come from LATCHKEY_KEYS (`npx latchkey keygen`); then the cookie is `__Host-lk` with Secure, so
 * serve it over HTTPS. Without LATCHKEY_KEYS it runs in development mode: plain HTTP, cookie `lk`, and
 * a random key that lasts until the process exits.
 */
import formbody from '@fastify/formbody';
import Fastify from 'fastify';
import latchkey from 'latchkey/fastify';
import { renderNotePage } from '../shared/html.ts';

// Type request.session's data for the whole app (declaration merging).
declare module 'latchkey/fastify' {
  interface SessionData {
    userName: string;
    visits: number;
    note: string;
  }
}

const USER_NAME = /^[\p{L}\p{N} ._-]{1,40}$/u;
const keys = process.env.LATCHKEY_KEYS || undefined;

const app = Fastify({ logger: { level: 'warn' } });
await app.register(formbody);
await app.register(latchkey, { keys, development: keys === undefined, csrf: true });

app.get('/', async (request, reply) => {
  const { session } = request;
  const visits = (session.get('visits') ?? 0) + 1;
  session.set('visits', visits);
  const notice = session.takeFlash<string>('notice');
  reply.type('text/html; charset=utf-8');
  return renderNotePage('Fastify', {
    userName: session.get('userName'),
    visits,
    note: session.get('note'),
    notice,
    csrfToken: request.csrfToken(),
  });
});

app.get('/api/session', async (request) => ({
  signedIn: request.session.userId !== undefined,
  userName: request.session.get('userName') ?? null,
  visits: request.session.get('visits') ?? 0,
  note: request.session.get('note') ?? null,
}));

app.post<{ Body: { userName?: string } }>('/login', async (request, reply) => {
  const userName = request.body?.userName?.trim() ?? '';
  if (!USER_NAME.test(userName)) {
    request.session.flash('notice', 'Choose a name of 1 to 40 letters, digits, spaces, dots or dashes.');
    return reply.redirect('/', 303);
  }
  // A real app checks a password here. login() issues a fresh session (fixation defence).
  await request.session.login(userName);
  request.session.set('userName', userName);
  request.session.flash('notice', `Signed in as ${userName}.`);
  return reply.redirect('/', 303);
});

app.post('/logout', async (request, reply) => {
  await request.session.destroy();
  return reply.redirect('/', 303);
});

app.post<{ Body: { note?: string } }>('/note', async (request, reply) => {
  const note = String(request.body?.note ?? '').slice(0, 200);
  if (note === '') request.session.delete('note');
  else request.session.set('note', note);
  return reply.redirect('/', 303);
});

const host = process.env.HOST ?? '127.0.0.1';
await app.listen({ port: Number(process.env.PORT ?? 3000), host });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : process.env.PORT;
console.log(`listening on http://${host}:${port}`);

const stop = () => {
  app.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
