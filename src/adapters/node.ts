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
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session, SessionData } from '../core/session.ts';
import type { Sessions } from '../core/sessions.ts';
import type { Csrf } from '../csrf/index.ts';
import { SessionStateError } from '../errors.ts';
import { reportError } from './errors.ts';
import {
  failer,
  type HeldResponse,
  holdUntilCommitted,
  type NodeSessionOptions,
  verifyNodeCsrf,
} from './node-hold.ts';
import { bodyField, syncSessions } from './shared.ts';

export { applyToNodeResponse, type NodeSessionOptions, sendCsrfForbidden } from './node-hold.ts';

type Handler<T extends SessionData> = (
  req: IncomingMessage,
  res: ServerResponse,
  session: Session<T>,
) => unknown | Promise<unknown>;

/** Wrap a node:http request listener: it receives the session, and the response carries its cookie. */
export function withSession<T extends SessionData>(
  sessions: Sessions<T>,
  handler: Handler<T>,
  options: NodeSessionOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const fail = failer(options);
  const sync = syncSessions(sessions);
  /** The handler failed: the response stands if it was finished, else a failure response replaces it. */
  const failed = (
    error: unknown,
    req: IncomingMessage,
    res: ServerResponse,
    held: HeldResponse | undefined,
  ) => {
    if (held?.ended()) {
      // The handler finished its response and then failed: the response stands; report the error.
      reportError(error);
      return;
    }
    // A failed request commits nothing: the 500 must not carry half-made session changes.
    held?.cancel();
    fail(error, req, res);
  };
  if (sync !== undefined) {
    // Cookie mode: no promise for the session, and none at all when the handler returns none.
    return (req, res) => {
      let held: HeldResponse | undefined;
      try {
        const session = sync.loadNow(req);
        held = holdUntilCommitted(res, sessions, sync, session, (error) => fail(error, req, res));
        const result = handler(req, res, session);
        if (isPromiseLike(result)) {
          return Promise.resolve(result).then(NOTHING, (error: unknown) => failed(error, req, res, held));
        }
      } catch (error) {
        failed(error, req, res, held);
      }
      return DONE;
    };
  }
  return async (req, res) => {
    let held: HeldResponse | undefined;
    try {
      const session = await sessions.load(req);
      held = holdUntilCommitted(res, sessions, sync, session, (error) => fail(error, req, res));
      await handler(req, res, session);
    } catch (error) {
      failed(error, req, res, held);
    }
  };
}

const DONE: Promise<void> = Promise.resolve();
const NOTHING = (): void => {};

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
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
  const sync = syncSessions(sessions);
  /** The session is loaded: give the request its req.session, hold the response, go on. */
  const begin = (req: IncomingMessage, res: ServerResponse, next: () => void, session: Session<T>) => {
    (req as IncomingMessage & { session?: Session<T> }).session = session;
    holdUntilCommitted(res, sessions, sync, session, (error) => fail(error, req, res));
    next();
  };
  if (sync !== undefined) {
    return (req, res, next) => {
      let session: Session<T>;
      try {
        session = sync.loadNow(req);
      } catch (error) {
        fail(error, req, res);
        return;
      }
      begin(req, res, next, session);
    };
  }
  return (req, res, next) => {
    sessions.load(req).then(
      (session) => begin(req, res, next, session),
      (error: unknown) => fail(error, req, res),
    );
  };
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
  return verifyNodeCsrf(csrf, req, res, session, formToken, undefined);
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
    if (verifyCsrf(csrf, req, res, session, bodyField(req.body, csrf.fieldName))) next();
  };
}
