import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { CookieJar } from './support/cookies.ts';
import { startServerProcess } from './support/examples.ts';

const children: ChildProcess[] = [];
const dataDirs: string[] = [];
after(() => {
  for (const child of children) child.kill('SIGTERM');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-demo-'));
  dataDirs.push(dir);
  return dir;
}

/** Start the demo exactly as `npm start` does, on a free port; resolve with its URL and console output. */
async function startDemo(env: Record<string, string>) {
  const demo = await startServerProcess(
    'examples/demo/server.ts',
    { LATCHKEY_KEYS: '', NODE_ENV: '', PORT: '0', REDIS_URL: '', DEMO_DATA_DIR: dataDir(), ...env },
    /Listening on (http:\/\/\S+)/,
  );
  children.push(demo.child);
  return demo;
}

/**
 * A browser-like client: it keeps cookies, sends Origin on posts, and posts forms with the CSRF token
 * of the last page it rendered (fetching the home page first when it has none, as a user would).
 */
function browser(base: string, extraHeaders: Record<string, string> = {}) {
  const jar = new CookieJar();
  let token: string | undefined;
  const client = {
    jar,
    async request(
      path: string,
      init: { method?: string; form?: Record<string, string>; csrf?: boolean } = {},
    ): Promise<Response> {
      const method = init.method ?? 'GET';
      const headers: Record<string, string> = { ...extraHeaders };
      let form = init.form;
      if (method === 'POST' && init.csrf !== false) {
        if (token === undefined) await (await client.request('/')).text();
        form = { ...form, _csrf: token ?? '' };
        // Behind the HTTPS proxy the browser's page is an https:// one.
        headers.origin =
          extraHeaders['x-forwarded-proto'] === 'https' ? base.replace('http:', 'https:') : base;
      }
      const cookie = jar.header();
      if (cookie) headers.cookie = cookie;
      const response = await fetch(`${base}${path}`, {
        method,
        headers,
        redirect: 'manual',
        ...(form ? { body: new URLSearchParams(form) } : {}),
      });
      jar.apply(response.headers.getSetCookie());
      if (method === 'POST') token = undefined; // sign-in renews the secret: use a fresh page's token
      if (response.headers.get('content-type')?.startsWith('text/html')) {
        const html = await response.clone().text();
        token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? token;
      }
      return response;
    },
  };
  return client;
}

describe('the demo (npm start)', () => {
  test('development mode: visit, sign in, reload, sign out', async () => {
    const dir = dataDir();
    const demo = await startDemo({ DEMO_DATA_DIR: dir });
    assert.match(demo.output(), /DEVELOPMENT mode/);
    assert.match(demo.output(), /a development key kept in .*dev-key/);
    assert.match(demo.output(), /Sessions are kept server-side: files in/);
    assert.equal(statSync(join(dir, 'dev-key')).mode & 0o777, 0o600);
    const user = browser(demo.url);

    const home = await user.request('/');
    const page = await home.text();
    assert.match(page, /id="dev-banner"/);
    assert.match(page, /You are not signed in/);
    assert.match(page, /id="visits">0</, 'anonymous visits are not counted');
    // No session for an anonymous visitor (checklist #35): the form's CSRF secret rides in its own
    // sealed cookie.
    assert.deepEqual(
      home.headers.getSetCookie().map((line) => line.replace(/=[^;]+/, '=…')),
      ['lk.csrf=…; Path=/; HttpOnly; SameSite=Lax'],
    );
    assert.equal(user.jar.get('lk'), undefined);

    const login = await user.request('/login', { method: 'POST', form: { username: 'Ada <script>' } });
    assert.equal(login.status, 303);
    // The notice is worth keeping: now there is a session.
    const anonymous = user.jar.get('lk');
    assert.match(anonymous ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(user.jar.get('lk.csrf'), undefined, 'the secret moved into the record');
    assert.match(await (await user.request('/')).text(), /Choose a username/);

    const signIn = await user.request('/login', { method: 'POST', form: { username: 'ada' } });
    assert.equal(signIn.status, 303);
    assert.equal(signIn.headers.get('location'), '/');
    assert.notEqual(user.jar.get('lk'), anonymous, 'a fresh cookie value at sign-in');

    const signedIn = await (await user.request('/')).text();
    assert.match(signedIn, /Signed in as <strong id="username">ada<\/strong>/);
    assert.match(signedIn, /id="notice">Signed in as ada\./);
    const reload = await (await user.request('/')).text();
    assert.match(reload, /Signed in as <strong id="username">ada/);
    assert.doesNotMatch(reload, /id="notice"/, 'the flash showed once');

    const api = await user.request('/api/session');
    const json = await api.json();
    assert.equal(json.signedIn, true);
    assert.equal(json.username, 'ada');
    assert.equal(json.visits, 2, 'the two signed-in page views');
    assert.match(json.clocks.absoluteDeadline, /^\d{4}-/);
    assert.equal(JSON.stringify(json).includes(user.jar.get('lk')!.slice(10, 40)), false);

    const logout = await user.request('/logout', { method: 'POST' });
    assert.equal(logout.status, 303);
    assert.match(logout.headers.getSetCookie()[0] ?? '', /^lk=; Path=\/; Max-Age=0/);
    assert.equal(user.jar.get('lk'), undefined);
    assert.equal((await (await user.request('/api/session')).json()).signedIn, false);
    assert.equal((await user.request('/nope')).status, 404);
    assert.equal((await user.request('/logout')).status, 405);
  });

  test('checklist #59: a post without the page token, or from another origin, is refused with 403', async () => {
    const demo = await startDemo({});
    const user = browser(demo.url);
    await user.request('/login', { method: 'POST', form: { username: 'ada' } });
    const home = await (await user.request('/')).text();
    assert.match(home, /Signed in as/);
    const token = /name="_csrf" value="([^"]+)"/.exec(home)?.[1] ?? '';
    const post = (headers: Record<string, string>, form: Record<string, string>) =>
      fetch(`${demo.url}/logout`, {
        method: 'POST',
        headers: { cookie: user.jar.header() ?? '', ...headers },
        body: new URLSearchParams(form),
        redirect: 'manual',
      });
    const missing = await post({ origin: demo.url }, {});
    assert.equal(missing.status, 403);
    assert.equal(await missing.text(), 'Forbidden: ERR_LATCHKEY_CSRF (token-missing)\n');
    const forged = await post({ origin: 'http://evil.test' }, { _csrf: token });
    assert.equal(forged.status, 403);
    assert.match(await forged.text(), /cross-origin/);
    const crossSite = await post({ 'sec-fetch-site': 'cross-site' }, { _csrf: token });
    assert.equal(crossSite.status, 403);
    assert.equal((await (await user.request('/api/session')).json()).username, 'ada', 'still signed in');
    const genuine = await post({ origin: demo.url }, { _csrf: token });
    assert.equal(genuine.status, 303);
    assert.match(genuine.headers.getSetCookie()[0] ?? '', /^lk=; Path=\/; Max-Age=0/);
  });

  test('with LATCHKEY_KEYS in production: __Host-lk, Secure, behind an HTTPS proxy', async () => {
    const demo = await startDemo({ LATCHKEY_KEYS: generateKeyLine('k1'), NODE_ENV: 'production' });
    assert.match(demo.output(), /production mode/);
    const direct = await browser(demo.url).request('/');
    assert.deepEqual(direct.headers.getSetCookie(), [], 'no Secure cookie over plain HTTP');
    const proxied = browser(demo.url, { 'x-forwarded-proto': 'https' });
    const home = await proxied.request('/');
    assert.match(
      home.headers.getSetCookie()[0] ?? '',
      /^__Host-lk\.csrf=[A-Za-z0-9_.-]+; Path=\/; Secure; HttpOnly; SameSite=Lax$/,
    );
    await proxied.request('/login', { method: 'POST', form: { username: 'grace' } });
    assert.equal((await (await proxied.request('/api/session')).json()).username, 'grace');
  });

  test('sessions survive a demo restart (fs store, kept development key)', async () => {
    const dir = dataDir();
    const first = await startDemo({ DEMO_DATA_DIR: dir });
    const user = browser(first.url);
    await user.request('/login', { method: 'POST', form: { username: 'lin' } });
    first.child.kill('SIGTERM');
    await once(first.child, 'exit');
    const second = await startDemo({ DEMO_DATA_DIR: dir });
    const again = browser(second.url);
    again.jar.apply([`lk=${user.jar.get('lk')}`]);
    assert.equal((await (await again.request('/api/session')).json()).username, 'lin');
  });

  test('two demo processes on different ports sharing one Redis see the same sessions', async () => {
    const shared = { LATCHKEY_KEYS: generateKeyLine('k1'), REDIS_URL: 'redis://127.0.0.1:6379' };
    const [one, two] = await Promise.all([startDemo(shared), startDemo(shared)]);
    assert.notEqual(one.url, two.url);
    assert.match(one.output(), /Sessions are kept server-side: Redis at redis:\/\/127\.0\.0\.1:6379/);
    const user = browser(one.url);
    await user.request('/login', { method: 'POST', form: { username: 'grace' } });
    const elsewhere = browser(two.url);
    elsewhere.jar.apply([`lk=${user.jar.get('lk')}`]);
    assert.equal((await (await elsewhere.request('/api/session')).json()).username, 'grace');
    await elsewhere.request('/logout', { method: 'POST' });
    assert.equal(
      (await (await user.request('/api/session')).json()).signedIn,
      false,
      'a logout on one is seen by the other',
    );
  });

  test('your devices: list them, sign out one, sign out everywhere else', async () => {
    const demo = await startDemo({});
    const laptop = browser(demo.url, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' });
    const phone = browser(demo.url, {
      'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1',
    });
    const tablet = browser(demo.url);
    for (const device of [laptop, phone, tablet]) {
      await device.request('/login', { method: 'POST', form: { username: 'ada' } });
    }
    const devices = (await (await laptop.request('/api/session')).json()).devices;
    assert.deepEqual(
      devices.map((d: { label: string; current: boolean }) => [d.label, d.current]),
      [
        ['Firefox on Linux', true],
        ['Safari on iPhone', false],
        ['Unknown device', false],
      ],
    );
    const page = await (await laptop.request('/')).text();
    assert.match(page, /Your devices/);
    assert.match(page, /Sign out everywhere else/);
    await laptop.request('/devices/revoke', { method: 'POST', form: { id: devices[1].id } });
    assert.equal((await (await phone.request('/api/session')).json()).signedIn, false);
    assert.equal((await (await tablet.request('/api/session')).json()).signedIn, true);
    await laptop.request('/devices/revoke-others', { method: 'POST' });
    assert.match(await (await laptop.request('/')).text(), /Signed out 1 other device\./);
    assert.equal((await (await tablet.request('/api/session')).json()).signedIn, false);
    assert.equal((await (await laptop.request('/api/session')).json()).devices.length, 1);
  });
});
