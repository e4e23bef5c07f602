/**
 * A small bridge from node:http to a Fetch handler such as `app.fetch`, so that this example needs
 * nothing beyond Hono. Apps usually use @hono/node-server instead: `serve({ fetch: app.fetch, port })`.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

const MAX_BODY_BYTES = 64 * 1024;

/** The Fetch Request for a node:http request; rejects a body over 64 KB. */
export async function toRequest(req: IncomingMessage): Promise<Request> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      headers.append(name, item);
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RangeError('request body too large');
    chunks.push(chunk);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
    method: req.method ?? 'GET',
    headers,
    ...(hasBody ? { body: Buffer.concat(chunks) } : {}),
  });
}

/** Send a Fetch Response on a node:http response. */
export async function send(response: Response, res: ServerResponse): Promise<void> {
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  // Each cookie its own Set-Cookie line: a comma-joined header would break them (checklist #60).
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  res.statusCode = response.status;
  res.end(Buffer.from(await response.arrayBuffer()));
}

/** A node:http listener for a Fetch handler; a request it cannot bridge is answered 400. */
export function fetchListener(fetch: (request: Request) => Response | Promise<Response>): RequestListener {
  return (req, res) => {
    toRequest(req)
      .then((request) => fetch(request))
      .then((response) => send(response, res))
      .catch(() => {
        res.statusCode = 400;
        res.end('Bad Request');
      });
  };
}
