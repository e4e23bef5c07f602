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
import { type Session, type SessionData, SessionImpl } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Csrf, CsrfError, CsrfRequest } from '../csrf/index.ts';
import { csrfForbiddenBody } from '../csrf/index.ts';
import { SessionStateError } from '../errors.ts';
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
 * Set-Cookie or Cache-Control. Move them into `setHeader` first, keeping repeated names and
 * appending to any Set-Cookie already set.
 */
function absorbHeaderArgument(res: ServerResponse, headers: unknown): void {
  const values = new Map<string, { name: string; list: Array<string | number> }>();
  const add = (name: string, value: unknown) => {
    if (value === undefined || value === null) return;
    const key = name.toLowerCase();
    const entry = values.get(key) ?? { name, list: [] };
    for (const item of Array.isArray(value) ? value : [value]) entry.list.push(item as string | number);
    values.set(key, entry);
  };
  if (Array.isArray(headers)) {
    if (headers.every((entry) => Array.isArray(entry))) {
      for (const entry of headers as unknown[][]) add(String(entry[0]), entry[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
    }
  } else if (headers && typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) add(name, value);
  }
  for (const [key, { name, list }] of values) {
    if (key === 'set-cookie') {
      const existing = res.getHeader('set-cookie');
      const before = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
      res.setHeader('set-cookie', [...before, ...list.map(String)]);
    } else {
      res.setHeader(name, list.length === 1 ? list[0]! : list.map(String));
    }
  }
}

/** What the adapter needs to know about a response whose commit it holds back. */
export interface HeldResponse {
  /** True once the handler has called `end()` (the response is complete, if not yet flushed). */
  ended(): boolean;
  /** Drop what is queued: a failure response replaces it. */
  cancel(): void;
}

/**
 * Hold the response until the session is committed: `writeHead` only records the status and headers,
 * and `write`/`end`/`flushHeaders` start the commit and are queued until it is done. So store writes
 * finish before any header goes out, a failure can still become a clean 500/503, and a new token is
 * only ever sent for a record that was created (checklist #4).
 */
export function holdUntilCommitted<T extends SessionData>(
  res: ServerResponse,
  sessions: Sessions<T>,
  session: Session<T> | (() => Session<T>),
  fail: (error: unknown) => void,
  beforeCommit?: () => undefined | Promise<void>,
): HeldResponse {
  const original = {
    writeHead: res.writeHead,
    write: res.write,
    end: res.end,
    flushHeaders: res.flushHeaders,
  };
  const queue: Array<() => void> = [];
  // 'open': nothing sent yet; 'committing': calls are queued; 'passing': the patched methods just call
  // the originals. They are never put back: re-assigning them per request changes the response
  // object's shape again, which costs V8 (and Express) more than one flag test per call.
  let state: 'open' | 'committing' | 'passing' = 'open';
  let ended = false;
  const start = () => {
    if (state !== 'open') return;
    state = 'committing';
    let committed: Promise<string[]>;
    try {
      // An adapter's last word (latchkey/express copies req.session's properties into the session).
      const before = beforeCommit?.();
      const current = typeof session === 'function' ? session() : session;
      const commit = () => {
        // From here on a change to the session could not reach this response: make it a loud error.
        if (current instanceof SessionImpl) current._locked = true;
        return sessions.commit(current);
      };
      committed = before === undefined ? commit() : before.then(commit);
    } catch (error) {
      committed = Promise.reject(error);
    }
    committed.then(
      (setCookie) => {
        if (state !== 'committing') return; // cancelled: a failure response replaced this one
        state = 'passing';
        try {
          applyToNodeResponse(res, setCookie);
          for (const operation of queue.splice(0)) operation();
        } catch (error) {
          fail(error);
        }
      },
      (error: unknown) => {
        if (state !== 'committing') return;
        state = 'passing';
        queue.length = 0;
        fail(error);
      },
    );
  };
  const hold = (operation: () => void) => {
    start();
    if (state === 'passing') operation();
    else queue.push(operation);
  };
  res.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    if (state === 'passing')
      return (original.writeHead as (...a: unknown[]) => ServerResponse).call(this, statusCode, ...rest);
    const message = typeof rest[0] === 'string' ? rest[0] : undefined;
    absorbHeaderArgument(res, typeof rest[0] === 'string' ? rest[1] : rest[0]);
    res.statusCode = statusCode;
    if (message !== undefined) res.statusMessage = message;
    return this;
  } as ServerResponse['writeHead'];
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    if (state === 'passing') return (original.write as (...a: unknown[]) => boolean).apply(this, args);
    hold(() => (original.write as (...a: unknown[]) => boolean).apply(res, args));
    return true;
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    ended = true;
    if (state === 'passing') return (original.end as (...a: unknown[]) => ServerResponse).apply(this, args);
    hold(() => (original.end as (...a: unknown[]) => ServerResponse).apply(res, args));
    return this;
  } as ServerResponse['end'];
  res.flushHeaders = function (this: ServerResponse) {
    if (state === 'passing') return original.flushHeaders.call(this);
    hold(() => original.flushHeaders.call(res));
  };
  return {
    ended: () => ended,
    cancel: () => {
      state = 'passing';
      queue.length = 0;
    },
  };
}

/**
 * The failure response, once: the app's onError if given, else a bare 500/503 (no message, no stack,
 * none of the handler's headers). Never throws and never rejects: an unhandled rejection would take
 * the whole process down.
 */
export function failer(options: NodeSessionOptions) {
  return (error: unknown, req: IncomingMessage, res: ServerResponse): void => {
    if (options.onError) {
      // The handler's headers (Content-Length, Location, its cookies) belong to the response that
      // failed; onError starts from a clean one.
      if (!res.headersSent) for (const name of res.getHeaderNames()) res.removeHeader(name);
      Promise.resolve()
        .then(() => options.onError?.(error, req, res))
        .catch((failure: unknown) => {
          // onError itself failed: report both, and never leave the client waiting.
          reportError(failure);
          reportError(error);
          if (!res.headersSent) {
            res.statusCode = statusForError(error);
            res.end(bodyForStatus(statusForError(error)));
          } else if (!res.writableEnded) {
            res.destroy();
          }
        });
      return;
    }
    reportError(error);
    try {
      if (res.writableEnded) return; // the response went out whole; the error happened after it
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Drop everything the handler set (Content-Length, Location, cookies…): a bare 500/503.
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      const status = statusForError(error);
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(bodyForStatus(status));
      // The handler may still write to the response it believes is open; don't let that crash us.
      res.on('error', () => {});
    } catch {
      res.destroy();
    }
  };
}

/** Wrap a node:http request listener: it receives the session, and the response carries its cookie. */
export function withSession<T extends SessionData>(
  sessions: Sessions<T>,
  handler: Handler<T>,
  options: NodeSessionOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const fail = failer(options);
  return async (req, res) => {
    let held: HeldResponse | undefined;
    try {
      const session = await sessions.load(req);
      held = holdUntilCommitted(res, sessions, session, (error) => fail(error, req, res));
      await handler(req, res, session);
    } catch (error) {
      if (held?.ended()) {
        // The handler finished its response and then failed: the response stands; report the error.
        reportError(error);
        return;
      }
      // A failed request commits nothing: the 500 must not carry half-made session changes.
      held?.cancel();
      fail(error, req, res);
    }
  };
}

/**
 * Connect-style middleware (`(req, res, next)`, as Express and many node frameworks use): sets
 * `req.session` and commits it before the response headers go out. Errors a later handler passes to
 * `next` are the framework's to answer; a store outage while loading answers 503 here.
 *
 * @example
 * ```ts
 * app.use(sessionMiddleware(sessions));
 * app.get('/', (req, res) => { req.session.set('visits', 1); res.send('ok'); });
 * ```
 */
export function sessionMiddleware<T extends SessionData>(
  sessions: Sessions<T>,
  options: NodeSessionOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  const fail = failer(options);
  return (req, res, next) => {
    sessions.load(req).then(
      (session) => {
        (req as IncomingMessage & { session?: Session<T> }).session = session;
        holdUntilCommitted(res, sessions, session, (error) => fail(error, req, res));
        next();
      },
      (error: unknown) => fail(error, req, res),
    );
  };
}

/** What latchkey/csrf needs from a node request. */
export function csrfRequestOf(req: IncomingMessage): CsrfRequest {
  return {
    method: req.method ?? 'GET',
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    secure: (req.socket as { encrypted?: unknown } | undefined)?.encrypted === true,
  };
}

/** Answer a refused request: 403, the coded reason, nothing cached. */
export function sendCsrfForbidden(res: ServerResponse, error: CsrfError): void {
  res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(csrfForbiddenBody(error));
}

/**
 * Check an unsafe request against CSRF (checklist #59). When refused, answers 403 and returns false;
 * the handler must then stop. `formToken` is the form field, for apps that parse their own bodies.
 *
 * @example
 * ```ts
 * const form = await readForm(req);
 * if (!verifyCsrf(csrf, req, res, session, form.get('_csrf') ?? undefined)) return;
 * ```
 */
export function verifyCsrf<T extends SessionData>(
  csrf: Csrf,
  req: IncomingMessage,
  res: ServerResponse,
  session: Session<T>,
  formToken?: string | undefined,
): boolean {
  const refused = csrf.check(csrfRequestOf(req), session, formToken);
  if (refused) sendCsrfForbidden(res, refused);
  return refused === undefined;
}

/**
 * Connect-style CSRF middleware, after `sessionMiddleware`: unsafe requests need a token in the
 * `x-csrf-token` header or in `req.body[fieldName]` (so a body parser must run first for forms), and
 * an Origin of this site. Adds `req.csrfToken()` for templates.
 */
export function csrfMiddleware<T extends SessionData>(
  csrf: Csrf,
): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  return (incoming, res, next) => {
    const req = incoming as IncomingMessage & {
      session?: Session<T>;
      body?: unknown;
      csrfToken?: () => string;
    };
    const session = req.session;
    if (!session) {
      next(new SessionStateError('csrfMiddleware needs req.session: use sessionMiddleware first'));
      return;
    }
    req.csrfToken = () => csrf.token(session);
    const body = req.body as Record<string, unknown> | undefined;
    const field = body && typeof body === 'object' ? body[csrf.fieldName] : undefined;
    if (verifyCsrf(csrf, req, res, session, typeof field === 'string' ? field : undefined)) next();
  };
}
