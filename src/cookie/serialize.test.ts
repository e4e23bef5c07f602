import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieError, isLatchkeyError } from '../errors.ts';
import { MAX_COOKIE_AGE_SECONDS, resolveCookieOptions } from './options.ts';
import type { SetCookieAttributes } from './serialize.ts';
import {
  attributesOf,
  MAX_NAME_VALUE_BYTES,
  serializeCookieDeletion,
  serializeSetCookie,
} from './serialize.ts';

const secure: SetCookieAttributes = { path: '/', secure: true, httpOnly: true, sameSite: 'lax' };

function refuses(name: string, value: string, attributes: SetCookieAttributes, message?: RegExp): void {
  assert.throws(
    () => serializeSetCookie(name, value, attributes),
    (err: unknown) =>
      err instanceof CookieError &&
      isLatchkeyError(err, 'ERR_LATCHKEY_COOKIE') &&
      (message === undefined || message.test(err.message)),
    JSON.stringify([name, value, attributes]),
  );
}

test('checklist #8: the default options serialize to the hardened line', () => {
  const attributes = attributesOf(resolveCookieOptions(undefined, { development: false }));
  assert.deepEqual(attributes, {
    path: '/',
    secure: true,
    httpOnly: true,
    sameSite: 'lax',
    partitioned: false,
  });
  assert.equal(
    serializeSetCookie('__Host-lk', 'v1.k1.abc', attributes),
    '__Host-lk=v1.k1.abc; Path=/; Secure; HttpOnly; SameSite=Lax',
  );
  const dev = attributesOf(resolveCookieOptions(undefined, { development: true }));
  assert.equal(serializeSetCookie('lk', 'v', dev), 'lk=v; Path=/; HttpOnly; SameSite=Lax');
});

test('attributes are written in one fixed order', () => {
  const line = serializeSetCookie('__Secure-lk', 'abc', {
    priority: 'high',
    partitioned: true,
    sameSite: 'none',
    httpOnly: true,
    secure: true,
    expires: new Date(977653859900),
    maxAge: 60,
    domain: 'example.com',
    path: '/app',
  });
  assert.equal(
    line,
    '__Secure-lk=abc; Path=/app; Domain=example.com; Max-Age=60; Expires=Sun, 24 Dec 2000 10:30:59 GMT; ' +
      'Secure; HttpOnly; SameSite=None; Partitioned; Priority=High',
  );
  const options = resolveCookieOptions(
    { name: 'app', domain: 'example.com', priority: 'low' },
    { development: false },
  );
  assert.equal(
    serializeSetCookie('app', 'x', attributesOf(options)),
    'app=x; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax; Priority=Low',
  );
  assert.equal(serializeSetCookie('a', '', {}), 'a=');
});

test('checklist #11: attribute injection through the name throws (CVE-2024-47764)', () => {
  for (const name of [
    'a=b; Max-Age=9; x',
    'a;b',
    'a b',
    'a,b',
    'a\r\nb',
    'a\nb',
    'a\0',
    'é',
    '',
    '"a"',
    'a\x7f',
  ]) {
    refuses(name, 'v', {});
  }
});

test('checklist #11: a value outside cookie-octets throws (never encoded) and is not echoed', () => {
  for (const value of [
    'a b',
    'a;b',
    'a,b',
    'a"b',
    '"a"',
    'a\\b',
    'a\rb',
    'a\nb',
    'a\0b',
    'a\x7f',
    'é',
    '\ud800',
    '\t',
  ]) {
    refuses('sid', value, {});
  }
  assert.throws(
    () => serializeSetCookie('sid', 'secret-token;x', {}),
    (err: unknown) => err instanceof CookieError && !err.message.includes('secret-token'),
  );
  refuses('sid', 42 as never, {});
});

test('checklist #11: paths and domains that would inject attributes or are not ASCII throw', () => {
  for (const path of ['/;Domain=evil', '/a\r\nSet-Cookie: x=y', '/a\0', '/é', 'app', '', '/a b']) {
    refuses('sid', 'v', { path });
  }
  for (const domain of [
    '.example.com',
    'example.com.',
    'example.com; Path=/',
    '127.0.0.1',
    '[::1]',
    'bücher.de',
  ]) {
    refuses('sid', 'v', { domain });
  }
});

test('checklist #11 / #13: Max-Age must be a safe integer from 0 to 400 days', () => {
  const bad = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, 2 ** 53, -1, -0.5];
  for (const maxAge of [...bad, MAX_COOKIE_AGE_SECONDS + 1, '60', null]) {
    refuses('sid', 'v', { maxAge: maxAge as never }, /maxAge/);
  }
  assert.equal(serializeSetCookie('sid', 'v', { maxAge: 0 }), 'sid=v; Max-Age=0');
  assert.equal(
    serializeSetCookie('sid', 'v', { maxAge: MAX_COOKIE_AGE_SECONDS }),
    `sid=v; Max-Age=${MAX_COOKIE_AGE_SECONDS}`,
  );
  assert.equal(MAX_COOKIE_AGE_SECONDS, 34_560_000);
});

test('checklist #11: an invalid Date, or one outside IMF-fixdate years 1601..9999, throws', () => {
  for (const expires of [
    new Date(Number.NaN),
    new Date('nope'),
    new Date(8.64e15),
    new Date(-1e15),
    0,
    '2030',
  ]) {
    refuses('sid', 'v', { expires: expires as never }, /expires/);
  }
  assert.equal(
    serializeSetCookie('sid', 'v', { expires: new Date(Date.UTC(9999, 11, 31)) }),
    'sid=v; Expires=Fri, 31 Dec 9999 00:00:00 GMT',
  );
});

test('checklist #12: name+value of 4096 bytes is written, 4097 throws', () => {
  const name = '__Host-lk';
  const fits = 'a'.repeat(MAX_NAME_VALUE_BYTES - name.length);
  assert.ok(serializeSetCookie(name, fits, secure).startsWith(`${name}=${fits};`));
  refuses(name, `${fits}a`, secure, /4097 bytes/);
});

test('checklist #9: prefix, SameSite=None and Partitioned rules are enforced at serialization too', () => {
  refuses('__Host-lk', 'v', { ...secure, domain: 'example.com' }, /Domain/);
  refuses('__Host-lk', 'v', { ...secure, path: '/app' }, /Path/);
  refuses('__Host-lk', 'v', { secure: true }, /Path/);
  refuses('__Host-lk', 'v', { path: '/' }, /Secure/);
  refuses('__HOST-lk', 'v', { ...secure, domain: 'example.com' });
  refuses('__host-lk.1', 'v', { path: '/' });
  refuses('__Secure-lk', 'v', { path: '/' }, /Secure/);
  refuses('__SECURE-lk', 'v', {});
  refuses('sid', 'v', { sameSite: 'none' }, /SameSite=None requires Secure/);
  refuses('sid', 'v', { partitioned: true }, /Partitioned requires Secure/);
  assert.equal(
    serializeSetCookie('__Host-lk.1', 'v', secure),
    '__Host-lk.1=v; Path=/; Secure; HttpOnly; SameSite=Lax',
  );
});

test('checklist #11: unknown SameSite or Priority values and non-boolean flags throw', () => {
  for (const sameSite of ['Lax', 'LAX', 'foo', true, ''])
    refuses('sid', 'v', { sameSite: sameSite as never }, /sameSite/);
  for (const priority of ['High', 'urgent', 42])
    refuses('sid', 'v', { priority: priority as never }, /priority/);
  refuses('sid', 'v', { secure: 'true' as never }, /secure/);
  refuses('sid', 'v', { httpOnly: 1 as never }, /httpOnly/);
  refuses('sid', 'v', null as never);
});

test('checklist #14: deletion mirrors name, Path, Domain, flags, prefix; Max-Age=0, epoch Expires', () => {
  const attributes: SetCookieAttributes = {
    path: '/app',
    domain: 'example.com',
    secure: true,
    httpOnly: true,
    sameSite: 'strict',
    partitioned: true,
    maxAge: 3600,
    expires: new Date(Date.UTC(2030, 0, 1)),
  };
  assert.equal(
    serializeCookieDeletion('__Secure-lk', attributes),
    '__Secure-lk=; Path=/app; Domain=example.com; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; ' +
      'Secure; HttpOnly; SameSite=Strict; Partitioned',
  );
  const defaults = attributesOf(resolveCookieOptions(undefined, { development: false }));
  assert.equal(
    serializeCookieDeletion('__Host-lk', defaults),
    '__Host-lk=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax',
  );
  assert.throws(() => serializeCookieDeletion('__Host-lk', { path: '/' }), CookieError);
  assert.throws(() => serializeCookieDeletion('a;b', {}), CookieError);
});
