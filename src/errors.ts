/**
 * Every error Latchkey throws on purpose is a {@link LatchkeyError} with a stable `code`.
 * Switch on `err.code`, never on the message: messages may change, codes do not.
 *
 * @example
 * ```ts
 * try { createSessions({ keys: 'k1:short' }) }
 * catch (err) { if (err instanceof LatchkeyError && err.code === 'ERR_LATCHKEY_KEY') { ... } }
 * ```
 */
export type LatchkeyErrorCode =
  | 'ERR_LATCHKEY_CONFIG'
  | 'ERR_LATCHKEY_KEY'
  | 'ERR_LATCHKEY_COOKIE'
  | 'ERR_LATCHKEY_DECRYPT'
  | 'ERR_LATCHKEY_TOO_LARGE'
  | 'ERR_LATCHKEY_STATE'
  | 'ERR_LATCHKEY_STORE_UNAVAILABLE'
  | 'ERR_LATCHKEY_CONFLICT'
  | 'ERR_LATCHKEY_CSRF'
  | 'ERR_LATCHKEY_RATE_LIMITED'
  | 'ERR_LATCHKEY_VALUE'
  | 'ERR_LATCHKEY_UNSUPPORTED';

export class LatchkeyError extends Error {
  readonly code: LatchkeyErrorCode;

  constructor(code: LatchkeyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Configuration that cannot work or is unsafe; thrown at construction. */
export class ConfigError extends LatchkeyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LATCHKEY_CONFIG', message, options);
  }
}

/** A missing, malformed, short or placeholder key; thrown at construction. */
export class KeyError extends LatchkeyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LATCHKEY_KEY', message, options);
  }
}

/** A cookie name, value or attribute that would not serialize to a valid, safe Set-Cookie line. */
export class CookieError extends LatchkeyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LATCHKEY_COOKIE', message, options);
  }
}

/**
 * An AEAD open failed. The message is the same for every cause (wrong key, tampering, truncation),
 * so that it tells an attacker nothing.
 */
export class DecryptError extends LatchkeyError {
  constructor() {
    super('ERR_LATCHKEY_DECRYPT', 'decryption failed');
  }
}

/** The session does not fit in the configured number of cookies; thrown at commit. */
export class SessionTooLarge extends LatchkeyError {
  constructor(message: string) {
    super('ERR_LATCHKEY_TOO_LARGE', message);
  }
}

/** A session used after it was committed or destroyed, or another misuse of its lifecycle. */
export class SessionStateError extends LatchkeyError {
  constructor(message: string) {
    super('ERR_LATCHKEY_STATE', message);
  }
}

/** The session store refused or timed out. Adapters answer 503; the request is never signed in. */
export class StoreUnavailable extends LatchkeyError {
  /** The HTTP status for it (Express and Koa error handlers read `status`). */
  readonly status = 503;

  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LATCHKEY_STORE_UNAVAILABLE', message, options);
  }
}

/** Compare-and-set kept failing under concurrent writes to one session. */
export class ConflictError extends LatchkeyError {
  constructor(message: string) {
    super('ERR_LATCHKEY_CONFLICT', message);
  }
}

/**
 * A value a session cannot keep as it is (a function, a symbol key, a Date, a cycle, nesting past the
 * depth limit), written through a framework-native session object (`ctx.session.x = …`): refused at
 * once rather than dropped or changed at commit.
 */
export class SessionValueError extends LatchkeyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LATCHKEY_VALUE', message, options);
  }
}

/** A peer library's session API that Latchkey does not offer (the message says what to use instead). */
export class UnsupportedError extends LatchkeyError {
  constructor(message: string) {
    super('ERR_LATCHKEY_UNSUPPORTED', message);
  }
}

/**
 * Store mode with `creationLimit`: the request would create a session while its client, or all clients
 * together, are over the limit. Nothing was written. Adapters answer 429 with `Retry-After`.
 */
export class CreationLimited extends LatchkeyError {
  /** The HTTP status for it (Express and Koa error handlers read `status`). */
  readonly status = 429;
  /** Whole seconds until a creation would be allowed, for `Retry-After`. */
  readonly retryAfter: number;
  /** The response headers for it (Express's final handler sends an error's `headers`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(message: string, retryAfter: number) {
    super('ERR_LATCHKEY_RATE_LIMITED', message);
    this.retryAfter = retryAfter;
    this.headers = Object.freeze({ 'retry-after': String(retryAfter) });
  }
}

/** Why latchkey/csrf refused a request. */
export type CsrfReason = 'cross-origin' | 'token-missing' | 'token-invalid';

/** A request refused by latchkey/csrf: `reason` says why; answer 403. */
export class CsrfError extends LatchkeyError {
  readonly reason: CsrfReason;
  readonly status = 403;

  constructor(reason: CsrfReason, message: string) {
    super('ERR_LATCHKEY_CSRF', message);
    this.reason = reason;
  }
}

/** True when `err` is a LatchkeyError, optionally with the given code. */
export function isLatchkeyError(err: unknown, code?: LatchkeyErrorCode): err is LatchkeyError {
  return err instanceof LatchkeyError && (code === undefined || err.code === code);
}
