/**
 * The Fastify example (examples/fastify), started exactly as its README line says and driven over HTTP
 * like a browser: a counter, sign-in with a CSRF token, a CSRF-protected form, sign-out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertRefused,
  exampleBrowser,
  type RunningExample,
  startExample,
  stopExamples,
} from '../support/examples.ts';

let app: RunningExample;
let base = '';
let output = '';
before(async () => {
  app = await startExample('fastify');
  base = app.base;
  output = app.output();
});
after(stopExamples);

const browser = () => exampleBrowser(base);

describe('examples/fastify', () => {
  test('starts in development mode with a warning about its ephemeral key', () => {
    assert.match(output, /LATCHKEY_EPHEMERAL_KEY/);
  });

  test('counter, sign in with a CSRF token, a protected form, sign out', async () => {
    const user = browser();
    const first = await user.page();
    assert.match(first.html, /id="visits">1</);
    assert.match(first.html, /You are not signed in/);
    const anonymous = user.jar.get('lk');
    assert.ok(anonymous);
    const second = await user.page();
    assert.match(second.html, /id="visits">2</);
    assert.notEqual(second.token, first.token, 'a fresh masked token on every render');

    const refused = await user.post('/login', { userName: 'ada' });
    await assertRefused(refused, /ERR_LATCHKEY_CSRF \(token-missing\)/);

    const signIn = await user.post('/login', { userName: 'ada', _csrf: second.token });
    assert.equal(signIn.status, 303);
    assert.equal(signIn.headers.get('location'), '/');
    assert.notEqual(user.jar.get('lk'), anonymous, 'a fresh cookie value at sign-in');
    const signedIn = await user.page();
    assert.match(signedIn.html, /Signed in as <strong id="user-name">ada<\/strong>/);
    assert.match(signedIn.html, /id="notice">Signed in as ada\./);
    assert.match(signedIn.html, /id="visits">3</, 'the counter survives sign-in');

    const stale = await user.post('/note', { note: 'x', _csrf: second.token });
    await assertRefused(stale, /\(token-invalid\)/, 'a token from before sign-in no longer works');
    const crossSite = await user.post(
      '/note',
      { note: 'x', _csrf: signedIn.token },
      { origin: 'https://evil.example' },
    );
    await assertRefused(crossSite, /\(cross-origin\)/);
    const saved = await user.post('/note', { note: 'hello <b>', _csrf: signedIn.token }, { origin: base });
    assert.equal(saved.status, 303);
    const withNote = await user.page();
    assert.match(withNote.html, /id="note">hello &lt;b&gt;</);
    assert.deepEqual(await (await user.request('/api/session')).json(), {
      signedIn: true,
      userName: 'ada',
      visits: 4,
      note: 'hello <b>',
    });

    const signOut = await user.post('/logout', { _csrf: withNote.token });
    assert.equal(signOut.status, 303);
    assert.match(signOut.headers.getSetCookie()[0] ?? '', /^lk=; Path=\/; Max-Age=0/);
    assert.equal(user.jar.get('lk'), undefined);
    const after = await (await user.request('/api/session')).json();
    assert.equal(after.signedIn, false);
  });
});
