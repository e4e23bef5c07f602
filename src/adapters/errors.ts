import { CreationLimited, LatchkeyError, StoreUnavailable } from '../errors.ts';

/** The statuses of the answers the adapters make themselves when a request fails. */
export type FailureStatus = 429 | 500 | 503;

/**
 * The status an adapter answers with when a request fails: 503 for a store outage, 429 for a session
 * refused by `creationLimit`, else 500.
 */
export function statusForError(error: unknown): FailureStatus {
  return error instanceof StoreUnavailable || error instanceof CreationLimited ? error.status : 500;
}

const STATUS_TEXT: Readonly<Record<FailureStatus, string>> = {
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * The body of the answer for `error`: the status text, and for Latchkey's own errors (but an outage's)
 * their code, such as `Internal Server Error (ERR_LATCHKEY_TOO_LARGE)`, so that the developer sees
 * why without the log. A code is no secret; the message and stack never go out (checklist #48).
 */
export function bodyForError(error: unknown): string {
  const status = statusForError(error);
  if (error instanceof LatchkeyError && status !== 503) return `${STATUS_TEXT[status]} (${error.code})`;
  return STATUS_TEXT[status];
}

/** Default error report: Latchkey's coded errors in one line, anything else as is. */
export function reportError(error: unknown): void {
  if (error instanceof LatchkeyError) console.error(`latchkey: ${error.code}: ${error.message}`);
  else console.error(error);
}

/** The headers of the bare answers the adapters make themselves (500/503, 403): plain text, never cached. */
export const PLAIN_NO_STORE = Object.freeze({
  'content-type': 'text/plain; charset=utf-8',
  'cache-control': 'no-store',
});

/** The headers of the failure answer for `error`: PLAIN_NO_STORE, and Retry-After for a 429. */
export function headersForError(error: unknown): Readonly<Record<string, string>> {
  return error instanceof CreationLimited ? { ...PLAIN_NO_STORE, ...error.headers } : PLAIN_NO_STORE;
}

/**
 * The default failure answer of the Fetch adapters: log, then a bare 500 (503 for a store outage, 429
 * with Retry-After for a refused creation).
 */
export function errorResponse(error: unknown): Response {
  reportError(error);
  return new Response(bodyForError(error), {
    status: statusForError(error),
    headers: headersForError(error),
  });
}
