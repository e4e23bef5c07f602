import { CookieSessions } from './cookie-mode.ts';
import { resolveSessionsOptions, type SessionsOptions } from './options.ts';
import type { SessionState } from './payload.ts';
import type { TimeoutPolicy } from './policy.ts';
import type { LoadOptions, RequestLike } from './request.ts';
import type { Session, SessionData } from './session.ts';
import { StoreSessions } from './store-mode.ts';
import { loadTelemetry } from './telemetry.ts';

/** What `inspect()` finds in a cookie value: for the CLI and for debugging, never for authorization. */
export type Inspection =
  | {
      status: 'invalid';
      reason:
        | 'malformed'
        | 'tampered'
        | 'unknown-key'
        | 'unsupported'
        | 'payload'
        | 'ambiguous'
        | 'unknown-session';
    }
  | {
      status: 'valid' | 'expired';
      verdict: 'live' | 'idle' | 'absolute' | 'future';
      kid: string;
      stale: boolean;
      state: SessionState;
      expiresAt: number;
    };

/** One of a user's sessions, for a "your devices" page. `id` identifies it; it is not the token. */
export interface DeviceSession {
  readonly id: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly expiresAt: number;
  /** A display label from the User-Agent at sign-in, such as 'Firefox on Linux'. */
  readonly label: string | undefined;
  /** True for the session passed as `current`. */
  readonly current: boolean;
}

export interface Sessions<T extends SessionData = Record<string, unknown>> {
  /** `cookie`: the session sealed in the cookie; `store`: a token in the cookie, the data in a store. */
  readonly mode: 'cookie' | 'store';
  /** The session cookie's name (chunks are `name.1`, `name.2`, …; the store-mode cache `name.cache`). */
  readonly cookieName: string;
  readonly policy: TimeoutPolicy;
  readonly development: boolean;
  /**
   * Read the session from a request. Never throws for a bad, expired or tampered cookie; in store mode
   * a store outage rejects with ERR_LATCHKEY_STORE_UNAVAILABLE (adapters answer 503).
   */
  load(request: RequestLike, options?: LoadOptions): Promise<Session<T>>;
  /**
   * Save what changed and return the Set-Cookie header lines to send (empty when nothing changed).
   * Adapters call this for you before the response headers go out.
   */
  commit(session: Session<T>): Promise<string[]>;
  /** Cookie mode: open a cookie value (or a Cookie header holding its chunks) and report what is inside. */
  inspect(value: string): Inspection;
  /**
   * Either mode: cookie mode opens the value as `inspect` does; store mode reads the record a token
   * names (read-only: nothing is renewed or deleted) and reports what is inside.
   */
  inspectStored(value: string): Promise<Inspection>;
  /** Store mode: the user's live sessions, oldest first. */
  listUserSessions(userId: string, options?: { current?: Session<T> }): Promise<DeviceSession[]>;
  /**
   * Sign the user out everywhere, except `except` if given. Store mode deletes the records and returns how
   * many ended; cookie mode needs `revocation`, refuses sessions signed in until now and resolves to 0.
   */
  revokeUserSessions(userId: string, options?: { except?: Session<T> | string }): Promise<number>;
  /** Store mode: end one of the user's sessions by its `id` (from listUserSessions); false if none. */
  revokeUserSession(userId: string, id: string): Promise<boolean>;
  /**
   * Stop the purge schedule (store mode's `purge`); a no-op otherwise. The store stays open: close it
   * yourself (it is yours). Sessions keep working after close(), only without scheduled purges.
   */
  close(): Promise<void>;
}

/**
 * Create the session manager for your app: once, at start-up. Throws a coded LatchkeyError for any
 * unsafe or contradictory configuration. With `store`, sessions live on the server (store mode).
 *
 * @example
 * ```ts
 * const sessions = createSessions<{ userName: string; visits: number }>({
 *   keys: process.env.LATCHKEY_KEYS, // 'k1:<base64url>', from `npx latchkey keygen`
 * });
 * ```
 */
export function createSessions<T extends SessionData = Record<string, unknown>>(
  options: SessionsOptions = {},
): Sessions<T> {
  const resolved = resolveSessionsOptions(options);
  void loadTelemetry(); // the optional @opentelemetry/api peer, if installed (src/core/telemetry.ts)
  return resolved.store ? new StoreSessions<T>(resolved, resolved.store) : new CookieSessions<T>(resolved);
}

export type { SessionsOptions };
