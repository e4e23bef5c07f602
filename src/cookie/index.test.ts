import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assembleCandidates,
  attributesOf,
  DEFAULT_COOKIE_NAME,
  DEVELOPMENT_COOKIE_NAME,
  FINGERPRINTING_COOKIE_NAMES,
  MAX_COOKIE_AGE_SECONDS,
  MAX_NAME_VALUE_BYTES,
  parseCookieHeader,
  presentChunkNames,
  readCookie,
  resolveCookieOptions,
  serializeCookieDeletion,
  serializeSetCookie,
  splitIntoCookies,
} from './index.ts';

test('the cookie module exports the agreed API', () => {
  const functions = [
    resolveCookieOptions,
    serializeSetCookie,
    serializeCookieDeletion,
    attributesOf,
    readCookie,
    parseCookieHeader,
    splitIntoCookies,
    assembleCandidates,
    presentChunkNames,
  ];
  for (const fn of functions) assert.equal(typeof fn, 'function');
  assert.equal(DEFAULT_COOKIE_NAME, '__Host-lk');
  assert.equal(DEVELOPMENT_COOKIE_NAME, 'lk');
  assert.equal(MAX_COOKIE_AGE_SECONDS, 400 * 24 * 3600);
  assert.equal(MAX_NAME_VALUE_BYTES, 4096);
  assert.ok(FINGERPRINTING_COOKIE_NAMES.length >= 10);
});

test('end to end: resolved options → split → Set-Cookie lines → Cookie header → one candidate', () => {
  const options = resolveCookieOptions(undefined, { development: false });
  const attributes = attributesOf(options);
  const suffix = serializeSetCookie(options.name, '', attributes).length - options.name.length - 1;
  const sealed = `v1.k1.${'A'.repeat(6000)}`;
  const lines = splitIntoCookies(options.name, sealed, suffix, options.maxChunks).map((part) =>
    serializeSetCookie(part.name, part.value, attributes),
  );
  assert.equal(lines.length, 2);
  const header = lines.map((line) => line.split(';')[0]).join('; ');
  const readValues = (name: string) => readCookie(header, name);
  assert.deepEqual(assembleCandidates(options.name, readValues, options.maxChunks), [sealed]);
  assert.deepEqual(presentChunkNames(options.name, readValues, options.maxChunks), ['__Host-lk.1']);
  assert.equal(
    serializeCookieDeletion('__Host-lk.1', attributes),
    '__Host-lk.1=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Lax',
  );
});
