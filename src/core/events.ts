import type { LatchkeyErrorCode } from '../errors.ts';

/**
 * What Latchkey tells the application about sessions. Events never carry a cookie value, a token,
 * a key or session data: they are safe to log as they are (checklist #61).
 */
export type SessionEvent =
  | {
      type: 'invalid';
      /**
       * Why the cookie was not accepted. `ambiguous`: more than one valid value was sent, or so many
       * values or pairs that the real one could be hidden among them (checklist #17). `oversized`: the
       * Cookie header, or the value, was over the parse limits (checklist #62).
       */
      reason:
        | 'malformed'
        | 'tampered'
        | 'unknown-key'
        /** A value of an algorithm whose backend is missing here (`v2x.` without sodium-native). */
        | 'unsupported'
        | 'ambiguous'
        | 'payload'
        | 'future'
        | 'oversized'
        /** Store mode: a well-formed token with no live record (never adopted, checklist #3). */
        | 'unknown-session'
        /** No Latchkey cookie, and an old library's cookie that its legacy reader did not accept. */
        | 'legacy';
    }
  | { type: 'expired'; reason: 'idle' | 'absolute' }
  /**
   * Cookie mode with `revocation`: the session signed out, or its user was signed out everywhere.
   * Store mode: a `regenerate()` or `login()` found the session's record gone, rotated or ended by
   * another request meanwhile; this request goes on with an empty session (checklist #32).
   */
  | { type: 'revoked' }
  | { type: 'rotated'; fromKid: string; toKid: string }
  | { type: 'too-large'; bytes: number; limit: number }
  | { type: 'insecure-transport' }
  | { type: 'created' }
  | { type: 'regenerated' }
  | { type: 'destroyed' }
  /** Store mode with maxSessionsPerUser: a sign-in ended the user's oldest sessions (checklist #34). */
  | { type: 'evicted'; count: number }
  /** Store mode: a write met a concurrent one and was re-applied on the fresher record. */
  | { type: 'conflict'; attempt: number }
  /** A legacy reader's session became a Latchkey session on this request (`from`: the reader's name). */
  | { type: 'migrated'; from: string }
  /** Store mode with `tokenRenewal`: this request's session got a new token (the old one has its grace). */
  | { type: 'renewed' }
  /**
   * Store mode with `tokenRenewal`: a renewed token came back after its grace, so two parties hold
   * it; the whole session was ended (checklist #27). `userId`: the session's user, if signed in.
   */
  | { type: 'token-reuse'; userId?: string }
  /** `signals.userAgent`: the browser or system family differs from the session's ("Firefox on Linux"). */
  | { type: 'user-agent-changed'; from: string; to: string }
  /** `signals.network`: the request's network prefix (such as `203.0.113.0/24`) differs from the last. */
  | { type: 'network-changed'; network: string }
  /**
   * `signals.invalidBurst`: one client network (its prefix; undefined when the address is unknown)
   * presented `count` invalid or revoked tokens within `within` ms.
   */
  | { type: 'burst'; count: number; within: number; network: string | undefined }
  /** Store mode with creationLimit: a new session was refused (429), its client's or the overall limit. */
  | { type: 'creation-limited'; scope: 'client' | 'overall' }
  /** Store mode: the purge schedule deleted `count` expired records in `ms`. */
  | { type: 'purged'; count: number; ms: number }
  /** Store mode: a scheduled purge failed (the error's code); the schedule goes on. */
  | { type: 'purge-failed'; code: LatchkeyErrorCode };

export type SessionEventType = SessionEvent['type'];

export type EventListener = (event: SessionEvent & { at: number }) => void;

/** Wrap a user listener so that a throwing listener can never break a request. */
export function safeListener(listener: EventListener | undefined): EventListener {
  if (!listener) return () => {};
  return (event) => {
    try {
      listener(event);
    } catch {
      // A logging hook must not turn a session check into a 500.
    }
  };
}
