import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isCookieValue } from './grammar.ts';
import { parseCookieHeader, readCookie } from './parse.ts';

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const structural = fc.constantFrom(
  ';',
  '=',
  ' ',
  '\t',
  ',',
  '"',
  '\\',
  '%',
  's',
  'i',
  'd',
  '\u00a0',
  '\u2000',
  '\0',
);
/** Full Unicode (astral code points and lone surrogates) mixed with the characters the parser splits on. */
const anyHeader = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: codeUnit, maxLength: 200 }),
  fc.string({ unit: structural, maxLength: 200 }),
  fc.string({ unit: fc.oneof(structural, codeUnit), maxLength: 200 }),
);
const anyHeaders = fc.oneof(
  anyHeader,
  fc.array(anyHeader, { maxLength: 4 }),
  fc.constantFrom(undefined, null),
);

test('checklist #21 (property): readCookie never throws and returns only cookie-octet values', () => {
  fc.assert(
    fc.property(anyHeaders, fc.oneof(fc.constantFrom('sid', '__Host-sid', ''), anyHeader), (header, name) => {
      const values = readCookie(header, name);
      assert.ok(Array.isArray(values));
      for (const value of values) assert.ok(isCookieValue(value));
    }),
    { numRuns: 3000 },
  );
});

test('checklist #16 (property): parseCookieHeader never throws, pollutes or yields an empty name', () => {
  fc.assert(
    fc.property(anyHeaders, fc.boolean(), (header, decode) => {
      const record = parseCookieHeader(header, { decode });
      assert.equal(Object.getPrototypeOf(record), null);
      assert.ok(!Object.hasOwn(record, ''));
      for (const value of Object.values(record)) assert.equal(typeof value, 'string');
      assert.equal(Object.getPrototypeOf({}), Object.prototype);
    }),
    { numRuns: 3000 },
  );
});

const nameArb = fc.constantFrom('sid', 'SID', '__Host-sid', '__HOST-sid', '__proto__', 'a', 'sid.1');
const valueArb = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', '-', '_', '.', '~', '=', '%', '!', '"', ',', ' ', '\\', 'é'),
  maxLength: 12,
});
const owsArb = fc.constantFrom('', ' ', '\t', '  ');
const pairArb = fc.record({ name: nameArb, value: valueArb, before: owsArb, after: owsArb });

function trimOws(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

function render(p: { name: string; value: string; before: string; after: string }): string {
  return `${p.before}${p.name}${p.after}=${p.before}${p.value}${p.after}`;
}

test('checklist #17 / #22 (property): readCookie returns exactly the valid values, in order', () => {
  fc.assert(
    fc.property(
      fc.array(pairArb, { maxLength: 12 }),
      fc.integer({ min: 1, max: 4 }),
      (pairs, headerCount) => {
        // The pairs dealt round-robin over several headers give the answer for their joined order.
        const groups: Array<typeof pairs> = Array.from({ length: headerCount }, () => []);
        for (const [i, pair] of pairs.entries()) groups[i % headerCount]?.push(pair);
        const split = groups.map((group) => group.map(render).join('; '));
        const joinedOrder = groups.flat();
        for (const name of ['sid', '__Host-sid', '__proto__']) {
          const expected = joinedOrder
            .filter((p) => p.name === name && isCookieValue(trimOws(p.value)))
            .map((p) => trimOws(p.value));
          const actual = readCookie(split, name);
          assert.deepEqual(actual, expected.length > 8 ? [] : expected);
          assert.deepEqual(readCookie(joinedOrder.map(render).join('; '), name), actual);
        }
      },
    ),
    { numRuns: 1000 },
  );
});

test('checklist #16 (property): parseCookieHeader, decode: false, keeps the first trimmed value', () => {
  fc.assert(
    fc.property(fc.array(pairArb, { maxLength: 12 }), (pairs) => {
      const header = pairs.map(render).join(';');
      const expected: Record<string, string> = Object.create(null);
      for (const p of pairs) if (!(p.name in expected)) expected[p.name] = trimOws(p.value);
      assert.deepEqual(parseCookieHeader(header, { decode: false }), expected);
    }),
    { numRuns: 1000 },
  );
});
