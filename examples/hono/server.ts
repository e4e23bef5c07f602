/**
 * Run: `node --conditions=source --import tsx examples/hono/server.ts` (from the repository root).
 *
 * With LATCHKEY_KEYS set (`npx latchkey keygen`), cookies are `__Host-lk`, Secure: serve over HTTPS.
 * Without it, plain-HTTP development mode with a key that lasts until the process exits.
 *
 * Hono apps run on node:http through @hono/node-server (`serve({ fetch: app.fetch, port })`); this
 * example carries a small bridge of its own so that it needs nothing beyond Hono.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createApp } from './app.ts';

const keys = process.env.LATCHKEY_KEYS;
const app = createApp(keys ? { keys } : { development: true });

const MAX_BODY_BYTES = 64 * 1024;

async function toRequest(req: IncomingMessage): Promise<Request> {
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

async function send(response: Response, res: ServerResponse): Promise<void> {
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  // Each cookie its own Set-Cookie line: a comma-joined header would break them (checklist #60).
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  res.statusCode = response.status;
  res.end(Buffer.from(await response.arrayBuffer()));
}

const server = createServer((req, res) => {
  toRequest(req)
    .then((request) => app.fetch(request))
    .then((response) => send(response, res))
    .catch(() => {
      res.statusCode = 400;
      res.end('Bad Request');
    });
});

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
server.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  console.log(`listening on http://${host}:${actual}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
