import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CookieError } from '../errors.ts';
import { readCookie } from './parse.ts';
import type { SetCookieAttributes } from './serialize.ts';
import { serializeSetCookie } from './serialize.ts';

/** Characters that matter to a cookie line, mixed with arbitrary code points (lone surrogates included). */
const tricky = fc.constantFrom(
  'a',
  'Z',
  '0',
  '=',
  ';',
  ',',
  ' ',
  '\t',
  '"',
  '\\',
  '\r',
  '\n',
  '\0',
  '\x7f',
  '%',
  '.',
  '/',
  '~',
  '-',
  '_',
  'é',
  '\u00a0',
  '\u2000',
  '\ufeff',
  '\ud800',
  '😀',
);
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const text = fc.oneof(
  fc.string({ unit: tricky, maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: codeUnit, maxLength: 24 }),
);

/** Splits a Set-Cookie line the way RFC 6265bis §5.6 does: on ';', name before the first '='. */
function parseSetCookieLine(line: string): { name: string; value: string; attributes: string[] } {
  const [pair = '', ...attributes] = line.split(';');
  const equals = pair.indexOf('=');
  return {
    name: pair.slice(0, equals),
    value: pair.slice(equals + 1),
    attributes: attributes.map((a) => a.trim()),
  };
}

function expectCookieErrorOr(run: () => void): void {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof CookieError, String(err));
  }
}

test('checklist #11 (property): serialize throws CookieError or parses back to the same pair', () => {
  fc.assert(
    fc.property(text, text, (name, value) => {
      expectCookieErrorOr(() => {
        const line = serializeSetCookie(name, value, {});
        assert.deepEqual(parseSetCookieLine(line), { name, value, attributes: [] });
        assert.deepEqual(readCookie(line, name), [value]);
      });
    }),
    { numRuns: 2000 },
  );
});

test('checklist #11 (property): no attribute input ever adds, splits or hides an attribute', () => {
  const attributes = fc.record(
    {
      path: fc.oneof(
        text,
        text.map((t) => `/${t}`),
      ),
      domain: fc.oneof(text, fc.constantFrom('example.com', 'a.b-c.d')),
      maxAge: fc.oneof(fc.integer(), fc.double()),
      secure: fc.boolean(),
      httpOnly: fc.boolean(),
      sameSite: fc.constantFrom('lax', 'strict', 'none'),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.constantFrom('sid', '__Host-sid', '__Secure-sid'), attributes, (name, given) => {
      expectCookieErrorOr(() => {
        const line = serializeSetCookie(name, 'v', given as SetCookieAttributes);
        const parsed = parseSetCookieLine(line);
        const expected: string[] = [];
        if (given.path !== undefined) expected.push(`Path=${given.path}`);
        if (given.domain !== undefined) expected.push(`Domain=${given.domain}`);
        if (given.maxAge !== undefined) expected.push(`Max-Age=${given.maxAge}`);
        if (given.secure === true) expected.push('Secure');
        if (given.httpOnly === true) expected.push('HttpOnly');
        if (given.sameSite !== undefined)
          expected.push(`SameSite=${given.sameSite[0]?.toUpperCase()}${given.sameSite.slice(1)}`);
        assert.deepEqual(parsed, { name, value: 'v', attributes: expected });
        assert.match(line, /^[\x20-\x7e]*$/);
      });
    }),
    { numRuns: 2000 },
  );
});
