import { type SetCookieAttributes, serializeSetCookie } from '../cookie/serialize.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import type { Clock } from './clock.ts';
import {
  checkClocks,
  decodeStorePayload,
  encodeStorePayload,
  expiresAt,
  type SessionState,
  storeSessionState,
} from './payload.ts';
import type { TimeoutPolicy } from './policy.ts';
import type { StoreBacking } from './session.ts';

/**
 * Store mode's cookie cache (`cookieCache: { maxAge }`): a sealed snapshot of the record in a second
 * cookie, `<name>.cache`, bound to the token's store key (purpose `cache`) and trusted for `maxAge`
 * after it was issued, so that most reads skip the store. A revoked session keeps working for up to
 * `maxAge` on a device holding a fresh snapshot: the documented trade-off.
 * @internal
 */
export class CookieCache {
  readonly name: string;
  readonly #maxAge: number;
  readonly #keyring: Keyring;
  readonly #policy: TimeoutPolicy;
  readonly #clock: Clock;
  /** The session cookie's attributes for a cookie that should live until `endsAt` (BaseSessions'). */
  readonly #attributesUntil: (endsAt: number, now: number) => SetCookieAttributes;

  constructor(init: {
    name: string;
    maxAge: number;
    keyring: Keyring;
    policy: TimeoutPolicy;
    clock: Clock;
    attributesUntil: (endsAt: number, now: number) => SetCookieAttributes;
  }) {
    this.name = init.name;
    this.#maxAge = init.maxAge;
    this.#keyring = init.keyring;
    this.#policy = init.policy;
    this.#clock = init.clock;
    this.#attributesUntil = init.attributesUntil;
  }

  /** The live session in the request's snapshot for this token, or undefined (then ask the store). */
  read(
    token: string,
    storeKey: string,
    readValues: (name: string) => readonly string[],
  ): { state: SessionState; backing: StoreBacking } | undefined {
    const values = readValues(this.name);
    if (values.length !== 1) return undefined;
    const result = openValue(this.#keyring, 'cache', storeKey, values[0]!);
    if (!result.ok || result.stale) return undefined;
    const payload = decodeStorePayload(result.plaintext, ['a', 't']);
    if (!payload) return undefined;
    const now = this.#clock.now();
    const issuedAt = payload.extra.t!;
    if (issuedAt > now + this.#policy.clockSkew || now >= issuedAt + this.#maxAge) return undefined;
    const state = storeSessionState(payload, payload.extra.a!);
    if (checkClocks(state, this.#policy, now) !== 'live') return undefined;
    return { state, backing: { token, storeKey, version: payload.version } };
  }

  /**
   * The Set-Cookie line of a fresh snapshot, or undefined when it would not fit one cookie. `dataJson`:
   * the data's JSON, when the caller has it.
   */
  line(backing: StoreBacking, state: SessionState, now: number, dataJson?: string): string | undefined {
    const extra = { a: state.lastActiveAt, t: now };
    const payload = encodeStorePayload(state, backing.version, extra, dataJson);
    const sealed = sealValue(this.#keyring, 'cache', backing.storeKey, payload);
    const endsAt = Math.min(now + this.#maxAge, expiresAt(state, this.#policy));
    try {
      return serializeSetCookie(this.name, sealed, this.#attributesUntil(endsAt, now));
    } catch {
      return undefined; // too large for one cookie: go without the cache (the old one is deleted)
    }
  }
}
