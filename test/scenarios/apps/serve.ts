/** Serve a node:http listener or a Fetch handler on a free loopback port, for the scenario apps. */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LatchkeyError } from '../../../src/errors.ts';
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
export function errorBody(error: unknown): string {
  return error instanceof LatchkeyError ? error.code : 'error';
}

async function toRequest(req: IncomingMessage): Promise<Request> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const hasBody = chunks.length > 0 && req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method ?? 'GET',
    headers,
    body: hasBody ? Buffer.concat(chunks) : null,
  });
}

async function fromResponse(response: Response, res: ServerResponse): Promise<void> {
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  const setCookie = response.headers.getSetCookie();
  if (setCookie.length > 0) res.setHeader('set-cookie', setCookie);
  res.statusCode = response.status;
  res.end(Buffer.from(await response.arrayBuffer()));
}

/** Serve a Fetch handler through node:http (each Set-Cookie stays its own line). */
export function listenFetch(
  handler: (request: Request) => Response | Promise<Response>,
): Promise<ScenarioApp> {
  return listen((req, res) => {
    toRequest(req)
      .then(handler)
      .then((response) => fromResponse(response, res))
      .catch(() => {
        res.statusCode = 500;
        res.end('bridge error');
      });
  });
}
