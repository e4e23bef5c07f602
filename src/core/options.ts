import type { CookieOptions } from '../cookie/options.ts';
import type { CryptoBackend, SealAlgorithm } from '../crypto/aead.ts';
import {
  createKeyring,
  isKeyring,
  type Keyring,
  type KeyringOptions,
  parseKeyring,
} from '../crypto/keyring.ts';
import { randomBytes } from '../crypto/random.ts';
import { emitWarning, environmentVariable } from '../crypto/runtime.ts';
import { ConfigError, KeyError } from '../errors.ts';
import type { SessionStore } from '../stores/types.ts';
import { type Clock, systemClock } from './clock.ts';
import {
  type CreationLimitOptions,
  type ResolvedCreationLimit,
  resolveCreationLimit,
} from './creation-limit.ts';
import type { EventListener } from './events.ts';
import { type LegacyReader, type LegacyReaders, resolveLegacy } from './legacy.ts';
import {
  type Duration,
  parseDuration,
  resolvePolicy,
  type TimeoutPolicy,
  type TimeoutPreset,
} from './policy.ts';
import { type PurgeOptions, resolvePurge } from './purge-schedule.ts';
import { type RenewalPolicy, resolveTokenRenewal, type TokenRenewalOptions } from './renewal.ts';
import { type ResolvedSignals, resolveSignals, type SignalsOptions } from './signals.ts';

export interface SessionsOptions {
  /**
   * The keyring: `'kid:base64url,kid:base64url'` (the first key seals, every key opens) or a parsed
   * Keyring. Defaults to `process.env.LATCHKEY_KEYS`. Generate keys with `npx latchkey keygen`.
   */
  keys?: string | Keyring | undefined;
  /**
   * The AEAD that seals new values: `'xaes-256-gcm'` (default) or `'xchacha20-poly1305'` (needs the
   * optional sodium-native package). Values of either open where their backend is present. See
   * docs/crypto.md. With a ready-made Keyring, set it when creating the keyring instead.
   */
  algorithm?: SealAlgorithm | undefined;
  /** Where XAES-256-GCM runs: `'auto'` (default: node:crypto where it works, else WebCrypto). */
  cryptoBackend?: CryptoBackend | undefined;
  /**
   * Plain-HTTP local development: allows a cookie without Secure (named `lk` by default) and, when no
   * key is configured, an ephemeral key with a warning. Refused when NODE_ENV is 'production'.
   */
  development?: boolean | undefined;
  cookie?: CookieOptions | undefined;
  /** NIST SP 800-63B-4 timeout presets; default `aal2` (idle 1 h, absolute 24 h). */
  preset?: TimeoutPreset | undefined;
  idleTimeout?: Duration | undefined;
  absoluteTimeout?: Duration | undefined;
  /** Rolling renewal interval; default min(5 min, idleTimeout / 4). */
  touchAfter?: Duration | undefined;
  /** How far ahead another server's clock may run; default 30 s, at most 60 s. */
  clockSkew?: Duration | undefined;
  /** Believe `X-Forwarded-Proto` from a TLS-terminating proxy. Off by default (checklist #15). */
  trustProxy?: boolean | undefined;
  /** Called for invalid, expired, rotated and oversized sessions. Never receives tokens or keys. */
  onEvent?: EventListener | undefined;
  /** The time source; tests pass a fake clock (`latchkey/testing`). */
  clock?: Clock | undefined;
  /**
   * Store mode: keep sessions on the server (`latchkey/stores/fs`, `…/sqlite`, `…/redis`, `…/postgres`,
   * `…/memory`); the cookie then holds only a random 256-bit token.
   */
  store?: SessionStore | undefined;
  /**
   * Store mode: a short-lived sealed snapshot in a second cookie, so most reads skip the store. A
   * revoked session keeps working for up to `maxAge` on a device that holds a fresh snapshot.
   */
  cookieCache?: { maxAge: Duration } | undefined;
  /**
   * On sign-out (`destroy()`), the adapters also send `Clear-Site-Data: "cookies"`, so the browser drops
   * every cookie of the site, not only the session's (checklist #58). Off by default: it clears your
   * other cookies on this site (and its subdomains) too.
   */
  clearSiteData?: boolean | undefined;
  /**
   * Store mode: at most this many live sessions per user (checklist #34). A sign-in past the limit
   * ends the user's oldest sessions (by sign-in time); the newest always stays. Default: no limit.
   */
  maxSessionsPerUser?: number | undefined;
  /**
   * Cookie mode: per-user revocation (checklist #41). Any Latchkey store keeps, per user, a not-before
   * time and the sessions that signed out, so that `destroy()` and `revokeUserSessions()` end captured
   * cookies too. Each request from a signed-in user then reads the store once.
   */
  revocation?: SessionStore | undefined;
  /**
   * How often a write that met a concurrent write is re-applied before ERR_LATCHKEY_CONFLICT: store mode's
   * session writes, and cookie mode's revocation records.
   */
  maxConflictRetries?: number | undefined;
  /**
   * Live migration from another session library: readers from `latchkey/legacy` (or your own). A
   * request with no Latchkey cookie but an old cookie a reader accepts gets a Latchkey session with the
   * old session's data, and the old cookie expired, on the same response. Needs `legacyUntil`.
   */
  legacy?: readonly LegacyReader[] | undefined;
  /** With `legacy`: the date (a Date or ISO string) from which old cookies are ignored. */
  legacyUntil?: Date | string | undefined;
  /**
   * Store mode: renew each session's token on a schedule, with a grace window for requests in flight;
   * a token presented after its grace ends the whole session (`token-reuse` event, checklist #27). Off
   * by default; not with `cookieCache`. See docs/signals.md.
   */
  tokenRenewal?: TokenRenewalOptions | undefined;
  /** Events that flag a session worth a look (docs/signals.md); a signal only, nothing is refused. */
  signals?: SignalsOptions | undefined;
  /**
   * Store mode: at most so many new sessions per client and overall (checklist #35); past it the commit
   * that would create one fails with ERR_LATCHKEY_RATE_LIMITED (adapters answer 429 with Retry-After)
   * and nothing is written. Default: no limit. See {@link CreationLimitOptions}.
   */
  creationLimit?: CreationLimitOptions | undefined;
  /**
   * Store mode: run the store's `purgeExpired` every `every` on an unref'd timer (default
   * `{ every: '1h' }` for stores that have it; Redis expires records itself), or `false` for none.
   * Failures are `purge-failed` events; `sessions.close()` stops it.
   */
  purge?: PurgeOptions | undefined;
}

const KNOWN_OPTIONS = new Set([
  'keys',
  'algorithm',
  'cryptoBackend',
  'development',
  'cookie',
  'preset',
  'idleTimeout',
  'absoluteTimeout',
  'touchAfter',
  'clockSkew',
  'trustProxy',
  'onEvent',
  'clock',
  'store',
  'cookieCache',
  'maxConflictRetries',
  'revocation',
  'maxSessionsPerUser',
  'clearSiteData',
  'legacy',
  'legacyUntil',
  'tokenRenewal',
  'signals',
  'creationLimit',
  'purge',
]);

export interface ResolvedSessionsOptions {
  keyring: Keyring;
  development: boolean;
  cookie: CookieOptions | undefined;
  policy: TimeoutPolicy;
  trustProxy: boolean;
  onEvent: EventListener | undefined;
  clock: Clock;
  store: SessionStore | undefined;
  /** Send Clear-Site-Data: "cookies" with a sign-out. */
  clearSiteData: boolean;
  /** Store mode: the concurrent-session limit, or undefined for none. */
  maxSessionsPerUser: number | undefined;
  /** Cookie mode: the store keeping per-user revocation records, if any. */
  revocation: SessionStore | undefined;
  /** Cookie-cache lifetime in ms, or undefined when off. */
  cookieCacheMaxAge: number | undefined;
  maxConflictRetries: number;
  /** The legacy readers (live migration), or undefined when off. */
  legacy: LegacyReaders | undefined;
  /** Store mode: scheduled token renewal, or undefined when off. */
  tokenRenewal: RenewalPolicy | undefined;
  /** The signal events asked for, or undefined when none. */
  signals: ResolvedSignals | undefined;
  /** Store mode: the creation limit, or undefined for none. */
  creationLimit: ResolvedCreationLimit | undefined;
  /** Store mode: the purge interval in ms, or undefined when off. */
  purgeEvery: number | undefined;
}

const STORE_METHODS = ['create', 'get', 'update', 'touch', 'delete', 'listByUser', 'deleteByUser'] as const;

function checkStore(store: unknown, name: string): SessionStore | undefined {
  if (store === undefined) return undefined;
  const missing = STORE_METHODS.filter(
    (method) => typeof (store as Record<string, unknown>)?.[method] !== 'function',
  );
  if (missing.length > 0)
    throw new ConfigError(`${name} is missing ${missing.join(', ')}: pass a Latchkey store`);
  return store as SessionStore;
}

function checkBoolean(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new ConfigError(`${name} must be true or false`);
  return value;
}

function ephemeralKeyring(options: KeyringOptions): Keyring {
  emitWarning(
    'latchkey: no LATCHKEY_KEYS set; using a random key that lasts until this process exits. ' +
      'Sessions will not survive a restart. Never run like this in production: `npx latchkey keygen`.',
    'LATCHKEY_EPHEMERAL_KEY',
  );
  return createKeyring([{ kid: 'dev', key: randomBytes(32) }], options);
}

/** Check every option once, at start-up; a mistake is a coded error now, not a surprise in production. */
export function resolveSessionsOptions(options: SessionsOptions): ResolvedSessionsOptions {
  if (options === null || typeof options !== 'object') throw new ConfigError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new ConfigError(`unknown option '${key}'`);
  }
  const development = checkBoolean(options.development, 'development');
  if (development && environmentVariable('NODE_ENV') === 'production') {
    throw new ConfigError("development: true is refused when NODE_ENV is 'production'");
  }
  const keys = options.keys ?? environmentVariable('LATCHKEY_KEYS');
  const keyringOptions: KeyringOptions = {
    algorithm: options.algorithm,
    cryptoBackend: options.cryptoBackend,
  };
  let keyring: Keyring;
  if (isKeyring(keys)) {
    keyring = parseKeyring(keys, keyringOptions); // refuses options that would change it
  } else if ((keys === undefined || keys === '') && development) {
    keyring = ephemeralKeyring(keyringOptions);
  } else if (keys === undefined || keys === '') {
    throw new KeyError(
      'no keys: set LATCHKEY_KEYS (generate one with `npx latchkey keygen`) or pass { keys }; ' +
        'for plain-HTTP local development pass { development: true }',
    );
  } else {
    keyring = parseKeyring(keys, keyringOptions);
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    throw new ConfigError('onEvent must be a function');
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') throw new ConfigError('clock must have a now() method');
  const policy = resolvePolicy(options);
  const store = checkStore(options.store, 'store');
  const revocation = checkStore(options.revocation, 'revocation');
  if (revocation && store) {
    throw new ConfigError(
      'revocation is for cookie mode: in store mode, destroy() and revokeUserSessions() delete the records',
    );
  }
  let cookieCacheMaxAge: number | undefined;
  if (options.cookieCache !== undefined) {
    if (!store) throw new ConfigError('cookieCache needs store mode: it caches what the store holds');
    cookieCacheMaxAge = parseDuration(options.cookieCache?.maxAge, 'cookieCache.maxAge');
    if (cookieCacheMaxAge < 1000 || cookieCacheMaxAge > policy.idleTimeout) {
      throw new ConfigError('cookieCache.maxAge must be at least 1 s and at most idleTimeout');
    }
  }
  const maxSessionsPerUser = options.maxSessionsPerUser;
  if (maxSessionsPerUser !== undefined) {
    if (!store) throw new ConfigError('maxSessionsPerUser needs store mode: only a store can count sessions');
    if (!Number.isSafeInteger(maxSessionsPerUser) || maxSessionsPerUser < 1 || maxSessionsPerUser > 10_000) {
      throw new ConfigError('maxSessionsPerUser must be a whole number from 1 to 10000');
    }
  }
  const creationLimit = resolveCreationLimit(options.creationLimit);
  if (creationLimit && !store) {
    throw new ConfigError('creationLimit needs store mode: a cookie-mode session costs the server nothing');
  }
  const purgeEvery = resolvePurge(options.purge);
  if (options.purge !== undefined && options.purge !== false && !store) {
    throw new ConfigError('purge needs store mode: cookie-mode sessions are not kept on the server');
  }
  const maxConflictRetries = options.maxConflictRetries ?? 64;
  if (!Number.isSafeInteger(maxConflictRetries) || maxConflictRetries < 0 || maxConflictRetries > 1000) {
    throw new ConfigError('maxConflictRetries must be a whole number from 0 to 1000');
  }
  return {
    keyring,
    development,
    cookie: options.cookie,
    policy,
    trustProxy: checkBoolean(options.trustProxy, 'trustProxy'),
    onEvent: options.onEvent,
    clock,
    store,
    revocation,
    maxSessionsPerUser,
    clearSiteData: checkBoolean(options.clearSiteData, 'clearSiteData'),
    cookieCacheMaxAge,
    maxConflictRetries,
    legacy: resolveLegacy(options.legacy, options.legacyUntil),
    tokenRenewal: resolveTokenRenewal(options.tokenRenewal, {
      store: store !== undefined,
      cookieCache: cookieCacheMaxAge !== undefined,
      policy,
    }),
    signals: resolveSignals(options.signals, store !== undefined),
    creationLimit,
    purgeEvery: store ? purgeEvery : undefined,
  };
}
