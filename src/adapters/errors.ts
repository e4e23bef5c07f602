import { LatchkeyError } from '../errors.ts';

/** The status an adapter answers with when a request fails: 503 for a store outage, else 500. */
export function statusForError(error: unknown): 500 | 503 {
  return error instanceof LatchkeyError && error.code === 'ERR_LATCHKEY_STORE_UNAVAILABLE' ? 503 : 500;
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
