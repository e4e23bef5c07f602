import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cookie } from './cookie.ts';
import { weakSecretReason } from './secret.ts';
import { MemoryStore } from './store.ts';

const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
const call = <T>(run: (callback: (error: unknown, value?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) =>
    run((error, value) => (error ? reject(error) : resolve(value))),
  );

describe("express-session's surface", () => {
  test('Cookie: originalMaxAge is the maxAge given, even when a millisecond passes while it is set', () => {
    const realNow = Date.now;
    let now = realNow();
    Date.now = () => now++; // every reading of the clock a millisecond later
    try {
      assert.equal(new Cookie({ maxAge: 60_000 }).originalMaxAge, 60_000);
      const cookie = new Cookie();
      cookie.maxAge = 5_000;
      assert.equal(cookie.originalMaxAge, 5_000);
    } finally {
      Date.now = realNow;
    }
  });

  test('Cookie: maxAge counts down, expires sets originalMaxAge, toJSON has the fields', () => {
    const cookie = new Cookie({ maxAge: 60_000, sameSite: 'lax' });
    assert.ok(cookie.maxAge! > 59_000 && cookie.maxAge! <= 60_000);
    assert.equal(cookie.originalMaxAge, 60_000);
    cookie.expires = new Date(Date.now() + 10_000);
    assert.ok(cookie.originalMaxAge! <= 10_000 && cookie.originalMaxAge! > 9_000);
    cookie.maxAge = null;
    assert.equal(cookie.expires, null);
    assert.deepEqual(Object.keys(new Cookie()).sort(), ['_expires', 'httpOnly', 'originalMaxAge', 'path']);
    assert.equal(JSON.parse(JSON.stringify(new Cookie({ path: '/a' }))).path, '/a');
    assert.throws(() => new Cookie('x' as never), TypeError);
  });

  test('MemoryStore: set, get, length, all, touch, destroy, clear; an expired session is gone', async () => {
    const store = new MemoryStore();
    await call((cb) => store.set('a', { cookie: { expires: null }, n: 1 }, cb));
    await call((cb) => store.set('b', { cookie: { expires: new Date(Date.now() - 1) }, n: 2 }, cb));
    assert.deepEqual(json(await call((cb) => store.get('a', cb))), { cookie: { expires: null }, n: 1 });
    assert.equal(await call((cb) => store.get('b', cb)), undefined, 'expired');
    assert.equal(await call<number>((cb) => store.length(cb)), 1);
    assert.deepEqual(Object.keys((await call((cb) => store.all(cb))) ?? {}), ['a']);
    const later = new Date(Date.now() + 60_000).toISOString();
    await call((cb) => store.touch('a', { cookie: { expires: later } }, cb));
    assert.deepEqual(json(await call((cb) => store.get('a', cb))), { cookie: { expires: later }, n: 1 });
    await call((cb) => store.destroy('a', cb));
    assert.equal(await call<number>((cb) => store.length(cb)), 0);
    await call((cb) => store.set('c', { n: 3 }, cb));
    await call((cb) => store.clear(cb));
    assert.equal(await call<number>((cb) => store.length(cb)), 0);
  });

  test('checklist #43: weak secrets are named as such; a long random one is not', () => {
    for (const weak of ['keyboard cat', 'x'.repeat(40), 'my-super-secret-session-key-for-prod-2024']) {
      assert.notEqual(weakSecretReason(new TextEncoder().encode(weak)), undefined, weak);
    }
    assert.equal(weakSecretReason(new TextEncoder().encode('q7V2m9XkL3pR8tY1wZ4nB6cH0jD5fG2s')), undefined);
  });
});
