/**
 * request.session as @fastify/session and @fastify/secure-session users write it, in cookie mode and
 * store mode, and an app written for @fastify/session that runs on latchkey/fastify with only its
 * plugin registration changed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { SessionsOptions } from '../core/options.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { memoryStore } from '../stores/memory.ts';
import latchkey from './fastify.ts';

const keys = generateKeyLine('k1');
const modes: Array<[string, () => SessionsOptions]> = [
  ['cookie mode', () => ({ keys, development: true })],
  ['store mode', () => ({ keys, development: true, store: memoryStore() })],
];

/** Keeps the cookies one browser would, over app.inject. */
function browser(app: FastifyInstance) {
  const jar = new Map<string, string>();
  return {
    async call(url: string, cookie?: string): Promise<LightMyRequestResponse> {
      const header = cookie ?? [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
      const response = await app.inject({ url, headers: header ? { cookie: header } : {} });
      const lines = response.headers['set-cookie'];
      for (const line of lines === undefined ? [] : Array.isArray(lines) ? lines : [lines]) {
        const pair = line.slice(0, line.indexOf(';'));
        const name = pair.slice(0, pair.indexOf('='));
        if (line.includes('Max-Age=0')) jar.delete(name);
        else jar.set(name, pair.slice(pair.indexOf('=') + 1));
      }
      return response;
    },
    cookies: () => [...jar].map(([name, value]) => `${name}=${value}`).join('; '),
  };
}

type Bag = Record<string, unknown>;
const bag = (session: unknown) => session as Bag & { get(k: string): unknown; delete(k?: string): void };

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'no error';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

for (const [mode, options] of modes) {
  describe(`latchkey/fastify request.session as the Fastify session plugins (${mode})`, () => {
    test('request.session.x = 1 persists; get/set and properties are one data; delete(key) removes', async () => {
      const app = Fastify();
      await app.register(latchkey, options());
      app.get('/', async (request) => {
        const s = bag(request.session);
        s.visits = ((s.visits as number | undefined) ?? 0) + 1;
        return { visits: s.visits, viaGet: s.get('visits'), keys: Object.keys(s) };
      });
      app.get('/drop', async (request) => {
        bag(request.session).delete('visits');
        return { visits: bag(request.session).visits ?? null };
      });
      const user = browser(app);
      assert.deepEqual((await user.call('/')).json(), { visits: 1, viaGet: 1, keys: ['visits'] });
      assert.deepEqual((await user.call('/')).json(), { visits: 2, viaGet: 2, keys: ['visits'] });
      assert.deepEqual((await user.call('/drop')).json(), { visits: null });
      assert.deepEqual((await user.call('/')).json(), { visits: 1, viaGet: 1, keys: ['visits'] });
    });

    test('delete() with no key (secure-session) and destroy() sign out, awaited or not', async () => {
      const app = Fastify();
      await app.register(latchkey, options());
      app.get('/login', async (request) => {
        bag(request.session).user = 'ada';
        return 'ok';
      });
      app.get('/out-sync', async (request) => {
        bag(request.session).delete(); // not awaited: the commit waits for it
        return 'bye';
      });
      app.get('/out-cb', (request, reply) => {
        request.session.destroy((error) => reply.send(error === undefined ? 'bye' : 'error'));
      });
      app.get('/', async (request) => ({ user: bag(request.session).user ?? null }));
      for (const out of ['/out-sync', '/out-cb']) {
        const user = browser(app);
        await user.call('/login');
        const before = user.cookies();
        assert.deepEqual((await user.call('/')).json(), { user: 'ada' });
        const response = await user.call(out);
        assert.equal(response.body, 'bye');
        assert.equal(user.cookies(), '', `${out} clears the cookie`);
        if (mode === 'store mode') assert.deepEqual((await user.call('/', before)).json(), { user: null });
      }
    });

    test('regenerate(keys) keeps only those keys; regenerate() keeps the data; both change the cookie', async () => {
      const app = Fastify();
      await app.register(latchkey, options());
      app.get('/fill', async (request) => {
        Object.assign(request.session, { a: 1, b: 2 });
        return 'ok';
      });
      app.get('/keep-a', async (request) => {
        await request.session.regenerate(['a']);
        return bag(request.session).toJSON;
      });
      app.get('/keep-all', async (request) => {
        await request.session.regenerate();
        return 'ok';
      });
      app.get('/', async (request) => request.session.toJSON());
      const user = browser(app);
      await user.call('/fill');
      const first = user.cookies();
      await user.call('/keep-all');
      assert.notEqual(user.cookies(), first);
      assert.deepEqual((await user.call('/')).json(), { a: 1, b: 2 });
      await user.call('/keep-a');
      assert.deepEqual((await user.call('/')).json(), { a: 1 });
    });

    test('reload() drops this request’s changes; save() and touch() keep the session; sessionId', async () => {
      const app = Fastify();
      await app.register(latchkey, options());
      app.get('/set', async (request) => {
        bag(request.session).n = 1;
        return 'ok';
      });
      app.get('/reload', async (request) => {
        bag(request.session).n = 99;
        const modified = request.session.isModified();
        await request.session.reload();
        return { n: bag(request.session).n, modified, after: request.session.isModified() };
      });
      app.get('/save', async (request) => {
        request.session.touch();
        await request.session.save();
        return { id: typeof request.session.sessionId };
      });
      const user = browser(app);
      await user.call('/set');
      assert.deepEqual((await user.call('/reload')).json(), { n: 1, modified: true, after: false });
      assert.deepEqual((await user.call('/save')).json(), {
        id: mode === 'store mode' ? 'string' : 'undefined',
      });
    });

    test("secure-session's changed and deleted", async () => {
      const app = Fastify();
      await app.register(latchkey, options());
      app.get('/set', async (request) => {
        const before = request.session.changed;
        bag(request.session).n = 1;
        return { before, after: request.session.changed, deleted: request.session.deleted };
      });
      app.get('/out', async (request) => {
        const before = request.session.deleted;
        request.session.delete();
        await new Promise((resolve) => setImmediate(resolve));
        return { before, after: request.session.deleted };
      });
      const user = browser(app);
      assert.deepEqual((await user.call('/set')).json(), { before: false, after: true, deleted: false });
      assert.deepEqual((await user.call('/out')).json(), { before: false, after: true });
    });

    test('request.session.options({ maxAge }) makes this session remembered, kept with it', async () => {
      const app = Fastify();
      await app.register(latchkey, options());
      app.post('/login', async (request) => {
        bag(request.session).user = 'ada';
        request.session.options({ maxAge: 3_600_000 });
        return 'ok';
      });
      app.get('/', async (request) => {
        const s = bag(request.session);
        s.visits = ((s.visits as number | undefined) ?? 0) + 1;
        return { maxAge: request.session.options().maxAge, user: s.user };
      });
      const client = browser(app);
      const before = await client.call('/');
      assert.doesNotMatch(String(before.headers['set-cookie']), /Max-Age/, 'a browser-session cookie first');
      const jar = client.cookies();
      const login = await app.inject({ method: 'POST', url: '/login', headers: { cookie: jar } });
      const line = String(login.headers['set-cookie']);
      assert.match(line, /Max-Age=3600/);
      const cookie = line.slice(0, line.indexOf(';'));
      const after = await client.call('/', cookie);
      assert.deepEqual(after.json(), { maxAge: 3_600_000, user: 'ada' });
      assert.match(
        String(after.headers['set-cookie']),
        /Max-Age=36\d\d/,
        'still persistent on the next write',
      );
    });

    test('what cannot be kept or is not offered throws a coded error, never dropped', async () => {
      const app = Fastify();
      await app.register(latchkey, options());
      app.get('/', async (request) => {
        const s = bag(request.session);
        s.ok = 1;
        return {
          fn: codeOf(() => {
            s.f = () => 1;
          }),
          date: codeOf(() => {
            s.d = new Date();
          }),
          api: codeOf(() => {
            (s as Bag).get = 1;
          }),
          options: codeOf(() => request.session.options({ maxAge: -5 })),
          encrypted: codeOf(() => request.session.encryptedSessionId),
          replace: codeOf(() => {
            request.session = { ok: 2, bad: Symbol('x') } as never;
          }),
          data: request.session.toJSON(),
        };
      });
      const body = (await browser(app).call('/')).json();
      assert.deepEqual(body, {
        fn: 'ERR_LATCHKEY_VALUE',
        date: 'ERR_LATCHKEY_VALUE',
        api: 'ERR_LATCHKEY_VALUE',
        options: 'ERR_LATCHKEY_COOKIE',
        encrypted: 'ERR_LATCHKEY_UNSUPPORTED',
        replace: 'ERR_LATCHKEY_VALUE',
        data: { ok: 1 },
      });
    });
  });
}

/** An app as @fastify/session's README has it: property access, regenerate at sign-in, destroy. */
async function fastifySessionStyleApp(register: (app: FastifyInstance) => Promise<void>) {
  const app = Fastify();
  await register(app);
  app.get('/', async (request) => {
    const s = request.session as unknown as Bag;
    s.views = ((s.views as number | undefined) ?? 0) + 1;
    return { views: s.views, user: s.user ?? null };
  });
  app.get('/login', async (request) => {
    await request.session.regenerate([]);
    (request.session as unknown as { set(k: string, v: unknown): void }).set('user', 'ada');
    return { ok: true };
  });
  app.get('/logout', async (request) => {
    await request.session.destroy();
    return { ok: true };
  });
  const user = browser(app);
  const seen: unknown[] = [];
  for (const path of ['/', '/', '/login', '/', '/logout', '/']) seen.push((await user.call(path)).json());
  return seen;
}

describe('switching an @fastify/session app to latchkey/fastify', () => {
  test('the same app behaves the same with only the plugin registration changed', async () => {
    // Loaded by name: their type declarations claim request.session too.
    const cookie = (await import('@fastify/cookie' as string)).default;
    const peer = (await import('@fastify/session' as string)).default;
    const expected = await fastifySessionStyleApp(async (app) => {
      await app.register(cookie);
      await app.register(peer, {
        secret: 'a secret with minimum length of 32 characters',
        cookie: { secure: false },
        saveUninitialized: false,
      });
    });
    assert.deepEqual(expected, [
      { views: 1, user: null },
      { views: 2, user: null },
      { ok: true },
      { views: 1, user: 'ada' },
      { ok: true },
      { views: 1, user: null },
    ]);
    for (const [, options] of modes) {
      assert.deepEqual(
        await fastifySessionStyleApp(async (app) => {
          await app.register(latchkey, options());
        }),
        expected,
      );
    }
  });
});
