// The app that test/runtimes/workerd.test.ts bundles with esbuild and runs inside workerd: cookie mode
// through latchkey/fetch with CSRF, /iron for its iron-session-shaped getSession, plus /open and /seal
// for the cross-runtime vectors.
import { createSessions } from 'latchkey';
import { createKeyring, openValueAsync, sealValueAsync } from 'latchkey/crypto';
import { createCsrf } from 'latchkey/csrf';
import { getSession, withSession } from 'latchkey/fetch';

interface Env {
  KEY_HEX: string;
}

const fromHex = (hex: string) => new Uint8Array(hex.match(/../g)!.map((pair) => Number.parseInt(pair, 16)));

let handler: ((request: Request) => Promise<Response>) | undefined;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const keyring = createKeyring([{ kid: 'k1', key: fromHex(env.KEY_HEX) }]);
    const url = new URL(request.url);
    if (url.pathname === '/backend') return Response.json({ synchronous: keyring.synchronous });
    if (url.pathname === '/open') {
      const result = await openValueAsync(keyring, 'cookie', 'vector', (await request.text()).trim());
      return new Response(
        result.ok ? new TextDecoder().decode(result.plaintext) : `failed: ${result.reason}`,
      );
    }
    if (url.pathname === '/seal') {
      return new Response(await sealValueAsync(keyring, 'cookie', 'vector', await request.text()));
    }
    if (url.pathname === '/iron') {
      const sessions = createSessions({ keys: keyring });
      const headers = new Headers();
      const session = await getSession(
        sessions,
        new Request(request.url.replace(/^http:/, 'https:'), request),
        headers,
      );
      session.visits = Number(session.visits ?? 0) + 1;
      await session.save();
      return Response.json({ visits: session.visits }, { headers });
    }
    const csrf = createCsrf();
    handler ??= withSession(createSessions<{ visits: number }>({ keys: keyring }), async (req, session) => {
      if (req.method === 'POST') {
        const refused = csrf.check(
          { method: req.method, header: (name) => req.headers.get(name) ?? undefined },
          session,
          undefined,
        );
        return new Response(refused ? refused.reason : 'ok', { status: refused ? 403 : 200 });
      }
      session.set('visits', (session.get('visits') ?? 0) + 1);
      return Response.json({ visits: session.get('visits'), token: csrf.token(session) });
    });
    // workerd serves the test over plain HTTP on loopback; the app sees it as the HTTPS it would be
    // behind Cloudflare's edge, so the __Host- cookie is sent.
    return handler(new Request(request.url.replace(/^http:/, 'https:'), request));
  },
};
