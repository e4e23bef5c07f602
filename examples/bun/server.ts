/**
 * Latchkey on `Bun.serve`, through latchkey/fetch: `LATCHKEY_KEYS=$(npx latchkey keygen) bun
 * examples/bun/server.ts` in an app that installed latchkey, then open http://localhost:3000.
 *
 * Bun passes its server as the handler's second argument; Latchkey reads the connection's address
 * from it (`server.requestIP`) only to recognise a browser on this machine over http://localhost,
 * which gets the Secure cookie without `development: true` (anywhere else, serve over HTTPS).
 */
import { createSessions } from 'latchkey';
import { withSession } from 'latchkey/fetch';

declare const Bun: {
  serve(options: {
    port: number;
    hostname?: string;
    fetch(request: Request, server: unknown): Response | Promise<Response>;
  }): { port: number };
};

const sessions = createSessions<{ visits: number }>({ keys: process.env.LATCHKEY_KEYS });

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  hostname: 'localhost',
  fetch: withSession(sessions, (_request, session, _server: unknown) => {
    const visits = (session.get('visits') ?? 0) + 1;
    session.set('visits', visits);
    return new Response(`You have been here ${visits} times.\n`);
  }),
});
console.log(`listening on http://localhost:${server.port}/`);
