// Real-browser end-to-end tests of the demo (`npm run test:e2e`): Debian's Chromium driven by
// playwright-core against the demo started exactly as `npm start` starts it. No mocks, no request
// interception: every request below is a real one from the browser to a real server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page, type Response } from 'playwright-core';
import { type ServerProcess, startServerProcess } from '../support/examples.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Debian's Chromium; CI (.ci/run) installs it. Playwright never downloads a browser here. */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(root, 'test-artifacts', 'e2e', 'signed-in.png');
const TIMEOUT = 20_000;

let demo: ServerProcess;
let attacker: { server: Server; port: number };
let browser: Browser;
let dataDir: string;

/** Start the demo as `npm start` does, on a free port with a fresh data dir; resolve with its URL. */
function startDemo(dir: string): Promise<typeof demo> {
  return startServerProcess(
    'examples/demo/server.ts',
    { LATCHKEY_KEYS: '', NODE_ENV: '', PORT: '0', REDIS_URL: '', DEMO_DATA_DIR: dir },
    /Listening on (http:\/\/\S+)/,
    15_000,
  );
}

const escapeAttribute = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The attacker's site: GET /forge?target=URL[&token=T] answers a page whose form posts itself to
 * `target` as soon as it loads, with a `_csrf` field when `token` is given.
 */
async function startAttacker(): Promise<typeof attacker> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://attacker.invalid');
    const target = url.searchParams.get('target');
    if (req.method !== 'GET' || url.pathname !== '/forge' || target === null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    const token = url.searchParams.get('token');
    const field =
      token === null ? '' : `<input type="hidden" name="_csrf" value="${escapeAttribute(token)}">`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><title>You won a prize</title></head>
<body><form method="post" action="${escapeAttribute(target)}">${field}<button>Claim</button></form>
<script>document.forms[0].submit();</script></body></html>`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

const text = async (page: Page, selector: string) => ((await page.textContent(selector)) ?? '').trim();

async function lkCookie(context: BrowserContext) {
  return (await context.cookies(demo.url)).find((cookie) => cookie.name === 'lk');
}

/**
 * Click a form's button and follow the post through the demo's 303 to the reloaded home page; resolve
 * with the answer to the POST and the answer to the redirected GET /.
 */
async function submit(page: Page, button: string, path: string): Promise<[Response, Response]> {
  const [post, home] = await Promise.all([
    page.waitForResponse(`${demo.url}${path}`),
    page.waitForResponse(`${demo.url}/`),
    page.click(button),
  ]);
  await page.waitForLoadState('load');
  assert.equal(post.request().method(), 'POST');
  return [post, home];
}

/** A fresh browser context with the demo's home page open. */
async function openHome(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${demo.url}/`);
  return { context, page };
}

/** Open the demo in a fresh context and sign in through the form; the page is the signed-in home. */
async function signIn(username: string): Promise<{ context: BrowserContext; page: Page }> {
  const { context, page } = await openHome();
  await page.fill('#username-input', username);
  const [post] = await submit(page, '#login', '/login');
  assert.equal(post.status(), 303);
  await page.waitForSelector('#username');
  assert.equal(await text(page, '#username'), username);
  return { context, page };
}

/** What the demo's JSON API says about the session the given cookie value names, from a clean context. */
async function sessionOf(lk: string): Promise<{ signedIn: boolean; username: string | null }> {
  const context = await browser.newContext();
  try {
    await context.addCookies([{ name: 'lk', value: lk, url: demo.url }]);
    const page = await context.newPage();
    const response = await page.goto(`${demo.url}/api/session`);
    assert.equal(response?.status(), 200);
    return (await response!.json()) as { signedIn: boolean; username: string | null };
  } finally {
    await context.close();
  }
}

before(async () => {
  // Fail (not skip) without the browser: CI installs it, so its absence is a broken environment.
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) to run npm run test:e2e`,
    );
  }
  dataDir = mkdtempSync(join(tmpdir(), 'latchkey-e2e-'));
  [demo, attacker, browser] = await Promise.all([
    startDemo(dataDir),
    startAttacker(),
    chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    }),
  ]);
});

after(async () => {
  await browser?.close();
  if (attacker) {
    attacker.server.closeAllConnections();
    await new Promise((resolve) => attacker.server.close(resolve));
  }
  const child = demo?.child;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the demo in Chromium', () => {
  test('sign in through the form; a reload keeps the session; the cookie is HttpOnly and SameSite=Lax', {
    timeout: TIMEOUT,
  }, async () => {
    const { context, page } = await openHome();
    try {
      assert.equal(await text(page, '#status'), 'You are not signed in.');
      assert.equal(await text(page, '#visits'), '0', 'anonymous visits are not counted');
      assert.equal(await lkCookie(context), undefined, 'an anonymous visitor has no session (checklist #35)');

      await page.fill('#username-input', 'ada');
      await submit(page, '#login', '/login');
      assert.equal(await text(page, '#username'), 'ada');
      assert.equal(await text(page, '#notice'), 'Signed in as ada.');
      const visits = Number(await text(page, '#visits'));
      assert.ok(visits >= 1, `visits after sign-in: ${visits}`);

      await page.reload();
      assert.equal(await text(page, '#username'), 'ada', 'still signed in after a reload');
      assert.equal(await page.locator('#notice').count(), 0, 'the flash showed once');
      assert.equal(Number(await text(page, '#visits')), visits + 1, 'the visits counter grows');

      // The page's scripts cannot read the session cookie...
      const documentCookie = await page.evaluate(() => document.cookie);
      assert.equal(typeof documentCookie, 'string');
      assert.ok(!documentCookie.includes('lk='), `document.cookie shows the session: ${documentCookie}`);
      // ...but the browser holds it, HttpOnly and SameSite=Lax (not Secure: dev mode over plain HTTP).
      const cookie = await lkCookie(context);
      assert.ok(cookie, 'the browser holds an lk cookie');
      assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');
      assert.equal(cookie.secure, false);
      assert.equal(cookie.path, '/');
    } finally {
      await context.close();
    }
  });

  test('fixation defence: signing in gives the browser a new cookie value; a planted one stays anonymous', {
    timeout: TIMEOUT,
  }, async () => {
    const { context, page } = await openHome();
    try {
      assert.equal(await lkCookie(context), undefined, 'the first page view sets no lk cookie');
      // An attacker plants a session token of their choosing (a sibling site, a shared machine).
      const anonymous = `${'A'.repeat(42)}w`;
      await context.addCookies([{ name: 'lk', value: anonymous, url: demo.url }]);
      await page.reload();

      await page.fill('#username-input', 'grace');
      await submit(page, '#login', '/login');
      assert.equal(await text(page, '#username'), 'grace');
      const signedIn = (await lkCookie(context))?.value;
      assert.ok(signedIn, 'an lk cookie after sign-in');
      assert.notEqual(signedIn, anonymous, 'a fresh cookie value at sign-in');

      // An attacker who planted (or read) the pre-sign-in value gains nothing.
      assert.equal((await sessionOf(anonymous)).signedIn, false, 'the old value is not signed in');
      assert.equal((await sessionOf(signedIn)).username, 'grace', 'the new value is');
    } finally {
      await context.close();
    }
  });

  test('sign out clears the session cookie and the page says so', { timeout: TIMEOUT }, async () => {
    const { context, page } = await signIn('lin');
    try {
      const signedIn = (await lkCookie(context))?.value;
      assert.ok(signedIn);
      // While signed in, the browser sends the cookie (this also shows the Cookie header is observable).
      const reload = await page.reload();
      assert.match(
        (await reload?.request().headerValue('cookie')) ?? '',
        new RegExp(`(^|; )lk=${signedIn}($|;)`),
      );

      // POST /logout answers 303 with a clearing Set-Cookie; the browser drops the cookie and follows
      // the redirect to GET / without one. That page view is anonymous and makes no session (only
      // the form's sealed CSRF cookie, lk.csrf), which the redirected request's Cookie header shows.
      const [logout, home] = await submit(page, '#logout', '/logout');
      assert.equal(logout.status(), 303);
      assert.match((await logout.headerValue('set-cookie')) ?? '', /^lk=; Path=\/; Max-Age=0/);
      const sent = (await home.request().headerValue('cookie')) ?? '';
      assert.ok(!sent.includes('lk='), `the redirected GET / still sent a session cookie: ${sent}`);
      assert.equal(await text(page, '#status'), 'You are not signed in.');
      assert.equal(await page.locator('#logout').count(), 0);
      assert.equal(await text(page, '#visits'), '0', 'no session, not the old one');

      const now = (await context.cookies()).filter((cookie) => cookie.name === 'lk');
      assert.ok(
        now.every((cookie) => cookie.value !== signedIn),
        'the signed-in cookie is gone from the browser',
      );
      for (const cookie of now) assert.equal((await sessionOf(cookie.value)).signedIn, false);
      assert.equal((await sessionOf(signedIn)).signedIn, false, 'and the server ended that session');
    } finally {
      await context.close();
    }
  });

  test('a form posted from another origin is refused with 403 ERR_LATCHKEY_CSRF', {
    timeout: TIMEOUT,
  }, async () => {
    const { context, page } = await signIn('mallory-target');
    try {
      const stolen = await page.inputValue('form[action="/logout"] input[name="_csrf"]');
      assert.match(stolen, /^[A-Za-z0-9_-]{20,}$/, 'a real token from the signed-in page');
      // 127.0.0.1 on another port: another origin, but the same site (sites ignore ports), so the
      // SameSite=Lax cookie goes along. localhost: another site, so Chromium leaves the Lax cookie off
      // a cross-site POST (Lax sends it only on top-level GET navigations). Either way Chromium sends
      // `Origin: <attacker>`, and the demo's CSRF check refuses on that before looking at the token.
      const sites = [
        { name: 'same-site, cross-origin', origin: `http://127.0.0.1:${attacker.port}`, cookieSent: true },
        { name: 'cross-site', origin: `http://localhost:${attacker.port}`, cookieSent: false },
      ];
      for (const site of sites) {
        for (const token of [undefined, stolen]) {
          const label = `${site.name}, ${token === undefined ? 'no token' : 'stolen token'}`;
          const forge = new URL('/forge', site.origin);
          forge.searchParams.set('target', `${demo.url}/logout`);
          if (token !== undefined) forge.searchParams.set('token', token);
          const [response] = await Promise.all([
            page.waitForResponse((r) => r.url() === `${demo.url}/logout`),
            page.goto(forge.href),
          ]);
          await page.waitForURL(`${demo.url}/logout`, { waitUntil: 'load' });
          const request = response.request();
          assert.equal(request.method(), 'POST', label);
          assert.equal(await request.headerValue('origin'), site.origin, label);
          const cookieHeader = (await request.headerValue('cookie')) ?? '';
          assert.equal(cookieHeader.includes('lk='), site.cookieSent, `${label}: lk cookie sent?`);
          assert.equal(response.status(), 403, label);
          assert.equal(await response.text(), 'Forbidden: ERR_LATCHKEY_CSRF (cross-origin)\n', label);
          assert.match(await text(page, 'body'), /ERR_LATCHKEY_CSRF/, label);
        }
      }

      await page.goto(`${demo.url}/`);
      assert.equal(await text(page, '#username'), 'mallory-target', 'still signed in after the attacks');
    } finally {
      await context.close();
    }
  });

  test('a screenshot of the signed-in page is saved to test-artifacts/e2e/signed-in.png', {
    timeout: TIMEOUT,
  }, async () => {
    mkdirSync(join(root, 'test-artifacts', 'e2e'), { recursive: true });
    rmSync(SCREENSHOT, { force: true });
    const { context, page } = await signIn('ada');
    try {
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await context.close();
    }
    assert.ok(existsSync(SCREENSHOT), 'the screenshot file exists');
    const png = readFileSync(SCREENSHOT);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG magic');
    assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
    assert.ok(png.readUInt32BE(16) >= 320 && png.readUInt32BE(20) >= 200, 'a page-sized image');
    assert.ok(png.length > 10_000, `a non-trivial image: ${png.length} bytes`);
  });
});
