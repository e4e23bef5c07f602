import { ConfigError, CookieError, SessionTooLarge } from '../errors.ts';
import { isCookieValue, nameProblem } from './grammar.ts';
import { MAX_CHUNKS_LIMIT } from './options.ts';
import { overLimit, overLimitReason } from './parse.ts';

/**
 * A sealed value too large for one cookie spans `name`, `name.1`, … `name.(n-1)`; the first cookie's value
 * starts with `${n}~`. '~' is a cookie-octet that base64url and `v1.` sealed values never contain, so a
 * value starting with digits and '~' can only be such a header (DESIGN.md §4).
 */

/** RFC 6265bis §5.6 / checklist #12: a browser may drop a cookie line beyond this. */
export const MAX_COOKIE_LINE_BYTES = 4096;
const DEFAULT_MAX_CANDIDATES = 8;

export interface CookiePart {
  name: string;
  value: string;
}

/** The index of the '~' ending a leading run of digits, or -1 when `value` has no chunk header. */
function headerEnd(value: string): number {
  let i = 0;
  while (i < value.length && value.charCodeAt(i) >= 0x30 && value.charCodeAt(i) <= 0x39) i++;
  return i > 0 && value.charCodeAt(i) === 0x7e ? i : -1;
}

function chunkName(name: string, index: number): string {
  return index === 0 ? name : `${name}.${index}`;
}

/** Bytes left for the value of chunk `index` of `count` after `name=` (or `name.i=`), header and suffix. */
function room(name: string, index: number, count: number, suffixBytes: number): number {
  const header = count > 1 && index === 0 ? String(count).length + 1 : 0;
  return MAX_COOKIE_LINE_BYTES - suffixBytes - chunkName(name, index).length - 1 - header;
}

function capacity(name: string, count: number, suffixBytes: number): number {
  let total = 0;
  for (let index = 0; index < count; index++) {
    const bytes = room(name, index, count, suffixBytes);
    if (bytes <= 0) return 0;
    total += bytes;
  }
  return total;
}

/**
 * Splits `value` into cookies so that each `name=value` plus `attributeSuffixBytes` (the `; Path=/; …`
 * tail, including any Max-Age/Expires) is at most 4096 bytes. One chunk: `[{ name, value }]` unchanged.
 * n > 1 chunks: the first value is `${n}~${part0}`, then `${name}.${i}` = part i. Throws
 * {@link SessionTooLarge} when more than `maxChunks` cookies would be needed (never a silently dropped
 * cookie, DESIGN.md §4), and {@link CookieError} for a name or value that could not be serialized.
 *
 * @example
 * ```ts
 * splitIntoCookies('__Host-lk', sealedValue, '; Path=/; Secure; HttpOnly; SameSite=Lax'.length, 3)
 * ```
 */
export function splitIntoCookies(
  name: string,
  value: string,
  attributeSuffixBytes: number,
  maxChunks: number,
): CookiePart[] {
  const nameIssue = nameProblem(name);
  if (nameIssue !== undefined) throw new CookieError(`cannot split cookie: ${nameIssue}`);
  // Cookie-octets are ASCII, so below every length is a byte count.
  if (typeof value !== 'string' || !isCookieValue(value)) {
    throw new CookieError('cannot split cookie: the value must be cookie-octets only');
  }
  // A value that already looks like a chunk header would be misread when the request comes back.
  if (headerEnd(value) !== -1)
    throw new CookieError("cannot split cookie: the value must not start with '<digits>~'");
  if (!Number.isSafeInteger(attributeSuffixBytes) || attributeSuffixBytes < 0) {
    throw new CookieError('cannot split cookie: attributeSuffixBytes must be a non-negative integer');
  }
  if (!Number.isInteger(maxChunks) || maxChunks < 1 || maxChunks > MAX_CHUNKS_LIMIT) {
    throw new ConfigError(`maxChunks must be an integer from 1 to ${MAX_CHUNKS_LIMIT}`);
  }

  if (value.length <= room(name, 0, 1, attributeSuffixBytes)) return [{ name, value }];
  for (let count = 2; count <= maxChunks; count++) {
    if (capacity(name, count, attributeSuffixBytes) < value.length) continue;
    // Greedy fill: since count - 1 cookies were too few, the last part is never empty.
    const parts: CookiePart[] = [];
    let offset = 0;
    for (let index = 0; index < count; index++) {
      const take =
        index === count - 1 ? value.length - offset : room(name, index, count, attributeSuffixBytes);
      const part = value.slice(offset, offset + take);
      offset += take;
      parts.push({ name: chunkName(name, index), value: index === 0 ? `${count}~${part}` : part });
    }
    return parts;
  }
  const fits = capacity(name, maxChunks, attributeSuffixBytes);
  throw new SessionTooLarge(
    `the sealed session is ${value.length} bytes but at most ${fits} bytes fit in ` +
      `${maxChunks} cookie(s) of 4096 bytes with these attributes; store less in the session, ` +
      'raise cookie.maxChunks (at most 10) or use store mode',
  );
}

/**
 * The candidate whole values in a request. `readValues(cookieName)` returns every value sent for that name
 * (e.g. `readCookie` bound to the header). A base value with a `${n}~` header (n in 2..maxChunks, no
 * leading zero) is joined with `name.1` … `name.(n-1)`; duplicates of any part give the cartesian product.
 * A part that is missing or empty drops that candidate; a malformed header (`0~`, `1~`, `02~`, `11~`) drops
 * the value; other base values are candidates as they are. Identical candidates are listed once. More than
 * `maxCandidates` (default 8) before that de-duplication returns `[]`: too ambiguous to try (checklist #17).
 *
 * @example
 * ```ts
 * assembleCandidates('__Host-lk', (n) => readCookie(request.headers.cookie, n), 3)
 * ```
 */
export function assembleCandidates(
  name: string,
  readValues: (cookieName: string) => readonly string[],
  maxChunks: number,
  maxCandidates: number = DEFAULT_MAX_CANDIDATES,
): string[] {
  const cap = Number.isInteger(maxCandidates) && maxCandidates >= 0 ? maxCandidates : DEFAULT_MAX_CANDIDATES;
  const bases = readValues(name);
  const limited = overLimitReason(bases);
  if (limited !== undefined) return overLimit(limited);
  // Nearly every request: one value without a chunk header, which is the only candidate.
  if (bases.length === 1 && headerEnd(bases[0]!) === -1) return cap >= 1 ? [bases[0]!] : [];
  const partsRead = new Map<number, readonly string[]>();
  const partValues = (index: number): readonly string[] => {
    let values = partsRead.get(index);
    if (values === undefined) {
      values = readValues(chunkName(name, index)).filter((part) => part !== '');
      partsRead.set(index, values);
    }
    return values;
  };
  const plans: Array<{ first: string; count: number }> = [];
  let total = 0;
  for (const base of bases) {
    const end = headerEnd(base);
    if (end === -1) {
      plans.push({ first: base, count: 1 });
      total += 1;
    } else {
      const digits = base.slice(0, end);
      const count = Number(digits);
      if (digits.startsWith('0') || count < 2 || count > maxChunks || count > MAX_CHUNKS_LIMIT) continue;
      const first = base.slice(end + 1);
      if (first === '') continue;
      let product = 1;
      for (let index = 1; index < count && product > 0; index++) product *= partValues(index).length;
      plans.push({ first, count });
      total += product;
    }
    if (total > cap) return overLimit('ambiguous');
  }

  const candidates = new Set<string>();
  for (const { first, count } of plans) {
    let partial = [first];
    for (let index = 1; index < count; index++) {
      const next = partValues(index);
      partial = partial.flatMap((prefix) => next.map((part) => prefix + part));
    }
    for (const candidate of partial) candidates.add(candidate);
  }
  return [...candidates];
}

/**
 * The chunk cookies present in the request, so that the core can delete stale ones. It looks at `name.1`
 * up to `name.9` whatever `maxChunks` is, so chunks left by an earlier, larger `maxChunks` are found too.
 */
export function presentChunkNames(
  name: string,
  readValues: (cookieName: string) => readonly string[],
  _maxChunks: number,
): string[] {
  const present: string[] = [];
  for (const chunk of chunkNamesOf(name)) if (readValues(chunk).length > 0) present.push(chunk);
  return present;
}

/** `name.1` … `name.9`, made once per cookie name (a process has few; the cache stops at a bound). */
function chunkNamesOf(name: string): readonly string[] {
  let names = chunkNames.get(name);
  if (names === undefined) {
    names = Array.from({ length: MAX_CHUNKS_LIMIT - 1 }, (_, i) => chunkName(name, i + 1));
    if (chunkNames.size < 64) chunkNames.set(name, names);
  }
  return names;
}
const chunkNames = new Map<string, readonly string[]>();
