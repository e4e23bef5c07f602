import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, isLatchkeyError } from '../errors.ts';
import type { CookieOptions } from './options.ts';
import {
  DEFAULT_COOKIE_NAME,
  DEVELOPMENT_COOKIE_NAME,
  FINGERPRINTING_COOKIE_NAMES,
  resolveCookieOptions,
} from './options.ts';

const production = { development: false };
const development = { development: true };

function refuses(input: CookieOptions, context = production, message?: RegExp): void {
  assert.throws(
    () => resolveCookieOptions(input, context),
    (err: unknown) =>
      err instanceof ConfigError &&
      isLatchkeyError(err, 'ERR_LATCHKEY_CONFIG') &&
      (message === undefined || message.test(err.message)),
    JSON.stringify(input),
  );
}

test('checklist #8: production defaults: __Host-lk, Secure, HttpOnly, Path=/, no Domain, Lax', () => {
  assert.deepEqual(
    { ...resolveCookieOptions(undefined, production) },
    {
      name: '__Host-lk',
      path: '/',
      domain: undefined,
      sameSite: 'lax',
      secure: true,
      httpOnly: true,
      partitioned: false,
      priority: undefined,
      persistent: false,
      maxChunks: 3,
    },
  );
  assert.equal(resolveCookieOptions({}, production).name, DEFAULT_COOKIE_NAME);
  assert.ok(Object.isFrozen(resolveCookieOptions({}, production)));
});

test('checklist #8: development mode drops the prefix and Secure unless asked', () => {
  const resolved = resolveCookieOptions(undefined, development);
  assert.equal(resolved.name, DEVELOPMENT_COOKIE_NAME);
  assert.equal(resolved.secure, false);
  assert.equal(resolveCookieOptions({ secure: true }, development).secure, true);
  assert.equal(resolveCookieOptions({ secure: true, name: '__Host-x' }, development).name, '__Host-x');
});

test('checklist #10: neither default name is a fingerprinting name', () => {
  const denied = new Set(FINGERPRINTING_COOKIE_NAMES.map((name) => name.toLowerCase()));
  assert.ok(FINGERPRINTING_COOKIE_NAMES.includes('connect.sid'));
  assert.ok(FINGERPRINTING_COOKIE_NAMES.includes('JSESSIONID'));
  assert.ok(FINGERPRINTING_COOKIE_NAMES.includes('PHPSESSID'));
  for (const name of [DEFAULT_COOKIE_NAME, DEVELOPMENT_COOKIE_NAME])
    assert.ok(!denied.has(name.toLowerCase()));
  assert.ok(Object.isFrozen(FINGERPRINTING_COOKIE_NAMES));
});

test('checklist #9: __Host- with Domain, with Path other than / or without Secure throws', () => {
  refuses({ domain: 'example.com' }, production, /__Host-/);
  refuses({ path: '/app' }, production, /Path=\//);
  refuses({ name: '__Host-x', secure: false }, development, /Secure/);
  refuses({ name: '__Host-x' }, development);
  assert.equal(
    resolveCookieOptions({ name: 'app', domain: 'example.com' }, production).domain,
    'example.com',
  );
});

test('checklist #9: prefixes are matched case-insensitively (RFC 6265bis §5.7)', () => {
  refuses({ name: '__HOST-x', domain: 'example.com' });
  refuses({ name: '__host-x', path: '/a' });
  refuses({ name: '__SECURE-x', secure: false }, development);
  refuses({ name: '__secure-x' }, development);
  assert.equal(resolveCookieOptions({ name: '__Secure-x', domain: 'example.com' }, production).secure, true);
});

test('checklist #9: SameSite=None and Partitioned need Secure', () => {
  refuses({ sameSite: 'none' }, development, /secure/);
  refuses({ sameSite: 'None', secure: false }, development);
  refuses({ partitioned: true }, development, /secure/);
  assert.equal(resolveCookieOptions({ sameSite: 'None', partitioned: true }, production).sameSite, 'none');
});

test('checklist #9: secure: false outside development mode throws and says how to opt in', () => {
  refuses({ secure: false }, production, /development: true/);
  refuses({ secure: false, name: 'plain' }, production, /plain-http localhost/);
});

test('checklist #9: sameSite accepts the six spellings and normalizes them', () => {
  for (const [given, expected] of [
    ['lax', 'lax'],
    ['Lax', 'lax'],
    ['strict', 'strict'],
    ['Strict', 'strict'],
    ['none', 'none'],
    ['None', 'none'],
  ] as const) {
    assert.equal(resolveCookieOptions({ sameSite: given }, production).sameSite, expected);
  }
  for (const bad of ['LAX', 'foo', '', true, 1, null]) {
    refuses({ sameSite: bad as never }, production, /sameSite/);
  }
});

test('checklist #9: the name must be a token of 1..256 chars, not ending in .<digits>', () => {
  const bad = ['', 'a b', 'a=b; Max-Age=9; x', 'a;b', 'a,b', 'é', 'a\r\nb', 'a\0', '"a"', 'x'.repeat(257)];
  for (const name of [...bad, 'lk.1', 'lk.12', '__Host-lk.0']) refuses({ name });
  refuses({ name: 42 as never });
  for (const name of ['x'.repeat(256), 'lk.x', 'lk.a1', 'lk1', "a!#$%&'*+-.^_`|~9"]) {
    assert.equal(resolveCookieOptions({ name, secure: true }, production).name, name);
  }
});

test('checklist #9 / #11: the path must start with / and be visible ASCII other than ;', () => {
  const bad = [
    '',
    'app',
    './',
    '/a;b',
    '/;Domain=evil',
    '/a b',
    '/a\n',
    '/a\r',
    '/a\0',
    '/\x7f',
    '/é',
    '/\t',
  ];
  for (const path of bad) refuses({ name: 'app', path });
  refuses({ name: 'app', path: `/${'a'.repeat(1024)}` });
  for (const path of ['/', '/app', '/a/b-c_d.e', '/foo=bar?baz', '/"q"']) {
    assert.equal(resolveCookieOptions({ name: 'app', path }, production).path, path);
  }
});

test('checklist #9: domain is ASCII LDH labels, no edge dot, no IP literal, IDN as punycode', () => {
  const bad = [
    '',
    '.example.com',
    'example.com.',
    'a..b',
    '127.0.0.1',
    '10.1',
    'example.123',
    '0x7f.1',
    '[::1]',
    '::1',
    'bücher.de',
    'exa mple.com',
    'example.com; Path=/',
    'example.com\n',
    'ex_ample.com',
    `${'a'.repeat(64)}.com`,
    `${'a.'.repeat(127)}com`,
  ];
  for (const domain of bad) refuses({ name: 'app', domain });
  for (const domain of ['example.com', 'sub.example.com', 'xn--bcher-kva.de', 'localhost', 'my-site.org']) {
    assert.equal(resolveCookieOptions({ name: 'app', domain }, production).domain, domain);
  }
  assert.ok(resolveCookieOptions({ name: 'app', domain: `${'a'.repeat(63)}.com` }, production));
});

test('checklist #9: maxChunks is an integer from 1 to 10', () => {
  for (const maxChunks of [0, 11, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -1, '3']) {
    refuses({ maxChunks: maxChunks as never }, production, /maxChunks/);
  }
  assert.equal(resolveCookieOptions({ maxChunks: 1 }, production).maxChunks, 1);
  assert.equal(resolveCookieOptions({ maxChunks: 10 }, production).maxChunks, 10);
});

test('checklist #9: unknown keys, priorities and non-boolean flags throw', () => {
  refuses({ samesite: 'strict' } as never, production, /samesite/);
  refuses({ priority: 'urgent' as never }, production, /priority/);
  refuses({ priority: 'High' as never });
  refuses({ httpOnly: 'false' as never }, production, /httpOnly/);
  refuses({ persistent: 1 as never });
  refuses('strict' as never);
  refuses(null as never);
  refuses({ name: null, path: null } as never);
  const resolved = resolveCookieOptions({ priority: 'high', persistent: true, httpOnly: false }, production);
  assert.equal(resolved.priority, 'high');
  assert.equal(resolved.persistent, true);
  assert.equal(resolved.httpOnly, false);
});

test('checklist #9: a __Http- or __Host-Http- name with httpOnly: false is refused at configuration', () => {
  refuses({ name: '__Http-lk', httpOnly: false }, production, /HttpOnly/);
  refuses({ name: '__Host-Http-lk', httpOnly: false }, production, /HttpOnly/);
  assert.equal(resolveCookieOptions({ name: '__Host-Http-lk' }, production).httpOnly, true);
});
