import { LatchkeyError } from '../../../src/errors.ts';

/** What a scenario app answers (with 500) for a failure its adapter reports: the LatchkeyError code. */
export function errorBody(error: unknown): string {
  return error instanceof LatchkeyError ? error.code : 'error';
}
