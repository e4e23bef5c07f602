import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CookieError } from '../errors.ts';
import { isToken } from './grammar.ts';
import type { SetCookieAttributes } from './serialize.ts';
import { serializeSetCookie } from './serialize.ts';

/**
 * jshttp/cookie v2 `stringifySetCookie` vectors (test/vectors/cookie/README.md), run where their meaning
 * matches ours. Our rules are stricter, so some of upstream's "valid" inputs must throw here; those are
 * asserted to throw rather than skipped. Skipped outright, with the reason:
 * - `urlEncode`, `validValues_identityEncoder` with DQUOTE/comma/backslash: we never encode; a value
 *   outside cookie-octets throws (checklist #11), so those are asserted to throw instead.
 * - `maxAge.v07_only`, `priority.ok_v07_caseInsensitive`: v0.7 coercions (strings, truncation, case
 *   folding) that we deliberately refuse.
 * - `priority.ok` "High", `sameSite.ok` `true`/"Lax", `sameSite.omitted` `false`: our attribute types are the
 *   lower-case strings only (resolveCookieOptions does the normalizing), so these throw or do not apply.
 * - `invalidPaths` `/login"><script>…`: '<', '>' and '"' are legal in an RFC 6265bis path-value and we
 *   allow them (no SP, CTL or ';' means no injection); jshttp v2 refuses '<' as an extra rule.
 * - `attributeOrder_v2`: our order is fixed differently (serialize.ts), so flags compare as sets.
 */
interface SetCookieVectors {
  validNames_v2: string[];
  invalidNames_v2: string[];
  invalidNames_v07_strict_token: string[];
  validValues_identityEncoder: string[];
  invalidValues_identityEncoder: string[];
  validDomains: string[];
  invalidDomains: string[];
  validPaths: string[];
  invalidPaths: string[];
  expires: Array<[number | string, string]>;
  maxAge: { ok: Array<[number, string]>; throws_v2: Array<number | string> };
  flags: Array<[SetCookieAttributes, string]>;
  priority: { ok: Array<[string, string]>; throws: unknown[] };
  sameSite: { ok: Array<[unknown, string]>; throws: unknown[] };
}

const file = new URL('../../test/vectors/cookie/jshttp-cookie-vectors.json', import.meta.url);
const vectors = (JSON.parse(readFileSync(file, 'utf8')) as { stringifySetCookie: SetCookieVectors })
  .stringifySetCookie;
let run = 0;

function ok(name: string, value: string, attributes: SetCookieAttributes, expected?: string): void {
  run++;
  const line = serializeSetCookie(name, value, attributes);
  if (expected !== undefined) assert.equal(line, expected);
}

function throws(name: string, value: string, attributes: SetCookieAttributes): void {
  run++;
  assert.throws(
    () => serializeSetCookie(name, value, attributes),
    CookieError,
    JSON.stringify([name, value]),
  );
}

function cookieOctets(value: string): boolean {
  return /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/.test(value);
}

test('checklist #11: jshttp name vectors; v2-valid names that are not RFC 9110 tokens throw here', () => {
  for (const name of vectors.validNames_v2) {
    if (isToken(name)) ok(name, 'bar', {}, `${name}=bar`);
    else throws(name, 'bar', {});
  }
  for (const name of [...vectors.invalidNames_v2, ...vectors.invalidNames_v07_strict_token])
    throws(name, 'bar', {});
});

test('checklist #11: jshttp value vectors with the identity encoder; non-cookie-octets throw', () => {
  for (const value of vectors.validValues_identityEncoder) {
    if (cookieOctets(value)) ok('foo', value, {}, `foo=${value}`);
    else throws('foo', value, {});
  }
  for (const value of vectors.invalidValues_identityEncoder) throws('foo', value, {});
});

test('checklist #11: jshttp domain and path vectors', () => {
  for (const domain of vectors.validDomains) {
    if (domain.startsWith('.')) throws('foo', 'bar', { domain });
    else ok('foo', 'bar', { domain }, `foo=bar; Domain=${domain}`);
  }
  for (const domain of vectors.invalidDomains) throws('foo', 'bar', { domain });
  for (const path of vectors.validPaths) {
    if (path.startsWith('/')) ok('foo', 'bar', { path }, `foo=bar; Path=${path}`);
    else throws('foo', 'bar', { path });
  }
  for (const path of vectors.invalidPaths) {
    if (!path.includes('<script>')) throws('foo', 'bar', { path });
  }
});

test('checklist #11: jshttp Expires and Max-Age vectors', () => {
  for (const [input, expected] of vectors.expires) {
    if (typeof input === 'number') ok('foo', 'bar', { expires: new Date(input) }, expected);
    else throws('foo', 'bar', { expires: new Date(Number(input)) });
  }
  for (const [maxAge, expected] of vectors.maxAge.ok) ok('foo', 'bar', { maxAge }, expected);
  for (const maxAge of vectors.maxAge.throws_v2) {
    const given = maxAge === 'Infinity' ? Number.POSITIVE_INFINITY : maxAge;
    throws('foo', 'bar', { maxAge: given as number });
  }
});

test('checklist #11: jshttp flag, Priority and SameSite vectors', () => {
  for (const [attributes, expected] of vectors.flags) {
    run++;
    const ours = serializeSetCookie('foo', 'bar', attributes).split('; ').sort();
    assert.deepEqual(ours, expected.split('; ').sort());
  }
  for (const [priority, text] of vectors.priority.ok) {
    if (priority === priority.toLowerCase())
      ok('foo', 'bar', { priority: priority as 'low' }, `foo=bar; Priority=${text}`);
    else throws('foo', 'bar', { priority: priority as 'low' });
  }
  for (const priority of vectors.priority.throws) throws('foo', 'bar', { priority: priority as 'low' });
  for (const [sameSite, text] of vectors.sameSite.ok) {
    if (typeof sameSite === 'string' && sameSite === sameSite.toLowerCase()) {
      ok('foo', 'bar', { sameSite: sameSite as 'lax', secure: true }, `foo=bar; Secure; SameSite=${text}`);
    } else throws('foo', 'bar', { sameSite: sameSite as 'lax' });
  }
  for (const sameSite of vectors.sameSite.throws) throws('foo', 'bar', { sameSite: sameSite as 'lax' });
});

test('the jshttp serializer vectors actually ran', () => {
  assert.ok(run > 100, `only ${run} vectors ran`);
});
