import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { domainProblem, isCookieValue, isToken, pathProblem, prefixProblem, utf8Length } from './grammar.ts';

test('checklist #11: token and cookie-octet sets are exactly RFC 9110 tchar and 6265bis cookie-octet', () => {
  const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (let unit = 0; unit < 0x100; unit++) {
    const char = String.fromCharCode(unit);
    assert.equal(isToken(char), tchar.includes(char), `token ${unit}`);
    const octet =
      unit === 0x21 || (unit >= 0x23 && unit <= 0x7e && unit !== 0x2c && unit !== 0x3b && unit !== 0x5c);
    assert.equal(isCookieValue(char), octet, `cookie-octet ${unit}`);
  }
  assert.equal(isToken(''), false);
  assert.equal(isCookieValue(''), true);
});

test('checklist #9: prefixes match case-insensitively, and only ASCII case folds', () => {
  const bare = { secure: false, path: '/', domain: undefined };
  for (const name of ['__Host-a', '__HOST-a', '__hOsT-a', '__Secure-a', '__SECURE-a']) {
    assert.ok(prefixProblem(name, bare), name);
  }
  // U+0130 and U+212A lower-case to ASCII under Unicode rules; they are not tokens, so never names anyway.
  for (const name of [
    '_Host-a',
    'Host-a',
    '__Hostx-a',
    '__Secur-a',
    'a__Host-',
    '__\u0130ost-a',
    '__Host\u2010a',
  ]) {
    assert.equal(prefixProblem(name, bare), undefined, name);
  }
  assert.equal(prefixProblem('__Host-a', { secure: true, path: '/', domain: undefined }), undefined);
  assert.ok(prefixProblem('__Host-a', { secure: true, path: undefined, domain: undefined }));
});

test('checklist #9: __Http- and __Host-Http- also need HttpOnly (browsers drop such cookies without it)', () => {
  const hostOk = { secure: true, path: '/', domain: undefined };
  for (const name of ['__Http-a', '__HTTP-a', '__Host-Http-a', '__host-http-a']) {
    assert.match(prefixProblem(name, { ...hostOk, httpOnly: false }) ?? '', /must be HttpOnly/, name);
    assert.equal(prefixProblem(name, { ...hostOk, httpOnly: true }), undefined, name);
  }
  assert.match(prefixProblem('__Http-a', { ...hostOk, secure: false, httpOnly: true }) ?? '', /Secure/);
  assert.match(prefixProblem('__Host-Http-a', { ...hostOk, path: '/x', httpOnly: true }) ?? '', /Path/);
  assert.equal(prefixProblem('__Httpx-a', { ...hostOk, httpOnly: false }), undefined);
});

test('checklist #9: numeric last labels count as IP addresses (WHATWG "ends in a number")', () => {
  for (const domain of ['1.2.3.4', '127.1', '0x7f.1', 'example.0X1F', 'a.b.99'])
    assert.ok(domainProblem(domain), domain);
  for (const domain of ['1.example', '0x.example', 'a-1.b2'])
    assert.equal(domainProblem(domain), undefined, domain);
  assert.ok(pathProblem(42));
  assert.ok(domainProblem(undefined));
});

test('utf8Length (property): equals Buffer.byteLength for any string, lone surrogates included', () => {
  const unit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit })), (text) => {
      assert.equal(utf8Length(text), Buffer.byteLength(text, 'utf8'));
    }),
    { numRuns: 2000 },
  );
  assert.equal(utf8Length('aé€😀', 1, 3), 5);
});
