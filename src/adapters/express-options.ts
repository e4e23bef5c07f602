/**
 * latchkey/express's options: express-session's names mapped onto Latchkey's, and the ones that
 * cannot mean the same refused at start-up. Internal: the types are re-exported by latchkey/express.
 */

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { keyringFromSecrets, type SecretOption, secretList } from '../compat/express-session/secret.ts';
import { expressSession } from '../compat/legacy/express-session.ts';
import type { SessionCookieOptions } from '../core/cookie-overrides.ts';
import type { Duration } from '../core/policy.ts';
import { createSessions, type Sessions, type SessionsOptions } from '../core/sessions.ts';
import { ConfigError } from '../errors.ts';
import { connectStore } from '../stores/connect.ts';
import type { SessionStore } from '../stores/types.ts';
import type { Data, SessionCookieView } from './express.ts';
import type { NodeSessionOptions } from './node-hold.ts';

/** express-session's option names where they mean something here, plus Latchkey's own. */
export interface ExpressSessionOptions
  extends Omit<SessionsOptions, 'cookie' | 'store' | 'trustProxy' | 'idleTimeout'>,
    NodeSessionOptions {
  /** An existing session manager (from createSessions) instead of the options that make one. */
  sessions?: Sessions<Data> | undefined;
  /** The cookie name; default `__Host-lk` (`lk` in development). An explicit `connect.sid` is allowed. */
  name?: string | undefined;
  /** express-session's old alias of `name`. */
  key?: string | undefined;
  /**
   * express-session's secret(s). Latchkey keys (`keys`, LATCHKEY_KEYS) seal; the secret verifies
   * express-session's `s:` cookies while users move over. With no keys at all, a strong secret (32+
   * characters) seals through a key derived from it (HKDF-SHA256); a weak one is refused.
   */
  secret?: SecretOption | undefined;
  /**
   * The session cookie's options, or (express-session 1.19) a function of the request returning them:
   * called on every request, its `path` decides whether the request gets a session and its `secure`
   * whether the cookie may go out; a new session takes the rest as its own cookie options (kept with
   * it, as `req.session.cookie` changes are). What it returns is checked as strictly as `cookie` is.
   */
  cookie?: ExpressCookieOptions | CookieFunction | undefined;
  idleTimeout?: Duration | undefined;
  /** Renew the cookie on every response (touchAfter 0). */
  rolling?: boolean | undefined;
  /** Write the session on every request even if unchanged. */
  resave?: boolean | undefined;
  /**
   * Write a new session (and send its cookie) even with nothing in it, as express-session's default
   * did. Default false: an empty session costs no cookie and no store record (checklist #35).
   */
  saveUninitialized?: boolean | undefined;
  /** true: believe X-Forwarded-Proto; false: only the socket; default: Express's `trust proxy` (req.secure). */
  proxy?: boolean | undefined;
  /** `req.session` deleted or set to null: 'keep' (default) leaves the session as it was; 'destroy' ends it. */
  unset?: 'keep' | 'destroy' | undefined;
  /** A Latchkey store (latchkey/stores/*): store mode. Connect-style stores: see connectStore. */
  store?: SessionStore | ConnectStoreLike | undefined;
  /**
   * Where your app keeps the signed-in user in `req.session`. A new value there is a sign-in, as
   * `req.session.latchkey.login()` is: a new token (the pre-login one stops working: no session
   * fixation), the user index, device lists and "sign out everywhere" in store mode, revocation in
   * cookie mode; the field removed is a sign-out. The same user put back after the app's own regenerate
   * keeps its sign-in time. A number is made a string; another value (an object Passport serialized)
   * counts by its SHA-256.
   *
   * Default: Passport's `req.session.passport.user`, else a `userId` field (issue 14 item 5). `false`:
   * none, as express-session (signing in keeps the token unless the app regenerates).
   */
  userId?: ((session: Partial<Data> & Record<string, unknown>) => unknown) | false | undefined;
}

/** express-session's `cookie` option, as far as it means something here. */
export interface ExpressCookieOptions {
  /** The idle timeout in ms; also makes the cookie persistent, as in express-session. */
  maxAge?: number | undefined;
  /** true, or 'auto' (the same here: Secure, and sent only over HTTPS). */
  secure?: boolean | 'auto' | undefined;
  httpOnly?: boolean | undefined;
  sameSite?: boolean | 'lax' | 'strict' | 'none' | undefined;
  domain?: string | undefined;
  path?: string | undefined;
  partitioned?: boolean | undefined;
  priority?: 'low' | 'medium' | 'high' | undefined;
}

/** The request as `cookie(req)` sees it: Express's `req` (its `secure`, `originalUrl`, …). */
export type CookieRequest = IncomingMessage & {
  secure?: boolean;
  originalUrl?: string;
  hostname?: string;
  protocol?: string;
};

/** express-session 1.19's `cookie` as a function of the request. */
export type CookieFunction = {
  // Method syntax, so that a function written for Express's own Request type fits as well.
  bivarianceHack(req: CookieRequest): ExpressCookieOptions;
}['bivarianceHack'];

/** What `cookie` as a function of the request decided for one request. */
export interface RequestCookie {
  /** Requests outside it get no session. */
  path: string;
  /** secure true or 'auto': the cookie goes out on HTTPS requests only. */
  strictSecure: boolean;
  /** A new session's own cookie options. */
  options: SessionCookieOptions;
}

/** A store with express-session's callback API (connect-redis, connect-pg-simple, MemoryStore, …). */
export interface ConnectStoreLike {
  get(sid: string, callback: (error: unknown, session?: unknown) => void): void;
  set(sid: string, session: unknown, callback?: (error?: unknown) => void): void;
  destroy(sid: string, callback?: (error?: unknown) => void): void;
}

/** True for a connect-style store: get/set/destroy taking callbacks, and not Latchkey's create/update. */
export function isConnectStoreLike(value: unknown): value is ConnectStoreLike {
  const store = value as Record<string, unknown> | null;
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof store.get === 'function' &&
    typeof store.set === 'function' &&
    typeof store.destroy === 'function' &&
    typeof store.create !== 'function' &&
    typeof store.update !== 'function'
  );
}

/**
 * An express-session store (connect-redis, connect-pg-simple, …) as a Latchkey store: records sealed
 * with the app's keys and keyed by the token's hash before the store sees them (docs/stores/connect.md).
 */
function wrapConnectStore(
  store: ConnectStoreLike,
  keys: SessionsOptions['keys'],
  development: boolean,
): SessionStore {
  return connectStore(store as Parameters<typeof connectStore>[0], {
    ...(keys === undefined ? {} : { keys }),
    development,
  });
}

const REFUSED: Record<string, string> = {
  genid: 'session tokens are always 256 random bits, stored only as hashes; there is no genid',
};
/** express-session's own check, kept so that a mistyped genid says so before the refusal does. */
function checkGenid(options: ExpressSessionOptions): void {
  const genid = (options as { genid?: unknown }).genid;
  if (genid !== undefined && typeof genid !== 'function')
    throw new ConfigError('genid option must be a function');
}
const COOKIE_OPTIONS = new Set([
  'maxAge',
  'secure',
  'httpOnly',
  'sameSite',
  'domain',
  'path',
  'partitioned',
  'priority',
]);

export interface Resolved {
  sessions: Sessions<Data>;
  resave: boolean;
  /** Write new sessions with nothing in them too (express-session's saveUninitialized: true). */
  saveUninitialized: boolean;
  unsetDestroy: boolean;
  /** true: follow Express's req.secure; false: the Sessions' own trustProxy decides. */
  useReqSecure: boolean;
  /** The userId option (or its default): reads the signed-in user out of req.session. */
  userIdOf: ((session: Partial<Data> & Record<string, unknown>) => unknown) | undefined;
  /**
   * The default reader: a user the app bound itself (latchkey.login()) with no such field is left
   * alone; only a field present when the request began and removed since is a sign-out.
   */
  userIdByDefault: boolean;
  cookie: Omit<SessionCookieView, 'maxAge' | 'originalMaxAge' | 'expires'>;
  /** express-session's secrets, for verifying its `s:` cookies (the legacy reader). */
  legacySecrets: readonly Uint8Array[];
  /** The configured cookie has Max-Age/Expires (cookie.maxAge given). */
  persistent: boolean;
  /** cookie.secure true or 'auto': the cookie goes out on HTTPS requests only, as in express-session. */
  strictSecure: boolean;
  /** proxy: true: X-Forwarded-Proto decides for strictSecure. */
  trustForwardedProto: boolean;
  /** cookie.path: requests outside it get no session, as in express-session. */
  path: string;
  /** `cookie` given as a function of the request: what it says for one request (throws when invalid). */
  cookieFor: ((req: IncomingMessage) => RequestCookie) | undefined;
  /**
   * Cookie options every new session takes as its own: a `cookie.maxAge` under a second (the shortest
   * idle timeout the configuration takes) as that session's own, shorter, idle timeout.
   */
  newSessionCookie: SessionCookieOptions | undefined;
}

/**
 * The default `userId`: Passport's `req.session.passport.user`, else a `userId` field, as the id
 * Latchkey binds (a string of at most 256 characters; anything else by its SHA-256).
 */
export function signedInUser(session: Record<string, unknown>): string | undefined {
  const passport = session.passport;
  const user =
    typeof passport === 'object' && passport !== null && Object.hasOwn(passport, 'user')
      ? (passport as { user?: unknown }).user
      : session.userId;
  if (user === undefined || user === null || user === '') return undefined;
  if (typeof user === 'string' && user.length <= 256) return user;
  if (typeof user === 'number' && Number.isFinite(user)) return String(user);
  const text = typeof user === 'string' ? user : JSON.stringify(user);
  return text === undefined ? undefined : `sha256:${createHash('sha256').update(text).digest('base64url')}`;
}

/** How long the automatic reader of express-session's cookies runs after start-up, without legacyUntil. */
const AUTO_LEGACY_MIN_MS = 24 * 3600 * 1000;

/**
 * An app that changed only its import still passes express-session's `secret` and its connect store:
 * those read the users' `connect.sid` cookies (live migration, docs/legacy.md), so nobody is signed
 * out. Only with express-session's default cookie name, which Latchkey's own cookie (`__Host-lk`)
 * does not share, and only when the app configured no `legacy` of its own. Without `legacyUntil` the
 * reading ends the old cookie's maxAge (at least a day) after start-up: by then every old record the
 * store kept has expired by its own TTL, so a restart that moves the date finds nothing more to read.
 */
export function autoLegacy(
  rest: Omit<ExpressSessionOptions, 'store'>,
  app: {
    secret: SecretOption | undefined;
    store: unknown;
    cookieName: string | undefined;
    given: unknown;
    cookie: ExpressSessionOptions['cookie'];
  },
): void {
  const { secret } = app;
  const strings =
    typeof secret === 'string' ||
    (Array.isArray(secret) && secret.length > 0 && secret.every((item) => typeof item === 'string'));
  if (!strings || rest.legacy !== undefined || app.given !== undefined || app.cookieName !== undefined)
    return;
  if (!isConnectStoreLike(app.store)) return;
  rest.legacy = [expressSession({ secret: secret as string | string[], store: app.store })];
  if (rest.legacyUntil === undefined) {
    const maxAge =
      typeof app.cookie === 'object' && typeof app.cookie.maxAge === 'number' ? app.cookie.maxAge : 0;
    rest.legacyUntil = new Date(Date.now() + Math.max(maxAge, AUTO_LEGACY_MIN_MS));
  }
}

/** A cookie options object checked as express-session's names mean here; `where` names it in errors. */
function checkCookie(given: unknown, where: string): ExpressCookieOptions {
  if (typeof given !== 'object' || given === null) throw new ConfigError(`${where} must be an object`);
  for (const key of Object.keys(given)) {
    if (key === 'expires')
      throw new ConfigError(`${where}.expires is refused: give ${where}.maxAge (ms) instead`);
    if (!COOKIE_OPTIONS.has(key)) throw new ConfigError(`${where}.${key} is not a latchkey/express option`);
  }
  const { maxAge, sameSite } = given as ExpressCookieOptions;
  if ((sameSite as unknown) === false)
    throw new ConfigError(`${where}.sameSite: false is refused: use lax, strict or none`);
  if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || maxAge <= 0)) {
    throw new ConfigError(`${where}.maxAge must be a positive whole number of milliseconds`);
  }
  return given as ExpressCookieOptions;
}

/** `secure: 'auto'` is Secure too (and, strictSecure, sent only on HTTPS): never a session cookie in clear. */
const isStrictSecure = (secure: unknown): boolean => secure === true || secure === 'auto';
const sameSiteOf = (sameSite: ExpressCookieOptions['sameSite']) =>
  sameSite === true ? ('strict' as const) : (sameSite as 'lax' | 'strict' | 'none' | undefined);

/**
 * express-session 1.19's `cookie: (req) => ({ … })`: checked on every request as `cookie` is at
 * start-up; a new session takes its fields as its own cookie options (validated again by the core
 * against the configured name: `__Host-` rules, Secure off only in development, checklist #9).
 */
function cookieFunction(fn: CookieFunction): (req: IncomingMessage) => RequestCookie {
  return (req) => {
    const given = checkCookie(fn(req), 'cookie(req)');
    const options: SessionCookieOptions = {
      ...(given.maxAge !== undefined && { maxAge: given.maxAge }),
      ...cookieAttributes(given),
    };
    return { path: given.path ?? '/', strictSecure: isStrictSecure(given.secure), options };
  };
}

/** The cookie attributes `cookie` (or what `cookie(req)` answered) gives, in Latchkey's terms. */
function cookieAttributes(given: ExpressCookieOptions) {
  const { secure } = given;
  const sameSite = sameSiteOf(given.sameSite);
  return {
    ...(given.path !== undefined && { path: given.path }),
    ...(given.domain !== undefined && { domain: given.domain }),
    ...(typeof secure === 'boolean' ? { secure } : isStrictSecure(secure) && { secure: true }),
    ...(given.httpOnly !== undefined && { httpOnly: given.httpOnly }),
    ...(given.partitioned !== undefined && { partitioned: given.partitioned }),
    ...(given.priority !== undefined && { priority: given.priority }),
    ...(sameSite !== undefined && { sameSite }),
  };
}

function mapCookie(options: ExpressSessionOptions, development: boolean) {
  const fn = typeof options.cookie === 'function' ? options.cookie : undefined;
  // A function: the configuration is the defaults, and each request's answer is checked as it comes.
  const given = fn === undefined ? checkCookie(options.cookie ?? {}, 'cookie') : {};
  const { maxAge, secure } = given;
  const sameSite = sameSiteOf(given.sameSite);
  const strictSecure = isStrictSecure(secure);
  if (maxAge !== undefined && options.idleTimeout !== undefined) {
    throw new ConfigError('give cookie.maxAge or idleTimeout, not both');
  }
  const cookie = {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...cookieAttributes(given),
    persistent: maxAge !== undefined,
  };
  const view = {
    httpOnly: given.httpOnly ?? true,
    secure: typeof secure === 'boolean' ? secure : strictSecure || !development,
    sameSite: sameSite ?? 'lax',
    path: given.path ?? '/',
    domain: given.domain,
  };
  // The configuration's shortest idle timeout is a second. A smaller maxAge (a test's 5 ms) is the
  // floor there, and each new session's own idle timeout, so the session still ends when the app said:
  // a shorter lifetime only ever takes away.
  const short = maxAge !== undefined && maxAge < 1000;
  return {
    cookie,
    view,
    strictSecure,
    idleTimeout: maxAge === undefined ? options.idleTimeout : Math.max(maxAge, 1000),
    cookieFor: fn === undefined ? undefined : cookieFunction(fn),
    newSessionCookie: short ? { maxAge } : undefined,
  };
}

export function resolve(options: ExpressSessionOptions): Resolved {
  if (options === null || typeof options !== 'object') throw new ConfigError('options must be an object');
  checkGenid(options);
  for (const [key, why] of Object.entries(REFUSED)) {
    if (Object.hasOwn(options, key)) throw new ConfigError(`${key} is refused: ${why}`);
  }
  if (options.saveUninitialized !== undefined && typeof options.saveUninitialized !== 'boolean') {
    throw new ConfigError('saveUninitialized must be true or false');
  }
  if (options.unset !== undefined && options.unset !== 'keep' && options.unset !== 'destroy') {
    throw new ConfigError("unset must be 'keep' or 'destroy'");
  }
  const {
    sessions: given,
    name,
    cookie,
    rolling,
    resave,
    saveUninitialized,
    proxy,
    unset,
    store: givenStore,
    onError: _onError,
    userId: userIdOf,
    key,
    secret,
    ...rest
  } = options;
  if (key !== undefined && name !== undefined && key !== name) {
    throw new ConfigError('give name or its old alias key, not both');
  }
  const cookieName = name ?? key;
  // express-session's secret: kept for the legacy reader (INTEGRATION POINT: h-legacy reads
  // resolved.legacySecrets); it seals only when no Latchkey keys are configured.
  const legacySecrets = secret === undefined ? [] : secretList(secret);
  const noKeys = rest.keys === undefined && (process.env.LATCHKEY_KEYS ?? '') === '';
  if (noKeys && legacySecrets.length > 0 && rest.development !== true) {
    rest.keys = keyringFromSecrets(legacySecrets);
  }
  autoLegacy(rest, { secret, store: givenStore, cookieName, given, cookie });
  const store = isConnectStoreLike(givenStore)
    ? wrapConnectStore(givenStore, rest.keys, rest.development === true)
    : givenStore;
  if (userIdOf !== undefined && userIdOf !== false && typeof userIdOf !== 'function') {
    throw new ConfigError(
      'userId must be a function of req.session, such as (s) => s.passport?.user, or false for none',
    );
  }
  // checklist #10 concerns the default name only: an app keeping its connect.sid may say so.
  const development = options.development === true;
  const mapped = mapCookie({ ...options, name: cookieName }, development);
  let sessions: Sessions<Data>;
  if (given !== undefined) {
    if (
      Object.keys(rest).length > 0 ||
      cookie !== undefined ||
      cookieName !== undefined ||
      store !== undefined ||
      rolling !== undefined ||
      proxy !== undefined
    ) {
      throw new ConfigError(
        'with `sessions`, configure cookies, timeouts, the store and trustProxy (for proxy) in createSessions()',
      );
    }
    sessions = given;
  } else {
    const { idleTimeout: _idle, ...latchkeyOptions } = rest;
    sessions = createSessions<Data>({
      ...latchkeyOptions,
      ...(mapped.idleTimeout !== undefined ? { idleTimeout: mapped.idleTimeout } : {}),
      ...(rolling === true ? { touchAfter: 0 } : {}),
      cookie: mapped.cookie,
      store,
      trustProxy: proxy === true,
    });
  }
  return {
    sessions,
    resave: resave === true,
    saveUninitialized: saveUninitialized === true,
    unsetDestroy: unset === 'destroy',
    // Express's own `trust proxy` (req.secure) decides unless proxy, or a ready manager, says otherwise.
    useReqSecure: proxy === undefined && given === undefined,
    userIdOf: userIdOf === false ? undefined : (userIdOf ?? signedInUser),
    userIdByDefault: userIdOf === undefined,
    cookie: mapped.view,
    legacySecrets,
    persistent: mapped.cookie.persistent,
    strictSecure: mapped.strictSecure,
    trustForwardedProto: proxy === true,
    path: mapped.view.path,
    cookieFor: mapped.cookieFor,
    newSessionCookie: mapped.newSessionCookie,
  };
}
