/**
 * The Express example (examples/express), started exactly as its header says and driven over HTTP
 * like a browser: a counter, sign-in with a CSRF token, a CSRF-protected form, sign-out; then the same
 * app in store mode (LATCHKEY_STORE=memory) for the device list and the token that dies at sign-in.
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

after(stopExamples);

describe('examples/express (cookie mode)', () => {
  let app: RunningExample;
  before(async () => {
    app = await startExample('express', { LATCHKEY_STORE: '' });
  });

  test('starts in development mode with a warning about its ephemeral key', () => {
    assert.match(app.output(), /LATCHKEY_EPHEMERAL_KEY/);
  });

  test('counter, sign in with a CSRF token, a protected form, sign out', async () => {
    const user = exampleBrowser(app.base);
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

    const invalid = await user.post('/login', { userName: '<script>', _csrf: second.token });
    assert.equal(invalid.status, 303);
    const retry = await user.page();
    assert.match(retry.html, /id="notice">Choose a name/);
    assert.match(retry.html, /You are not signed in/);

    const signIn = await user.post('/login', { userName: 'ada', _csrf: retry.token });
    assert.equal(signIn.status, 303);
    assert.equal(signIn.headers.get('location'), '/');
    assert.notEqual(user.jar.get('lk'), anonymous, 'a fresh cookie value at sign-in');
    const signedIn = await user.page();
    assert.match(signedIn.html, /Signed in as <strong id="user-name">ada<\/strong>/);
    assert.match(signedIn.html, /id="notice">Signed in as ada\./);
    assert.match(signedIn.html, /id="visits">4</, 'the counter survives sign-in');
    assert.doesNotMatch(signedIn.html, /Your devices/, 'no device list in cookie mode');

    const stale = await user.post('/note', { note: 'x', _csrf: retry.token });
    await assertRefused(
      stale,
      /ERR_LATCHKEY_CSRF \(token-invalid\)/,
      'a token from before sign-in no longer works',
    );
    const crossSite = await user.post(
      '/note',
      { note: 'x', _csrf: signedIn.token },
      { origin: 'https://evil.example' },
    );
    await assertRefused(crossSite, /\(cross-origin\)/);
    const saved = await user.post(
      '/note',
      { note: 'hello <b>', _csrf: signedIn.token },
      { origin: app.base },
    );
    assert.equal(saved.status, 303);
    const withNote = await user.page();
    assert.match(withNote.html, /id="note">hello &lt;b&gt;</);
    assert.deepEqual(await (await user.request('/api/session')).json(), {
      signedIn: true,
      userName: 'ada',
      visits: 5,
      note: 'hello <b>',
    });

    const cleared = await user.post('/note', { note: '', _csrf: withNote.token });
    assert.equal(cleared.status, 303);
    assert.equal((await (await user.request('/api/session')).json()).note, null, 'delete req.session.note');

    const signOut = await user.post('/logout', { _csrf: withNote.token });
    assert.equal(signOut.status, 303);
    assert.match(signOut.headers.getSetCookie()[0] ?? '', /^lk=; Path=\/; Max-Age=0/);
    assert.equal(user.jar.get('lk'), undefined);
    const afterSignOut = await (await user.request('/api/session')).json();
    assert.deepEqual(afterSignOut, { signedIn: false, userName: null, visits: 0, note: null });
  });

  test('the cookie: lk (development), HttpOnly, SameSite=Lax, Max-Age from cookie.maxAge', async () => {
    const response = await exampleBrowser(app.base).request('/');
    const [line = ''] = response.headers.getSetCookie();
    assert.match(line, /^lk=[^;]+; /);
    assert.match(line, /; Max-Age=1800(;|$)/);
    assert.match(line, /; HttpOnly(;|$)/);
    assert.match(line, /; SameSite=Lax(;|$)/);
    assert.equal(response.headers.get('x-powered-by'), null);
  });
});

describe('examples/express (store mode: LATCHKEY_STORE=memory)', () => {
  let app: RunningExample;
  before(async () => {
    app = await startExample('express', { LATCHKEY_STORE: 'memory' });
  });

  test('sign-in issues a new token and kills the old one; the device list shows this session', async () => {
    const user = exampleBrowser(app.base);
    const { token } = await user.page();
    const anonymous = user.jar.get('lk');
    assert.ok(anonymous);
    assert.equal((await user.request('/api/devices')).status, 401);

    const signIn = await user.post('/login', { userName: 'grace', _csrf: token });
    assert.equal(signIn.status, 303);
    const signedInToken = user.jar.get('lk');
    assert.ok(signedInToken && signedInToken !== anonymous, 'a new token at sign-in');
    const signedIn = await user.page();
    assert.match(signedIn.html, /Your devices/);

    const replay = await user.request('/api/session', { cookie: `lk=${anonymous}` });
    assert.deepEqual(await replay.json(), { signedIn: false, userName: null, visits: 0, note: null });

    const devices = await (await user.request('/api/devices')).json();
    assert.equal(devices.length, 1);
    assert.equal(devices[0].current, true);
    assert.match(devices[0].id, /^[A-Za-z0-9_-]{43}$/);

    const signOut = await user.post('/logout', { _csrf: signedIn.token });
    assert.equal(signOut.status, 303);
    const dead = await user.request('/api/session', { cookie: `lk=${signedInToken}` });
    assert.equal((await dead.json()).signedIn, false, 'the signed-in token died at sign-out');
  });
});
