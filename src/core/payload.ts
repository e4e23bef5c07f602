import { isTokenText } from '../crypto/random.ts';
import { type CookieOverrides, decodeOverrides, idleTimeoutOf } from './cookie-overrides.ts';
import { hasKeys, isPlainObject, PAYLOAD_MAX_DEPTH, parseJsonFields, parseSafeJson } from './json.ts';
import type { TimeoutPolicy } from './policy.ts';

/** The clocks and contents of one session, as sealed into the cookie (DESIGN.md §2, "Inside the seal"). */
export interface SessionState {
  /** When the session began, or was last signed in (UTC ms). */
  createdAt: number;
  /** The last request that renewed the session (UTC ms). */
  lastActiveAt: number;
  /** createdAt + absoluteTimeout as it was when the session began: activity never moves it. */
  absoluteDeadline: number;
  userId: string | undefined;
  data: Record<string, unknown>;
  flash: Record<string, unknown> | undefined;
  /** The per-session CSRF secret (latchkey/csrf), 32 random bytes in base64url, made on first use. */
  csrfSecret?: string | undefined;
  /**
   * Cookie mode with `revocation`: this sign-in's id (32 random bytes in base64url), so that a sign-out
   * can end this session alone. Made at login or regenerate; never in store mode.
   */
  sessionId?: string | undefined;
  /**
   * Cookie mode with `revocation`: when the session counts as signed in for revocation, when that is
   * not `createdAt`: set past a revocation that kept this session, or that happened in the same
   * millisecond as its sign-in.
   */
  authTime?: number | undefined;
  /** This session's own cookie options (cookie-overrides.ts), when it has any. */
  cookie?: CookieOverrides | undefined;
}

/** A CSRF secret as sealed: 32 bytes of base64url (made by newToken). */
function isCsrfSecret(value: unknown): value is string | undefined {
  return value === undefined || isTokenText(value);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A payload's JSON text (sealValue encodes it as UTF-8), written out directly: `head` holds the
 * leading fields, then `d` (the data's JSON, which a commit has usually made already to find changes),
 * the fields sealed only when present (`u`, `f`, `k`, `s`, `t`, `o`) and `extra`. The same text as `JSON.stringify`
 * of the object with those keys in that order.
 */
function payloadText(
  head: string,
  state: SessionState,
  dataJson: string,
  extra?: Record<string, number>,
): string {
  let text = `${head},"d":${dataJson}`;
  if (state.userId !== undefined) text += `,"u":${JSON.stringify(state.userId)}`;
  if (hasKeys(state.flash)) text += `,"f":${JSON.stringify(state.flash)}`;
  if (state.csrfSecret !== undefined) text += `,"k":${JSON.stringify(state.csrfSecret)}`;
  if (state.sessionId !== undefined) text += `,"s":${JSON.stringify(state.sessionId)}`;
  if (state.authTime !== undefined) text += `,"t":${json(state.authTime)}`;
  if (state.cookie !== undefined) text += `,"o":${JSON.stringify(state.cookie)}`;
  if (extra) for (const key of Object.keys(extra)) text += `,${JSON.stringify(key)}:${json(extra[key]!)}`;
  return `${text}}`;
}

/** The sealed JSON of a cookie-mode session: short keys, because every byte rides on every request. */
export function encodePayload(state: SessionState, dataJson = JSON.stringify(state.data)): string {
  const head = `{"v":1,"c":${json(state.createdAt)},"a":${json(state.lastActiveAt)},"x":${json(state.absoluteDeadline)}`;
  return payloadText(head, state, dataJson);
}

/** A number as JSON: its digits (the common case), or what JSON.stringify makes of anything else. */
function json(value: number): string {
  return Number.isSafeInteger(value) ? String(value) : JSON.stringify(value);
}

function isTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The payload fields that hold app data (`d`, `f`): the ones hardened on read (checklist #47). */
const DATA_FIELDS: readonly string[] = ['d', 'f'];

/**
 * UTF-8 JSON of a version-1 payload object; undefined for anything else. By default the whole object
 * is hardened (json.ts); with `dataFields`, only those fields are, and the caller checks every other
 * field it reads as a scalar or copies it field by field (the session decoders below).
 */
export function openPayloadObject(
  plaintext: Uint8Array,
  dataFields?: readonly string[],
): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = decoder.decode(plaintext);
  } catch {
    return undefined;
  }
  const payload =
    dataFields === undefined
      ? parseSafeJson(text, PAYLOAD_MAX_DEPTH)
      : parseJsonFields(text, dataFields, PAYLOAD_MAX_DEPTH);
  return isPlainObject(payload) && payload.v === 1 ? payload : undefined;
}

/** Decode an authenticated payload; undefined when its shape is wrong in any way. */
export function decodePayload(plaintext: Uint8Array): SessionState | undefined {
  // `o` needs no hardening: decodeOverrides copies only its known scalar fields.
  const payload = openPayloadObject(plaintext, DATA_FIELDS);
  if (!payload) return undefined;
  const { c, a, x, u, d, f, k, s, t, o } = payload;
  if (!isTimestamp(c) || !isTimestamp(a) || !isTimestamp(x) || !isCsrfSecret(k)) return undefined;
  const cookie = decodeOverrides(o);
  if (cookie === false) return undefined;
  if (s !== undefined && !isTokenText(s)) return undefined;
  if (t !== undefined && !isTimestamp(t)) return undefined;
  if (a < c || x < c) return undefined;
  if (u !== undefined && typeof u !== 'string') return undefined;
  if (!isPlainObject(d)) return undefined;
  if (f !== undefined && !isPlainObject(f)) return undefined;
  const state: SessionState = {
    createdAt: c,
    lastActiveAt: a,
    absoluteDeadline: x,
    userId: u,
    data: d,
    flash: f,
    csrfSecret: k,
  };
  if (s !== undefined) state.sessionId = s;
  if (t !== undefined) state.authTime = t;
  if (cookie !== undefined) state.cookie = cookie;
  return state;
}

export type ClockVerdict = 'live' | 'idle' | 'absolute' | 'future';

/**
 * Decide from the sealed clocks alone, never from cookie Max-Age or a store TTL (checklist #28).
 * Expiry is exact (a deadline equal to now has passed); the skew allowance only forgives timestamps
 * from a server whose clock runs slightly ahead (checklist #29).
 */
export function checkClocks(state: SessionState, policy: TimeoutPolicy, now: number): ClockVerdict {
  const ahead = now + policy.clockSkew;
  // authTime may be 1 ms past a revocation made at `now` by a server up to clockSkew ahead.
  if (state.createdAt > ahead || state.lastActiveAt > ahead || (state.authTime ?? 0) > ahead + 1)
    return 'future';
  const absoluteDeadline = Math.min(state.absoluteDeadline, state.createdAt + policy.absoluteTimeout);
  // A fixed end the session was given (cookieOptions({ expires })) is an absolute deadline too.
  if (now >= absoluteDeadline || now >= (state.cookie?.expires ?? Number.POSITIVE_INFINITY))
    return 'absolute';
  if (now >= state.lastActiveAt + idleTimeoutOf(state.cookie, policy)) return 'idle';
  return 'live';
}

/** When the session ends if nothing else happens: the earlier of its idle and absolute deadlines. */
export function expiresAt(state: SessionState, policy: TimeoutPolicy): number {
  return Math.min(
    state.lastActiveAt + idleTimeoutOf(state.cookie, policy),
    state.absoluteDeadline,
    state.createdAt + policy.absoluteTimeout,
    state.cookie?.expires ?? Number.POSITIVE_INFINITY,
  );
}

/**
 * Store mode: the data sealed into a record, bound to its version and clocks (DESIGN.md §2, §3). The
 * activity clock is kept outside the seal (the record's lastSeenAt, or the cookie cache's `a`).
 */
export interface StorePayload extends Omit<SessionState, 'lastActiveAt'> {
  version: number;
}

/** The session a store payload holds, last active at `lastActiveAt` (never before it began). */
export function storeSessionState(payload: StorePayload, lastActiveAt: number): SessionState {
  const state: SessionState = {
    createdAt: payload.createdAt,
    lastActiveAt: Math.max(lastActiveAt, payload.createdAt),
    absoluteDeadline: payload.absoluteDeadline,
    userId: payload.userId,
    data: payload.data,
    flash: payload.flash,
    csrfSecret: payload.csrfSecret,
  };
  if (payload.cookie !== undefined) state.cookie = payload.cookie;
  return state;
}

/** `dataJson`: the data's JSON when the caller has made it already (a commit's change test). */
export function encodeStorePayload(
  state: SessionState,
  version: number,
  extra?: Record<string, number>,
  dataJson = JSON.stringify(state.data),
): string {
  const head = `{"v":1,"n":${json(version)},"c":${json(state.createdAt)},"x":${json(state.absoluteDeadline)}`;
  return payloadText(head, state, dataJson, extra);
}

/**
 * Decode an authenticated store payload; `extra` names further integer fields that must be present,
 * `optional` integer fields that may be (both come back in `extra`).
 */
export function decodeStorePayload(
  plaintext: Uint8Array,
  extra: readonly string[] = [],
  optional: readonly string[] = [],
): (StorePayload & { extra: Record<string, number> }) | undefined {
  const payload = openPayloadObject(plaintext, DATA_FIELDS);
  if (!payload) return undefined;
  const { n, c, x, u, d, f, k, o } = payload;
  if (!isCsrfSecret(k)) return undefined;
  const cookie = decodeOverrides(o);
  if (cookie === false) return undefined;
  if (!isTimestamp(c) || !isTimestamp(x) || x < c || !Number.isSafeInteger(n) || (n as number) < 1)
    return undefined;
  if (u !== undefined && typeof u !== 'string') return undefined;
  if (!isPlainObject(d) || (f !== undefined && !isPlainObject(f))) return undefined;
  const values: Record<string, number> = {};
  for (const name of extra) {
    const value = Object.hasOwn(payload, name) ? payload[name] : undefined;
    if (!isTimestamp(value)) return undefined;
    values[name] = value;
  }
  for (const name of optional) {
    const value = payload[name];
    if (value === undefined) continue;
    if (!isTimestamp(value)) return undefined;
    values[name] = value;
  }
  return {
    version: n as number,
    createdAt: c,
    absoluteDeadline: x,
    userId: u,
    data: d,
    flash: f,
    csrfSecret: k,
    ...(cookie !== undefined && { cookie }),
    extra: values,
  };
}
