/** Serve a node:http listener or a Fetch handler on a free loopback port, for the scenario apps. */
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
// The Hono example's node:http bridge, which the Fetch-based apps here are served through too.
import { send, toRequest } from '../../../examples/hono/node-bridge.ts';
import type { ScenarioApp } from '../suite.ts';

export async function listen(listener: RequestListener): Promise<ScenarioApp> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The body the suite expects for a failure: the LatchkeyError code, if it is one. */
export { errorBody } from './error-body.ts';

/** Serve a Fetch handler through node:http (each Set-Cookie stays its own line). */
export function listenFetch(
  handler: (request: Request) => Response | Promise<Response>,
): Promise<ScenarioApp> {
  return listen((req, res) => {
    toRequest(req)
      .then(handler)
      .then((response) => send(response, res))
      .catch(() => {
        res.statusCode = 500;
        res.end('bridge error');
      });
  });
}
