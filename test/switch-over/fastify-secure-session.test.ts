/**
 * @fastify/secure-session → latchkey/fastify, over real HTTP: the app below is the same source on
 * both libraries; only the plugin registration line changes
 * (docs/migrate-from-fastify-secure-session.md).
 */
import type { AddressInfo } from 'node:net';
import secureSession from '@fastify/secure-session';
import Fastify, { type FastifyInstance } from 'fastify';
import { generateKeyLine } from 'latchkey/crypto';
import latchkey from 'latchkey/fastify';
import { fastifySecureSession } from 'latchkey/legacy';
import { describeSwitchOver, type Running } from './support.ts';

/** @fastify/secure-session's API on `request.session`, as the app uses it. */
interface SecureSessionApi {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(): void;
}

/** The app: @fastify/secure-session's API only (`get`, `set`, `delete()` to sign out). */
async function startApp(register: (app: FastifyInstance) => PromiseLike<unknown>): Promise<Running> {
  const app = Fastify();
  await register(app);
  const sessionOf = (request: unknown) => (request as { session: SecureSessionApi }).session;
  app.get('/login', async (request) => {
    sessionOf(request).set('user', 'user-42');
    sessionOf(request).set('theme', 'dark');
    return { ok: true };
  });
  app.get('/me', async (request) => {
    const current = sessionOf(request);
    return { user: current.get('user') ?? null, theme: current.get('theme') ?? null };
  });
  app.get('/logout', async (request) => {
    sessionOf(request).delete();
    return { ok: true };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: () => app.close(),
  };
}

const KEYS = generateKeyLine('k1');
/** The plugin's 32-byte key (an app reads it from the file `npx @fastify/secure-session` wrote). */
const SECRET_KEY = Buffer.from('9Pz5ZJ0p1q5m0hJm0t3b4x2w8cT6yV7u', 'utf8');

describeSwitchOver({
  title: '@fastify/secure-session (key) → latchkey/fastify',
  oldNames: ['session'],
  // before
  startPeer: () => startApp((app) => app.register(secureSession, { key: SECRET_KEY, cookie: { path: '/' } })),
  // after: the registration line, as the migration guide writes it
  startLatchkey: (store) =>
    startApp((app) =>
      app.register(latchkey, {
        keys: KEYS,
        development: true,
        legacy: [fastifySecureSession({ key: SECRET_KEY })],
        legacyUntil: '2099-01-01',
        ...(store === undefined ? {} : { store }),
      }),
    ),
});

const SECRET = 'a @fastify/secure-session secret of 32+ characters';
const SALT = 'mq9hDxBVDbspDR6n';

describeSwitchOver({
  title: '@fastify/secure-session (secret + salt) → latchkey/fastify',
  oldNames: ['session'],
  startPeer: () =>
    startApp((app) => app.register(secureSession, { secret: SECRET, salt: SALT, cookie: { path: '/' } })),
  startLatchkey: (store) =>
    startApp((app) =>
      app.register(latchkey, {
        keys: KEYS,
        development: true,
        legacy: [fastifySecureSession({ secret: SECRET, salt: SALT })],
        legacyUntil: '2099-01-01',
        ...(store === undefined ? {} : { store }),
      }),
    ),
});
