import { LatchkeyError, StoreUnavailable } from '../errors.ts';

/** The status an adapter answers with when a request fails: 503 for a store outage, else 500. */
export function statusForError(error: unknown): 500 | 503 {
  return error instanceof StoreUnavailable ? error.status : 500;
}

/** The body that goes with it: the status text only, never a message or stack (checklist #48). */
export function bodyForStatus(status: 500 | 503): string {
  return status === 503 ? 'Service Unavailable' : 'Internal Server Error';
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

/** The default failure answer of the Fetch adapters: log, then a bare 500 (503 for a store outage). */
export function errorResponse(error: unknown): Response {
  reportError(error);
  const status = statusForError(error);
  return new Response(bodyForStatus(status), { status, headers: PLAIN_NO_STORE });
}
