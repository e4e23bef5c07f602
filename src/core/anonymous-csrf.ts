import { type SetCookieAttributes, serializeSetCookie } from '../cookie/serialize.ts';
import type { Keyring } from '../crypto/keyring.ts';
import { isTokenText } from '../crypto/random.ts';
import { openValue, sealValue } from '../crypto/seal.ts';
import type { Clock } from './clock.ts';
import { hasKeys, isPlainObject, parseSafeJson } from './json.ts';
import type { TimeoutPolicy } from './policy.ts';
import type { SessionImpl } from './session.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });
/** A sealed `{ s, t, e }` is far under this; anything longer is not ours. */
const MAX_SEALED_LENGTH = 512;

/**
 * Store mode: the CSRF secret of a visitor who has no store record (issue 14 §2, checklist #35).
 *
 * A form for an anonymous visitor needs a CSRF token, and the token a per-visitor secret; keeping that
 * secret in a store record would cost one record per cookieless request. Until the session holds
 * something worth keeping (data, a flash, a user), the secret lives instead in a second cookie,
 * `<name>.csrf`, sealed with purpose `csrf` and the cookie's name in the AAD (checklist #39), with its
 * issue time and deadline inside the seal (checklist #40): a signed double-submit cookie whose token is
 * still masked on every render and checked in constant time by latchkey/csrf. The cookie carries the
 * session cookie's attributes (`__Host-`, Secure, HttpOnly), so a sibling subdomain can neither read
 * nor plant it. When the session gets a record, the secret moves into it and the cookie is deleted.
 * @internal
 */
export class AnonymousCsrf {
  readonly name: string;
  readonly #keyring: Keyring;
  readonly #policy: TimeoutPolicy;
  readonly #clock: Clock;
  /** What each session's request carried: its secret and issue time, or null when none. */
  readonly #carried = new WeakMap<SessionImpl<object>, { secret: string; issuedAt: number } | null>();

  constructor(init: { name: string; keyring: Keyring; policy: TimeoutPolicy; clock: Clock }) {
    this.name = init.name;
    this.#keyring = init.keyring;
    this.#policy = init.policy;
    this.#clock = init.clock;
  }

  /**
   * On load, for a request without a live session: the secret the request's cookie carries becomes
   * the new session's, so that a token rendered on an earlier page still checks.
   */
  adopt(impl: SessionImpl<object>, readCookie: (name: string) => readonly string[]): void {
    const values = readCookie(this.name);
    if (values.length === 0) return;
    const carried = this.#open(values);
    this.#carried.set(impl, carried);
    if (carried !== null && impl._state.csrfSecret === undefined) impl._state.csrfSecret = carried.secret;
  }

  /** Remember that the request carried the cookie, without using it (a live session's request). */
  seen(impl: SessionImpl<object>, readCookie: (name: string) => readonly string[]): void {
    if (readCookie(this.name).length > 0) this.#carried.set(impl, null);
  }

  /** True when the session holds nothing but a CSRF secret: no record needed, only this cookie. */
  holdsOnlySecret(impl: SessionImpl<object>): boolean {
    const { data, flash, userId, csrfSecret } = impl._state;
    return csrfSecret !== undefined && userId === undefined && !hasKeys(data) && !hasKeys(flash);
  }

  /**
   * The line for an anonymous session's secret: none when the request's cookie already carries it and
   * has more than half its life left, else a fresh seal.
   */
  line(
    impl: SessionImpl<object>,
    attributes: (endsAt: number, now: number) => SetCookieAttributes,
  ): string[] {
    const secret = impl._state.csrfSecret!;
    const now = this.#clock.now();
    const carried = this.#carried.get(impl);
    const lifetime = this.#policy.absoluteTimeout;
    if (carried?.secret === secret && now - carried.issuedAt < lifetime / 2) return [];
    const endsAt = now + lifetime;
    const payload = JSON.stringify({ s: secret, t: now, e: endsAt });
    const sealed = sealValue(this.#keyring, 'csrf', this.name, payload);
    this.#carried.set(impl, { secret, issuedAt: now });
    return [serializeSetCookie(this.name, sealed, attributes(endsAt, now))];
  }

  /** The deletion to send when the request carried the cookie and the session no longer needs it. */
  needsDeletion(impl: SessionImpl<object>): boolean {
    if (!this.#carried.has(impl)) return false;
    this.#carried.delete(impl);
    return true;
  }

  #open(values: readonly string[]): { secret: string; issuedAt: number } | null {
    // Duplicates (cookie tossing): exactly one must open, as for the session cookie (checklist #17).
    let found: { secret: string; issuedAt: number } | null = null;
    const now = this.#clock.now();
    for (const value of new Set(values)) {
      const opened = openValue(this.#keyring, 'csrf', this.name, value, MAX_SEALED_LENGTH);
      if (!opened.ok) continue;
      let payload: unknown;
      try {
        payload = parseSafeJson(decoder.decode(opened.plaintext));
      } catch {
        continue;
      }
      if (!isPlainObject(payload)) continue;
      const { s, t, e } = payload as Record<string, unknown>;
      if (!isTokenText(s) || typeof t !== 'number' || typeof e !== 'number') continue;
      if (t > now + this.#policy.clockSkew || now >= e) continue;
      if (found !== null) return null;
      found = { secret: s, issuedAt: t };
    }
    return found;
  }
}
