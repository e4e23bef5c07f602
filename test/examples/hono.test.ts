/**
 * examples/hono runs as documented: started on a free port, a browser-like client signs in with the
 * CSRF token from the page, counts, signs out, and a POST without the token is refused.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CookieJar } from '../support/cookies.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let child: ChildProcess | undefined;
after(() => {
  if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
});

/** Start the example as its README says, with PORT=0; resolve with the URL it prints. */
async function start(): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', LATCHKEY_KEYS: '', NODE_ENV: '' };
  delete env.HOST; // the default, 127.0.0.1
  child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'examples/hono/server.ts'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  for await (const chunk of child.stdout!) {
    output += chunk;
    const match = /^listening on (http:\/\/127\.0\.0\.1:(\d+))$/m.exec(output);
    if (match && match[2] !== '0') return match[1]!;
  }
  throw new Error(`the example did not start: ${output}`);
}

function browser(base: string) {
  const jar = new CookieJar();
  return {
    jar,
    async request(path: string, form?: Record<string, string>) {
      const cookie = jar.header();
      const response = await fetch(`${base}${path}`, {
        method: form ? 'POST' : 'GET',
        headers: cookie ? { cookie } : {},
        redirect: 'manual',
        ...(form ? { body: new URLSearchParams(form) } : {}),
      });
      jar.apply(response.headers.getSetCookie());
      return response;
    },
    /** The page's CSRF token, fresh on every render. */
    async token(): Promise<string> {
      const page = await (await this.request('/')).text();
      const match = /name="_csrf" value="([A-Za-z0-9_-]+)"/.exec(page);
      assert.ok(match, 'the page has a CSRF field');
      return match[1]!;
    },
  };
}

test('examples/hono: sign in with the CSRF token, count, sign out; a POST without a token is 403', {
  timeout: 60_000,
}, async () => {
  const user = browser(await start());
  const refused = await user.request('/login', { username: 'ada' });
  assert.equal(refused.status, 403);
  assert.match(await refused.text(), /ERR_LATCHKEY_CSRF \(token-missing\)/);

  const signIn = await user.request('/login', { username: 'ada', _csrf: await user.token() });
  assert.equal(signIn.status, 303);
  assert.ok(user.jar.get('lk'), 'development mode: the plain-HTTP cookie lk');
  assert.match(await (await user.request('/')).text(), /Signed in as <strong id="user">ada<\/strong>/);

  for (let i = 0; i < 2; i++) {
    assert.equal((await user.request('/count', { _csrf: await user.token() })).status, 303);
  }
  assert.deepEqual(await (await user.request('/api/session')).json(), { user: 'ada', count: 2 });
  const forged = await user.request('/count', {});
  assert.equal(forged.status, 403);
  assert.match(forged.headers.get('content-type') ?? '', /^text\/plain/);
  assert.deepEqual(await (await user.request('/api/session')).json(), { user: 'ada', count: 2 });

  const signOut = await user.request('/logout', { _csrf: await user.token() });
  assert.equal(signOut.status, 303);
  assert.equal(user.jar.get('lk'), undefined, 'the cookie is cleared');
  assert.deepEqual(await (await user.request('/api/session')).json(), { user: null, count: 0 });
});
