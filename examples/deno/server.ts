/**
 * Latchkey on `Deno.serve`, through latchkey/fetch: `LATCHKEY_KEYS=… deno run --allow-net --allow-env
 * examples/deno/server.ts` in an app that has latchkey (npm:latchkey, or a package.json), then open
 * http://localhost:3000.
 *
 * Deno passes the connection's info as the handler's second argument; Latchkey reads its
 * `remoteAddr` only to recognise a browser on this machine over http://localhost, which gets the
 * Secure cookie without `development: true` (anywhere else, serve over HTTPS).
 */
import { createSessions } from 'latchkey';
import { withSession } from 'latchkey/fetch';

declare const Deno: {
  env: { get(name: string): string | undefined };
  serve(
    options: { port: number; hostname?: string; onListen?(address: { port: number }): void },
    handler: (request: Request, info: unknown) => Response | Promise<Response>,
  ): unknown;
};

const sessions = createSessions<{ visits: number }>({ keys: Deno.env.get('LATCHKEY_KEYS') });

Deno.serve(
  {
    port: Number(Deno.env.get('PORT') ?? 3000),
    hostname: 'localhost',
    onListen: ({ port }) => console.log(`listening on http://localhost:${port}/`),
  },
  withSession(sessions, (_request, session, _info: unknown) => {
    const visits = (session.get('visits') ?? 0) + 1;
    session.set('visits', visits);
    return new Response(`You have been here ${visits} times.\n`);
  }),
);
