import { isCookieValue, isToken, utf8Length } from './grammar.ts';

/** Bounds on the work a `Cookie` header can cause (checklist #21). Invalid numbers mean the defaults. */
export interface ParseLimits {
  /** Default 32768: a longer (joined) header is not read at all. */
  maxHeaderBytes?: number;
  /** Default 300: pairs beyond are not read (and `readCookie` then returns nothing, see below). */
  maxPairs?: number;
  /** Default 4096: longer values are skipped. */
  maxValueBytes?: number;
  /** Default 8: the most values `readCookie` returns for one name (more returns nothing, see below). */
  maxMatches?: number;
}

type CookieHeader = string | readonly string[] | undefined | null;

const DEFAULT_LIMITS: Required<ParseLimits> = {
  maxHeaderBytes: 32768,
  maxPairs: 300,
  maxValueBytes: 4096,
  maxMatches: 8,
};

function limit(given: ParseLimits | undefined, key: keyof ParseLimits): number {
  const value = given?.[key];
  return typeof value === 'number' && value >= 0 ? value : DEFAULT_LIMITS[key];
}

/** Several `Cookie` headers are one list joined with '; ' (RFC 9113 §8.2.3, checklist #22). */
function joinHeaders(header: CookieHeader, maxHeaderBytes: number): string | undefined {
  let joined: string;
  if (typeof header === 'string') joined = header;
  else if (Array.isArray(header)) joined = header.filter((part) => typeof part === 'string').join('; ');
  else return undefined;
  // A UTF-16 code unit is 1 to 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4), so the length alone
  // settles nearly every header: only one between a third of the limit and the limit is measured.
  if (joined.length > maxHeaderBytes) return undefined;
  if (joined.length * 3 > maxHeaderBytes && utf8Length(joined) > maxHeaderBytes) return undefined;
  return joined;
}

function isOws(code: number): boolean {
  // SP and HTAB only: U+00A0, U+0085, U+2000–200A, U+3000 and U+FEFF stay in the name. checklist #18.
  return code === 0x20 || code === 0x09;
}

/**
 * Calls `visit(nameStart, nameEnd, valueStart, valueEnd)` for each `name=value` pair in header order and
 * returns false when the header holds more than `maxPairs` pairs. Splits on ';' only, so a ',' stays in
 * the value. One forward pass: `nextEquals` is found once per '=' (never rescanned), so the work is linear
 * in the header length whatever runs of ';' and '=' it holds (checklist #21).
 */
function scanPairs(
  header: string,
  maxPairs: number,
  visit: (nameStart: number, nameEnd: number, valueStart: number, valueEnd: number) => void,
): boolean {
  const length = header.length;
  let start = 0;
  let nextEquals = -1;
  let pairs = 0;
  while (start < length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    if (nextEquals < start) {
      nextEquals = header.indexOf('=', start);
      if (nextEquals === -1) nextEquals = length;
    }
    if (nextEquals < end) {
      pairs += 1;
      if (pairs > maxPairs) return false;
      let nameStart = start;
      let nameEnd = nextEquals;
      while (nameStart < nameEnd && isOws(header.charCodeAt(nameStart))) nameStart++;
      while (nameEnd > nameStart && isOws(header.charCodeAt(nameEnd - 1))) nameEnd--;
      let valueStart = nextEquals + 1;
      let valueEnd = end;
      while (valueStart < valueEnd && isOws(header.charCodeAt(valueStart))) valueStart++;
      while (valueEnd > valueStart && isOws(header.charCodeAt(valueEnd - 1))) valueEnd--;
      // An empty name is skipped: `=__Host-sid=evil` must never become `__Host-sid` (checklist #19).
      if (nameEnd > nameStart) visit(nameStart, nameEnd, valueStart, valueEnd);
    }
    start = end + 1;
  }
  return true;
}

/**
 * Every value sent for exactly `name`, in header order, across one or more Cookie headers. Never throws.
 *
 * The name is compared exactly and case-sensitively (checklist #18). A value that is not all
 * cookie-octets is skipped, so quoted values (`sid="x"`), comma-folded ones (`sid=a, x=b`) and anything
 * with CTLs or non-ASCII yield nothing; there is no RFC 2109 `$Version` handling (checklist #20). Values
 * are never decoded. Duplicates are all returned so that the caller can try each (checklist #17).
 *
 * Fail-closed limits: a header over `maxHeaderBytes`, with more than `maxPairs` pairs or with more than
 * `maxMatches` values for `name` yields `[]`, never a truncated list. A truncated list would let a cookie
 * tosser push the genuine cookie out of view and leave only its own as the "exactly one valid" candidate.
 *
 * @example
 * ```ts
 * readCookie(['a=1; __Host-lk=x', '__Host-lk=y'], '__Host-lk') // ['x', 'y']
 * ```
 */
export function readCookie(header: CookieHeader, name: string, limits?: ParseLimits): string[] {
  if (typeof name !== 'string' || !isToken(name)) return [];
  const joined = joinHeaders(header, limit(limits, 'maxHeaderBytes'));
  if (joined === undefined) {
    return overLimit(typeof header === 'string' || Array.isArray(header) ? 'oversized' : undefined);
  }
  const maxValueBytes = limit(limits, 'maxValueBytes');
  const maxMatches = limit(limits, 'maxMatches');
  const values: string[] = [];
  let tooMany = false;
  const complete = scanPairs(
    joined,
    limit(limits, 'maxPairs'),
    (nameStart, nameEnd, valueStart, valueEnd) => {
      if (nameEnd - nameStart !== name.length || !joined.startsWith(name, nameStart)) return;
      // A valid value is ASCII, so its length is its size in bytes; longer ones are skipped unread.
      if (valueEnd - valueStart > maxValueBytes) return;
      const value = joined.slice(valueStart, valueEnd);
      if (!isCookieValue(value)) return;
      if (values.length >= maxMatches) tooMany = true;
      else values.push(value);
    },
  );
  return complete && !tooMany ? values : overLimit('ambiguous');
}

/** Why an empty answer of readCookie or assembleCandidates came from a limit (checklist #17, #62). */
export type OverLimit = 'ambiguous' | 'oversized';
const overLimits = new WeakMap<readonly string[], OverLimit>();

/** An empty answer, marked with the limit it came from (none: just empty). */
export function overLimit(reason: OverLimit | undefined): string[] {
  const empty: string[] = [];
  if (reason !== undefined) overLimits.set(empty, reason);
  return empty;
}

/**
 * Why `values` (what readCookie or assembleCandidates returned) is empty when a limit emptied it: too
 * many values or pairs (`ambiguous`: a cookie tosser may be hiding the real one) or a header over
 * `maxHeaderBytes` (`oversized`); undefined otherwise. For the anomaly event of checklist #17.
 */
export function overLimitReason(values: readonly string[]): OverLimit | undefined {
  return values.length === 0 ? overLimits.get(values) : undefined;
}

/** jshttp/cookie v2 `decode`: percent-decode when there is a '%', keep the raw text when that throws. */
function percentDecode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * A general parse into a null-prototype record where the first occurrence of a name wins (jshttp/cookie v2
 * semantics: DQUOTEs kept, SP/HTAB trimmed, pairs without '=' ignored), except that nameless pairs are
 * skipped (checklist #19) and `decode: false` keeps values as sent. `decode` defaults to true, as in
 * jshttp/cookie. The first `maxPairs` pairs are read; values over `maxValueBytes` are skipped; a header
 * over `maxHeaderBytes` gives an empty record. Never throws. Do not use it for the session cookie: use
 * {@link readCookie}, which sees every duplicate.
 *
 * @example
 * ```ts
 * parseCookieHeader('a=1; b=%20; a=2') // { a: '1', b: ' ' } (null prototype)
 * ```
 */
export function parseCookieHeader(
  header: CookieHeader,
  options?: { decode?: boolean; limits?: ParseLimits },
): Record<string, string> {
  // Object.create(null): `__proto__=x; constructor=y` become plain own keys (checklist #16).
  const record: Record<string, string> = Object.create(null);
  const limits = options?.limits;
  const joined = joinHeaders(header, limit(limits, 'maxHeaderBytes'));
  if (joined === undefined) return record;
  const decode = options?.decode !== false;
  const maxValueBytes = limit(limits, 'maxValueBytes');
  scanPairs(joined, limit(limits, 'maxPairs'), (nameStart, nameEnd, valueStart, valueEnd) => {
    const units = valueEnd - valueStart;
    if (units > maxValueBytes) return;
    if (units * 3 > maxValueBytes && utf8Length(joined, valueStart, valueEnd) > maxValueBytes) return;
    const name = joined.slice(nameStart, nameEnd);
    if (Object.hasOwn(record, name)) return;
    const value = joined.slice(valueStart, valueEnd);
    record[name] = decode ? percentDecode(value) : value;
  });
  return record;
}
