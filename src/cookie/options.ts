import { ConfigError } from '../errors.ts';
import { domainProblem, nameProblem, pathProblem, prefixProblem, quote } from './grammar.ts';

export type SameSite = 'lax' | 'strict' | 'none';

/** Session cookie settings; every field is optional and the defaults are the hardened ones (checklist #8). */
export interface CookieOptions {
  /** Default `__Host-lk`; in development mode `lk` (plain http cannot set a `__Host-` cookie). */
  name?: string;
  /** Default `/`. */
  path?: string;
  /** Default none (host-only). Give an IDN as punycode. */
  domain?: string;
  /** Default `lax`. */
  sameSite?: SameSite | 'Lax' | 'Strict' | 'None';
  /** Default true; false only in development mode. */
  secure?: boolean;
  /** Default true. */
  httpOnly?: boolean;
  /** CHIPS; default false. */
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
  /** Default false: a session cookie (no Max-Age/Expires); true: the core sets Max-Age and Expires. */
  persistent?: boolean;
  /** Default 3; integer 1..10: how many cookies (`name`, `name.1`, …) one sealed value may span. */
  maxChunks?: number;
}

export interface ResolvedCookieOptions {
  readonly name: string;
  readonly path: string;
  readonly domain: string | undefined;
  readonly sameSite: SameSite;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly partitioned: boolean;
  readonly priority: 'low' | 'medium' | 'high' | undefined;
  readonly persistent: boolean;
  readonly maxChunks: number;
}

export const DEFAULT_COOKIE_NAME = '__Host-lk';
export const DEVELOPMENT_COOKIE_NAME = 'lk';
/** RFC 6265bis §5.6.1/§5.6.2: user agents cap Max-Age and Expires at 400 days. */
export const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 3600;
/** The hard cap on `maxChunks`, whatever the configuration: it bounds the work of reading a request. */
export const MAX_CHUNKS_LIMIT = 10;
const MAX_NAME_LENGTH = 256;

/**
 * Names that tell an attacker which framework runs the site (checklist #10, OWASP-SM "session ID name
 * fingerprinting"). The default name must never be one of these.
 */
export const FINGERPRINTING_COOKIE_NAMES: readonly string[] = Object.freeze([
  'connect.sid',
  'JSESSIONID',
  'PHPSESSID',
  'ASP.NET_SessionId',
  'sessionid',
  'session',
  'sid',
  '_session_id',
  'laravel_session',
  'rack.session',
]);

const SAME_SITE: ReadonlyMap<unknown, SameSite> = new Map<unknown, SameSite>([
  ['lax', 'lax'],
  ['strict', 'strict'],
  ['none', 'none'],
  ['Lax', 'lax'],
  ['Strict', 'strict'],
  ['None', 'none'],
]);

const PRIORITIES: readonly unknown[] = ['low', 'medium', 'high'];

const KNOWN_KEYS = new Set<string>([
  'name',
  'path',
  'domain',
  'sameSite',
  'secure',
  'httpOnly',
  'partitioned',
  'priority',
  'persistent',
  'maxChunks',
]);

function fail(problem: string): never {
  throw new ConfigError(`cookie options: ${problem}`);
}

function booleanOption(input: CookieOptions, key: keyof CookieOptions, fallback: boolean): boolean {
  const value = input[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`${key} must be a boolean`);
  return value;
}

/**
 * Checks the cookie options and fills in the defaults. Throws {@link ConfigError} at start-up for anything
 * RFC 6265bis or our hardening rules forbid (checklist #9), so a bad configuration never reaches a response.
 *
 * @example
 * ```ts
 * resolveCookieOptions({ sameSite: 'Strict' }, { development: false }).name // '__Host-lk'
 * ```
 */
export function resolveCookieOptions(
  input: CookieOptions | undefined,
  context: { development: boolean },
): ResolvedCookieOptions {
  // Only `undefined` means "use the default": a stray `null` is a mistake worth reporting.
  const given: CookieOptions = input === undefined ? {} : input;
  if (typeof given !== 'object' || given === null) fail('must be an object');
  // A misspelt key (`samesite: 'strict'`) would otherwise silently keep a weaker default.
  const unknown = Object.keys(given).find((key) => !KNOWN_KEYS.has(key));
  if (unknown !== undefined) fail(`unknown option ${quote(unknown)}`);
  const development = context?.development === true;

  const name =
    given.name === undefined ? (development ? DEVELOPMENT_COOKIE_NAME : DEFAULT_COOKIE_NAME) : given.name;
  const nameIssue = nameProblem(name);
  if (nameIssue !== undefined) fail(nameIssue);
  if (name.length > MAX_NAME_LENGTH) fail(`the cookie name must be at most ${MAX_NAME_LENGTH} characters`);
  // `lk.1` is the second chunk of `lk` (chunk.ts): a configured name like that would collide with it.
  if (/\.[0-9]+$/.test(name))
    fail(`the cookie name ${quote(name)} must not end in '.<digits>' (chunk names)`);

  const path = given.path === undefined ? '/' : given.path;
  const pathIssue = pathProblem(path);
  if (pathIssue !== undefined) fail(pathIssue);

  const domain = given.domain;
  if (domain !== undefined) {
    const domainIssue = domainProblem(domain);
    if (domainIssue !== undefined) fail(domainIssue);
  }

  const sameSiteInput = given.sameSite === undefined ? 'lax' : given.sameSite;
  const sameSite = SAME_SITE.get(sameSiteInput);
  if (sameSite === undefined)
    fail(`sameSite must be 'lax', 'strict' or 'none', not ${String(sameSiteInput)}`);

  const secure = booleanOption(given, 'secure', !development);
  if (!secure && !development) {
    fail('secure: false is refused in production; pass `development: true` for plain-http localhost');
  }
  const httpOnly = booleanOption(given, 'httpOnly', true);
  const partitioned = booleanOption(given, 'partitioned', false);
  const persistent = booleanOption(given, 'persistent', false);

  // RFC 6265bis §5.6.7: browsers reject SameSite=None without Secure; CHIPS: Partitioned needs Secure.
  if (sameSite === 'none' && !secure) fail("sameSite 'none' requires secure: true");
  if (partitioned && !secure) fail('partitioned: true requires secure: true');
  const prefixIssue = prefixProblem(name, { secure, path, domain, httpOnly });
  if (prefixIssue !== undefined) fail(prefixIssue);

  const priority = given.priority;
  if (priority !== undefined && !PRIORITIES.includes(priority)) {
    fail(`priority must be 'low', 'medium' or 'high', not ${String(priority)}`);
  }

  const maxChunks = given.maxChunks === undefined ? 3 : given.maxChunks;
  if (!Number.isInteger(maxChunks) || maxChunks < 1 || maxChunks > MAX_CHUNKS_LIMIT) {
    fail(`maxChunks must be an integer from 1 to ${MAX_CHUNKS_LIMIT}, not ${String(maxChunks)}`);
  }

  return Object.freeze({
    name,
    path,
    domain,
    sameSite,
    secure,
    httpOnly,
    partitioned,
    priority,
    persistent,
    maxChunks,
  });
}
