/**
 * The machinery under the node-style adapters (latchkey/node, latchkey/express): holding a response
 * until its session is committed, the failure response, and the CSRF check that answers 403.
 * Internal: not a package entry.
 */
import { type IncomingMessage, type OutgoingHttpHeaders, OutgoingMessage, ServerResponse } from 'node:http';
import type { Session, SessionData } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import { type Csrf, type CsrfError, csrfForbiddenBody } from '../csrf/index.ts';
import { bodyForError, headersForError, PLAIN_NO_STORE, reportError, statusForError } from './errors.ts';
import { appendLines, csrfRequestOf, lockSession, type SyncSessions, sessionHeaderValues } from './shared.ts';

export interface NodeSessionOptions {
  /** Handle a failure (a handler error, a session too large, a store outage). Default: log, then 500/503. */
  onError?: ((error: unknown, req: IncomingMessage, res: ServerResponse) => void) | undefined;
}

/** Add the session's Set-Cookie lines (kept as separate lines) and cache headers to a node response. */
export function applyToNodeResponse(res: ServerResponse, setCookie: readonly string[]): void {
  if (setCookie.length === 0) return;
  const values = sessionHeaderValues(res, setCookie);
  res.setHeader('set-cookie', values.setCookie);
  res.setHeader('cache-control', values.cacheControl);
  res.setHeader('vary', values.vary);
  if (values.clearSiteData !== undefined) res.setHeader('clear-site-data', values.clearSiteData);
}

/**
 * `writeHead(status, headers)` gives its headers precedence over `setHeader`, which would drop our
 * Set-Cookie or Cache-Control. Move them into `setHeader` first, keeping repeated names and
 * appending to any Set-Cookie already set.
 */
function absorbHeaderArgument(res: ServerResponse, headers: unknown): void {
  if (headers === undefined || headers === null) return;
  if (!Array.isArray(headers) && typeof headers === 'object') {
    // The usual `{ name: value }`: straight into setHeader, as Node's own writeHead does once setHeader
    // has been used (a later key overrides an earlier one that differs only in case). Set-Cookie
    // lines are appended to the ones already set.
    for (const name of Object.keys(headers)) {
      const value = (headers as OutgoingHttpHeaders)[name];
      if (value === undefined || value === null) continue;
      if (name.length === 10 && name.toLowerCase() === 'set-cookie') {
        const lines = Array.isArray(value) ? value.map(String) : [String(value)];
        res.setHeader('set-cookie', appendLines(res.getHeader('set-cookie'), lines));
      } else {
        res.setHeader(name, value);
      }
    }
    return;
  }
  if (!Array.isArray(headers)) return;
  // A flat `[name, value, …]` or `[[name, value], …]` array may repeat a name: keep every value.
  const values = new Map<string, { name: string; list: Array<string | number> }>();
  const add = (name: string, value: unknown) => {
    if (value === undefined || value === null) return;
    const key = name.toLowerCase();
    const entry = values.get(key) ?? { name, list: [] };
    for (const item of Array.isArray(value) ? value : [value]) entry.list.push(item as string | number);
    values.set(key, entry);
  };
  if (headers.every((entry) => Array.isArray(entry))) {
    for (const entry of headers as unknown[][]) add(String(entry[0]), entry[1]);
  } else {
    for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
  }
  for (const [key, { name, list }] of values) {
    if (key === 'set-cookie') {
      res.setHeader('set-cookie', appendLines(res.getHeader('set-cookie'), list.map(String)));
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

type Method = (...args: unknown[]) => unknown;
const NO_ARGS: unknown[] = [];
const nativeHeadersSent = Object.getOwnPropertyDescriptor(OutgoingMessage.prototype, 'headersSent')?.get;

/** One response's hold (see holdUntilCommitted): its state, in one object rather than closures. */
class Hold<T extends SessionData> implements HeldResponse {
  // 'open': nothing sent yet; 'committing': calls are queued; 'passing': the patched methods just call
  // the originals. They are never put back: re-assigning them per request changes the response
  // object's shape again, which costs V8 (and Express) more than one flag test per call.
  state: 'open' | 'committing' | 'passing' = 'open';
  /** The handler has called `end()`. */
  endCalled = false;
  /** The calls held back, flat: a response method, then its arguments (no closure per call). */
  /** Made on first use: a cookie-mode commit is done at once and queues nothing. */
  queue: Array<Method | unknown[]> | undefined;
  /** The response's status when the commit started. */
  statusCode = 200;
  statusMessage = '';

  constructor(
    readonly res: ServerResponse,
    readonly sessions: Sessions<T>,
    /** Cookie mode: the commit is done at once, and the call that started it goes straight through. */
    readonly sync: SyncSessions<T> | undefined,
    readonly session: Session<T> | (() => Session<T>),
    readonly fail: (error: unknown) => void,
    readonly beforeCommit: (() => undefined | Promise<void>) | undefined,
  ) {}

  ended(): boolean {
    return this.endCalled;
  }

  /** Store mode, while the commit is under way: the response must look sent (see seemSent). */
  seemsSent(): boolean {
    return this.state === 'committing' && this.sync === undefined;
  }

  /** The hooked writeHead: recorded while the session is open, the original once it is committed. */
  writeHead(original: Method, res: ServerResponse, statusCode: number, rest: unknown[]): unknown {
    if (this.state === 'passing') return original.call(res, statusCode, ...rest);
    if (this.state === 'committing') throw headersSentError();
    const message = typeof rest[0] === 'string' ? rest[0] : undefined;
    absorbHeaderArgument(this.res, message === undefined ? rest[0] : rest[1]);
    this.res.statusCode = statusCode;
    if (message !== undefined) this.res.statusMessage = message;
    return res;
  }

  cancel(): void {
    this.state = 'passing';
    this.queue = undefined;
  }

  /**
   * A call to one of the response's original methods: made now when the session is committed (or is
   * committed at once, in cookie mode), else held back until the commit is done. False when the call
   * must be dropped: the commit failed and a failure response replaced this one.
   */
  pass(method: Method, args: unknown[]): boolean {
    if (this.state === 'passing') return true;
    if (this.state === 'open' && this.start()) return true;
    if (this.state === 'committing') {
      this.queue ??= [];
      this.queue.push(method, args);
    }
    return false;
  }

  /** Start the commit; true when it is already done (cookie mode), false while it is under way or failed. */
  start(): boolean {
    this.state = 'committing';
    // The status as the handler's write or end found it: set later, it would not reach the client
    // without the hold either.
    this.statusCode = this.res.statusCode;
    this.statusMessage = this.res.statusMessage;
    let committed: Promise<string[]>;
    try {
      // An adapter's last word (latchkey/express copies req.session's properties into the session).
      const before = this.beforeCommit?.();
      const current = typeof this.session === 'function' ? this.session() : this.session;
      if (before === undefined && this.sync !== undefined) {
        lockSession(current);
        const setCookie = this.sync.commitNow(current);
        this.state = 'passing';
        applyToNodeResponse(this.res, setCookie);
        return true;
      }
      committed = before === undefined ? this.commit(current) : before.then(() => this.commit(current));
    } catch (error) {
      if (this.sync !== undefined) {
        this.cancel();
        this.fail(error);
        return false;
      }
      committed = Promise.reject(error);
    }
    committed.then(
      (setCookie) => this.release(setCookie),
      (error: unknown) => {
        if (this.state !== 'committing') return;
        this.cancel();
        this.fail(error);
      },
    );
    return false;
  }

  commit(current: Session<T>): Promise<string[]> {
    // From here on a change to the session could not reach this response: make it a loud error.
    lockSession(current);
    return this.sessions.commit(current);
  }

  /** Committed: add the cookie, then make the calls held back. */
  release(setCookie: string[]): void {
    if (this.state !== 'committing') return; // cancelled: a failure response replaced this one
    this.state = 'passing';
    if (this.res.destroyed) {
      this.queue = undefined; // the connection went meanwhile (an error handler may have closed it)
      return;
    }
    this.res.statusCode = this.statusCode;
    this.res.statusMessage = this.statusMessage;
    try {
      applyToNodeResponse(this.res, setCookie);
      const queue = this.queue ?? [];
      this.queue = undefined;
      for (let i = 0; i < queue.length; i += 2)
        (queue[i] as Method).apply(this.res, queue[i + 1] as unknown[]);
    } catch (error) {
      this.fail(error);
    }
  }
}

/**
 * Hold the response until the session is committed: `writeHead` only records the status and headers,
 * and `write`/`end`/`flushHeaders` start the commit and are queued until it is done. So store writes
 * finish before any header goes out, a failure can still become a clean 500/503, and a new token is
 * only ever sent for a record that was created (checklist #4).
 *
 * A node:http response is held through hooks installed once on `ServerResponse.prototype` (see
 * installResponseHooks), which find the hold in a WeakMap: no own property is added to the response,
 * whose shape V8 would otherwise have to rebuild on every request (Express swaps its prototype). Any
 * other response (node:http2's compatibility API, a second hold of the same response) gets the same
 * hooks as own properties.
 */
export function holdUntilCommitted<T extends SessionData>(
  res: ServerResponse,
  sessions: Sessions<T>,
  sync: SyncSessions<T> | undefined,
  session: Session<T> | (() => Session<T>),
  fail: (error: unknown) => void,
  beforeCommit?: () => undefined | Promise<void>,
): HeldResponse {
  const held = new Hold(res, sessions, sync, session, fail, beforeCommit);
  if (hooksInstalled && res instanceof ServerResponse && !holds.has(res)) {
    holds.set(res, held as Hold<SessionData>);
    return held;
  }
  if (sync === undefined) seemSent(res, held);
  const writeHead = res.writeHead as Method;
  const write = res.write as Method;
  const end = res.end as Method;
  const flushHeaders = res.flushHeaders as Method;
  res.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    return held.writeHead(writeHead, this, statusCode, rest);
  } as ServerResponse['writeHead'];
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    return held.pass(write, args) ? write.apply(this, args) : true;
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    held.endCalled = true;
    return held.pass(end, args) ? end.apply(this, args) : this;
  } as ServerResponse['end'];
  res.flushHeaders = function (this: ServerResponse) {
    if (held.pass(flushHeaders, NO_ARGS)) flushHeaders.call(this);
  } as ServerResponse['flushHeaders'];
  return held;
}

/** The holds of node:http responses, found by the prototype hooks. */
const holds = new WeakMap<object, Hold<SessionData>>();

/**
 * Wrap `ServerResponse.prototype`'s writeHead, write, end, flushHeaders, headersSent, setHeader,
 * removeHeader and appendHeader once, for the whole process: a response without a hold goes straight
 * to the original (one WeakMap lookup); a held one behaves exactly as with the own-property hooks.
 * Installed when this module loads, so that middleware which saves `res.end` before Latchkey's runs
 * (compression, on-headers) saves the hook. Express's responses inherit from this prototype whatever
 * prototype it swaps in, mounted sub-apps included.
 */
function installResponseHooks(): boolean {
  const proto = ServerResponse?.prototype as unknown as Record<string, unknown> | undefined;
  if (proto === undefined || typeof nativeHeadersSent !== 'function') return false;
  const methods = ['writeHead', 'write', 'end', 'flushHeaders', 'setHeader', 'removeHeader'] as const;
  for (const name of methods) if (typeof proto[name] !== 'function') return false;
  // Bun's headersSent cannot be redefined: there, every response gets the own-property hooks instead.
  if (Object.getOwnPropertyDescriptor(proto, 'headersSent')?.configurable === false) return false;
  const writeHead = proto.writeHead as Method;
  const write = proto.write as Method;
  const end = proto.end as Method;
  const flushHeaders = proto.flushHeaders as Method;
  proto.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]) {
    const held = holds.get(this);
    if (held === undefined) return writeHead.call(this, statusCode, ...rest);
    return held.writeHead(writeHead, this, statusCode, rest);
  };
  proto.write = function (this: ServerResponse, ...args: unknown[]) {
    const held = holds.get(this);
    return held === undefined || held.pass(write, args) ? write.apply(this, args) : true;
  };
  proto.end = function (this: ServerResponse, ...args: unknown[]) {
    const held = holds.get(this);
    if (held === undefined) return end.apply(this, args);
    held.endCalled = true;
    return held.pass(end, args) ? end.apply(this, args) : this;
  };
  proto.flushHeaders = function (this: ServerResponse) {
    const held = holds.get(this);
    if (held === undefined || held.pass(flushHeaders, NO_ARGS)) flushHeaders.call(this);
  };
  Object.defineProperty(proto, 'headersSent', {
    configurable: true,
    enumerable: false,
    get(this: ServerResponse) {
      return holds.get(this)?.seemsSent() === true || nativeHeadersSent!.call(this) === true;
    },
  });
  for (const name of ['setHeader', 'removeHeader', 'appendHeader'] as const) {
    const original = proto[name] as Method | undefined;
    if (typeof original !== 'function') continue;
    proto[name] = function (this: ServerResponse, ...args: unknown[]) {
      if (holds.get(this)?.seemsSent() === true) throw headersSentError();
      return original.apply(this, args);
    };
  }
  return true;
}

const hooksInstalled = installResponseHooks();

/** What Node throws for a header change after the headers went out. */
function headersSentError(): Error {
  return Object.assign(new TypeError('Cannot set headers after they are sent to the client'), {
    code: 'ERR_HTTP_HEADERS_SENT',
  });
}

/**
 * While an asynchronous commit holds a response that the handler has already written or ended, the
 * response must look sent, as it would without the hold: `headersSent` reads true and header changes
 * throw Node's ERR_HTTP_HEADERS_SENT. Otherwise Express's final handler, or an error handler that
 * checks `headersSent`, answers a second time into the held response (a second end after the first,
 * or an error page after a partial body), which crashes the process or corrupts the response.
 */
function seemSent<T extends SessionData>(res: ServerResponse, held: Hold<T>): void {
  Object.defineProperty(res, 'headersSent', {
    configurable: true,
    get(this: ServerResponse) {
      return held.state === 'committing' || nativeHeadersSent?.call(this) === true;
    },
  });
  for (const name of ['setHeader', 'removeHeader', 'appendHeader'] as const) {
    const original = res[name] as Method | undefined;
    if (typeof original !== 'function') continue;
    (res as unknown as Record<string, Method>)[name] = function (this: ServerResponse, ...args: unknown[]) {
      if (held.state === 'committing') throw headersSentError();
      return original.apply(this, args);
    };
  }
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
            res.writeHead(statusForError(error), headersForError(error));
            res.end(bodyForError(error));
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
      res.writeHead(statusForError(error), headersForError(error));
      res.end(bodyForError(error));
      // The handler may still write to the response it believes is open; don't let that crash us.
      res.on('error', () => {});
    } catch {
      res.destroy();
    }
  };
}

/** Answer a refused request: 403, the coded reason, nothing cached. */
export function sendCsrfForbidden(res: ServerResponse, error: CsrfError): void {
  res.writeHead(403, PLAIN_NO_STORE);
  res.end(csrfForbiddenBody(error));
}

/**
 * latchkey/node's verifyCsrf with the framework's word on HTTPS (`secure`, e.g. Express's `req.secure`;
 * undefined: a TLS socket), for latchkey/express.
 */
export function verifyNodeCsrf<T extends SessionData>(
  csrf: Csrf,
  req: IncomingMessage,
  res: ServerResponse,
  session: Session<T>,
  formToken: string | undefined,
  secure: boolean | undefined,
): boolean {
  if (!csrf.needsCheck(req.method ?? 'GET')) return true;
  const refused = csrf.check(csrfRequestOf(req, secure), session, formToken);
  if (refused) sendCsrfForbidden(res, refused);
  return refused === undefined;
}
