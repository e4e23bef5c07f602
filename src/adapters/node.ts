/**
 * Sessions for `node:http` (and `node:https`, `node:http2` compatibility servers).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createSessions } from 'latchkey';
 * import { withSession } from 'latchkey/node';
 * const sessions = createSessions<{ visits: number }>();
 * createServer(withSession(sessions, (req, res, session) => {
 *   session.set('visits', (session.get('visits') ?? 0) + 1);
 *   res.end(`visits: ${session.get('visits')}`);
 * })).listen(3000);
 * ```
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sessionCacheControl, sessionVary } from '../core/headers.ts';
import type { Session, SessionData } from '../core/session.ts';
import type { PreparedCommit, Sessions } from '../core/sessions.ts';
import { bodyForStatus, reportError, statusForError } from './errors.ts';

export interface NodeSessionOptions {
  /** Handle a failure (a handler error, a session too large, a store outage). Default: log, then 500/503. */
  onError?: ((error: unknown, req: IncomingMessage, res: ServerResponse) => void) | undefined;
}

type Handler<T extends SessionData> = (
  req: IncomingMessage,
  res: ServerResponse,
  session: Session<T>,
) => unknown | Promise<unknown>;

/** Add the session's Set-Cookie lines (kept as separate lines) and cache headers to a node response. */
export function applyToNodeResponse(res: ServerResponse, setCookie: readonly string[]): void {
  if (setCookie.length === 0) return;
  const existing = res.getHeader('set-cookie');
  const lines = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader('set-cookie', [...lines, ...setCookie]);
  const cacheControl = res.getHeader('cache-control');
  res.setHeader(
    'cache-control',
    sessionCacheControl(cacheControl === undefined ? undefined : String(cacheControl)),
  );
  const vary = res.getHeader('vary');
  res.setHeader('vary', sessionVary(vary === undefined ? undefined : String(vary)));
}

/**
 * `writeHead(status, headers)` gives its headers precedence over `setHeader`, which would drop our
 * Set-Cookie or Cache-Control. Move them into `setHeader` first (appending Set-Cookie).
 */
function absorbHeaderArgument(res: ServerResponse, headers: unknown): void {
  const pairs: Array<[string, unknown]> = [];
  if (Array.isArray(headers)) {
    if (headers.every((entry) => Array.isArray(entry))) {
      for (const entry of headers as unknown[][]) pairs.push([String(entry[0]), entry[1]]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([String(headers[i]), headers[i + 1]]);
    }
  } else if (headers && typeof headers === 'object') {
    pairs.push(...Object.entries(headers as OutgoingHttpHeaders));
  }
  for (const [name, value] of pairs) {
    if (value === undefined) continue;
    if (name.toLowerCase() === 'set-cookie') {
      const existing = res.getHeader('set-cookie');
      const before = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
      res.setHeader('set-cookie', [...before, ...(Array.isArray(value) ? value : [String(value)])]);
    } else {
      res.setHeader(name, value as string | number | readonly string[]);
    }
  }
}

/**
 * Make the response commit the session just before its headers go out, whether the handler calls
 * `writeHead`, `write` or `end`. Asynchronous store writes, when a mode has them, finish before `end`.
 */
export function commitOnHeaders<T extends SessionData>(
  res: ServerResponse,
  sessions: Sessions<T>,
  session: Session<T>,
): void {
  const writeHead = res.writeHead;
  const end = res.end;
  let prepared: PreparedCommit | undefined;
  let started = false;
  const prepare = () => {
    started = true;
    prepared = sessions.prepareCommit(session);
    applyToNodeResponse(res, prepared.setCookie);
  };
  res.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    const message = typeof rest[0] === 'string' ? rest[0] : undefined;
    absorbHeaderArgument(res, typeof rest[0] === 'string' ? rest[1] : rest[0]);
    if (!started) prepare();
    return message === undefined
      ? writeHead.call(this, statusCode)
      : (writeHead as (code: number, text: string) => ServerResponse).call(this, statusCode, message);
  } as ServerResponse['writeHead'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!started && !res.headersSent) prepare();
    const pending = prepared?.persist();
    // Cookie mode has nothing to wait for; store modes finish their writes before the response ends.
    if (!pending) return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    pending.then(
      () => (end as (...a: unknown[]) => ServerResponse).apply(this, args),
      () => res.destroy(),
    );
    return this;
  } as ServerResponse['end'];
}

/** Wrap a node:http request listener: it receives the session, and the response carries its cookie. */
export function withSession<T extends SessionData>(
  sessions: Sessions<T>,
  handler: Handler<T>,
  options: NodeSessionOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const fail = (error: unknown, req: IncomingMessage, res: ServerResponse) => {
    try {
      if (options.onError) {
        options.onError(error, req, res);
        return;
      }
      reportError(error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = statusForError(error);
      res.removeHeader('set-cookie');
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(bodyForStatus(status));
    } catch {
      res.destroy();
    }
  };
  // The listener never rejects: an unhandled rejection would take the whole process down.
  return async (req, res) => {
    const writeHead = res.writeHead;
    const end = res.end;
    try {
      const session = await sessions.load(req);
      commitOnHeaders(res, sessions, session);
      await handler(req, res, session);
    } catch (error) {
      res.writeHead = writeHead;
      res.end = end;
      fail(error, req, res);
    }
  };
}
