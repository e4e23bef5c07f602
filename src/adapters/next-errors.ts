import { SessionStateError } from '../errors.ts';

/** The coded error for a session write where Next.js allows no cookie to be set (a Server Component). */
export function readOnlyError(what: string, cause?: unknown): SessionStateError {
  const error = new SessionStateError(
    `${what}: a Server Component cannot write the session (Next.js sets cookies only in Server ` +
      'Actions and Route Handlers). Change it in a Server Action or Route Handler, or refresh it in ' +
      'middleware / proxy with withSession() from latchkey/next.',
  );
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, configurable: true });
  return error;
}
