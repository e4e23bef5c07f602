/**
 * examples/hono and examples/koa (the same app on two frameworks) run as documented: started on a
 * free port, a browser-like client signs in with the CSRF token from the page, counts, signs out, and
 * a POST without the token is refused.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { assertRefused, exampleBrowser, startExample, stopExamples } from '../support/examples.ts';

after(stopExamples);

for (const name of ['hono', 'koa']) {
  test(`examples/${name}: sign in with the CSRF token, count, sign out; a POST without a token is 403`, {
    timeout: 60_000,
  }, async () => {
    const user = exampleBrowser((await startExample(name)).base);
    const refused = await user.post('/login', { username: 'ada' });
    await assertRefused(refused, /ERR_LATCHKEY_CSRF \(token-missing\)/);

    const signIn = await user.post('/login', { username: 'ada', _csrf: await user.token() });
    assert.equal(signIn.status, 303);
    assert.ok(user.jar.get('lk'), 'development mode: the plain-HTTP cookie lk');
    assert.match(await (await user.request('/')).text(), /Signed in as <strong id="user">ada<\/strong>/);

    for (let i = 0; i < 2; i++) {
      assert.equal((await user.post('/count', { _csrf: await user.token() })).status, 303);
    }
    assert.deepEqual(await (await user.request('/api/session')).json(), { user: 'ada', count: 2 });
    const forged = await user.post('/count', {});
    assert.equal(forged.status, 403);
    assert.match(forged.headers.get('content-type') ?? '', /^text\/plain/);
    assert.deepEqual(await (await user.request('/api/session')).json(), { user: 'ada', count: 2 });

    const signOut = await user.post('/logout', { _csrf: await user.token() });
    assert.equal(signOut.status, 303);
    assert.equal(user.jar.get('lk'), undefined, 'the cookie is cleared');
    assert.deepEqual(await (await user.request('/api/session')).json(), { user: null, count: 0 });
  });
}
