/**
 * One behaviour everywhere: the same scenarios, over real HTTP, against every adapter, in cookie mode,
 * in cookie mode with a revocation store (which loads asynchronously) and in store mode. Each adapter supplies a small app (test/scenarios/apps/<adapter>.ts) with these
 * routes, all answering JSON unless said otherwise:
 *
 *   GET  /read                      → { isNew, data } and nothing else: it must not change the session
 *   POST /set?key=K&value=V          → sets data[K] = V (a string) → { ok: true }
 *   POST /login?user=U               → session.login(U)
 *   POST /regenerate                 → a new cookie value (a new token in store mode), the data kept
 *   POST /destroy                    → the session ended and its cookie cleared (with clearSiteData on,
 *                                      Clear-Site-Data: "cookies" too)
 *   POST /big                        → sets data.big to 200,000 characters (too large for cookies)
 *   POST /two-cookies                → sets the app's own cookie `app=1; Path=/` through the framework's
 *                                      own API, and sets data.two = 'yes'
 *
 * A failure the adapter reports (its onError hook, error handler or equivalent) must answer 500 with the
 * LatchkeyError code in the body, so this suite can see which error it was.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createSessions, type Sessions } from '../../src/core/sessions.ts';
import { generateKeyLine } from '../../src/crypto/keyring.ts';
import { createFakeClock } from '../../src/testing/fake-clock.ts';
import { type ScenarioMode, scenarioSessionsOptions } from './options.ts';

export type ScenarioData = Record<string, string>;

export interface ScenarioApp {
  /** Base URL, such as `http://127.0.0.1:41234`. */
  readonly url: string;
  close(): Promise<void>;
}

export type StartScenarioApp = (sessions: Sessions<ScenarioData>) => Promise<ScenarioApp>;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  setCookie: string[];
  body: string;
}

const COOKIE = 'lk';

function send(base: string, method: string, path: string, cookie?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (cookie) headers.cookie = cookie;
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          setCookie: res.headers['set-cookie'] ?? [],
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request written byte by byte, so that it can carry two `Cookie` header lines. */
function sendRaw(base: string, lines: string[]): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      // write, not end: a half-closed socket makes some servers (Deno's node:http) drop the request.
      socket.write(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

/** The session cookie's value from Set-Cookie lines; '' when it is cleared, undefined when not set. */
function sessionCookie(reply: Reply): string | undefined {
  for (const line of reply.setCookie) {
    if (!line.startsWith(`${COOKIE}=`)) continue;
    if (/;\s*Max-Age=0/i.test(line)) return '';
    return line.slice(COOKIE.length + 1, line.indexOf(';') === -1 ? undefined : line.indexOf(';'));
  }
  return undefined;
}

function json(reply: Reply): { isNew: boolean; data: Record<string, unknown> } {
  assert.equal(reply.status, 200, `expected 200, got ${reply.status}: ${reply.body.slice(0, 200)}`);
  return JSON.parse(reply.body) as { isNew: boolean; data: Record<string, unknown> };
}

export type { ScenarioMode } from './options.ts';

/** A running scenario app, and how to move its sessions' clock forward. */
export interface ScenarioSetup {
  app: ScenarioApp;
  advance(ms: number): void | Promise<void>;
}

/** The scenarios against an app in this process, with sessions made here on a fake clock. */
export function describeAdapterScenarios(name: string, start: StartScenarioApp): void {
  describeScenarios(name, async (mode) => {
    const clock = createFakeClock();
    const sessions = createSessions<ScenarioData>({
      keys: generateKeyLine('k1'),
      ...scenarioSessionsOptions(mode, clock),
    });
    return { app: await start(sessions), advance: (ms) => void clock.advance(ms) };
  });
}

/** The scenarios against apps that `setup` starts, anywhere (another process, another runtime). */
export function describeScenarios(
  name: string,
  setup: (mode: ScenarioMode) => Promise<ScenarioSetup>,
  options: {
    modes?: readonly ScenarioMode[];
    /**
     * false where the server folds two Cookie lines into one with ', ' before the app sees them
     * (workerd): Latchkey deliberately reads no cookie out of a comma-folded pair (src/cookie/parse.ts),
     * since a ',' in another cookie's value could otherwise smuggle in a `__Host-` cookie.
     */
    twoCookieLines?: boolean;
  } = {},
): void {
  for (const mode of options.modes ?? (['cookie', 'revocation', 'store'] as const)) {
    describe(`${name} adapter scenarios (${mode} mode)`, () => {
      let app: ScenarioApp;
      let base: string;
      let advance: (ms: number) => void | Promise<void>;
      before(async () => {
        ({ app, advance } = await setup(mode));
        base = app.url;
      });
      after(() => app.close());

      async function signedCookie(key = 'a', value = '1'): Promise<string> {
        const reply = await send(base, 'POST', `/set?key=${key}&value=${value}`);
        assert.equal(reply.status, 200, reply.body);
        const value1 = sessionCookie(reply);
        assert.ok(value1, 'setting a value sets the session cookie');
        return `${COOKIE}=${value1}`;
      }

      test('an anonymous request that changes nothing writes no cookie', async () => {
        const reply = await send(base, 'GET', '/read');
        assert.deepEqual(json(reply), { isNew: true, data: {} });
        assert.deepEqual(reply.setCookie, []);
      });

      test('set, then read it back on the next request, which writes nothing', async () => {
        const cookie = await signedCookie('colour', 'teal');
        const reply = await send(base, 'GET', '/read', cookie);
        assert.deepEqual(json(reply), { isNew: false, data: { colour: 'teal' } });
        assert.deepEqual(reply.setCookie, [], 'an unchanged session is not rewritten');
      });

      test('a response that sets the cookie says Cache-Control: no-store and Vary: Cookie', async () => {
        const reply = await send(base, 'POST', '/set?key=a&value=1');
        assert.ok(sessionCookie(reply));
        assert.match(String(reply.headers['cache-control']), /no-store/);
        assert.match(String(reply.headers.vary), /cookie/i);
        assert.equal(reply.headers['clear-site-data'], undefined, 'only a sign-out clears site data');
      });

      test('rolling renewal: a read after touchAfter renews the cookie, and the renewal keeps it alive', async () => {
        const cookie = await signedCookie('r', '1');
        await advance(6 * 60_000);
        const renewed = await send(base, 'GET', '/read', cookie);
        assert.deepEqual(json(renewed).data, { r: '1' });
        // Cookie mode renews by sending a resealed cookie; store mode renews the record on the server
        // and keeps the same (non-persistent) cookie.
        const value = mode !== 'store' ? sessionCookie(renewed) : cookie.slice(COOKIE.length + 1);
        assert.ok(value, 'a read after touchAfter sends a renewed cookie');
        await advance(26 * 60_000); // 32 min after sign-in, 26 min after the renewal: alive
        const later = await send(base, 'GET', '/read', `${COOKIE}=${value}`);
        assert.deepEqual(json(later), { isNew: false, data: { r: '1' } });
        await advance(31 * 60_000); // idle for longer than idleTimeout since the last renewal
        const idle = await send(base, 'GET', '/read', `${COOKIE}=${value}`);
        assert.equal(json(idle).isNew, true);
      });

      test('regenerate changes the cookie value and keeps the data', async () => {
        const cookie = await signedCookie('keep', 'me');
        const reply = await send(base, 'POST', '/regenerate', cookie);
        assert.equal(reply.status, 200, reply.body);
        const value = sessionCookie(reply);
        assert.ok(value);
        assert.notEqual(`${COOKIE}=${value}`, cookie);
        assert.deepEqual(json(await send(base, 'GET', '/read', `${COOKIE}=${value}`)).data, { keep: 'me' });
        if (mode === 'store') {
          const old = await send(base, 'GET', '/read', cookie);
          assert.equal(json(old).isNew, true, 'the old token no longer opens the session');
        }
      });

      test('destroy clears the cookie, and the next request starts empty', async () => {
        const cookie = await signedCookie('gone', 'soon');
        const reply = await send(base, 'POST', '/destroy', cookie);
        assert.equal(reply.status, 200, reply.body);
        assert.equal(sessionCookie(reply), '', 'the session cookie is cleared');
        assert.equal(reply.headers['clear-site-data'], '"cookies"', 'clearSiteData: true (checklist #58)');
        assert.deepEqual(json(await send(base, 'GET', '/read')), { isNew: true, data: {} });
        if (mode === 'store') {
          const replay = await send(base, 'GET', '/read', cookie);
          assert.deepEqual(json(replay), { isNew: true, data: {} }, 'the old token is dead');
        }
      });

      if (mode !== 'cookie') {
        test('a signed-in cookie copied before sign-out is refused after it', async () => {
          const login = await send(base, 'POST', '/login?user=alice');
          assert.equal(login.status, 200, login.body);
          const cookie = `${COOKIE}=${sessionCookie(login)}`;
          assert.equal(json(await send(base, 'GET', '/read', cookie)).isNew, false);
          const reply = await send(base, 'POST', '/destroy', cookie);
          assert.equal(reply.status, 200, reply.body);
          assert.deepEqual(json(await send(base, 'GET', '/read', cookie)), { isNew: true, data: {} });
        });
      }

      test('a tampered cookie gives a fresh, empty session', async () => {
        const cookie = await signedCookie('t', '1');
        const last = cookie.at(-2) === 'A' ? 'B' : 'A';
        const tampered = `${cookie.slice(0, -2)}${last}${cookie.at(-1)}`;
        const reply = await send(base, 'GET', '/read', tampered);
        assert.deepEqual(json(reply), { isNew: true, data: {} });
      });

      if (mode !== 'store') {
        test('a session too large for its cookies is a coded 500, and no cookie is sent', async () => {
          const reply = await send(base, 'POST', '/big');
          assert.equal(reply.status, 500);
          assert.match(reply.body, /ERR_LATCHKEY_TOO_LARGE/);
          assert.equal(sessionCookie(reply), undefined);
        });
      }

      test("the app's own Set-Cookie and the session's stay two separate header lines", async () => {
        const reply = await send(base, 'POST', '/two-cookies');
        assert.equal(reply.status, 200, reply.body);
        assert.ok(reply.setCookie.length >= 2, `two lines, got ${JSON.stringify(reply.setCookie)}`);
        assert.ok(reply.setCookie.some((line) => line.startsWith('app=1')));
        assert.ok(sessionCookie(reply));
        assert.ok(!reply.setCookie.some((line) => line.includes(', lk=') || line.includes(', app=')));
      });

      test('the session is found when the browser sends two Cookie header lines', {
        skip: options.twoCookieLines === false && 'the server folds them with ", "',
      }, async () => {
        const cookie = await signedCookie('two', 'lines');
        const { port } = new URL(base);
        const raw = await sendRaw(base, [
          'GET /read HTTP/1.1',
          `Host: 127.0.0.1:${port}`,
          'Cookie: other=1; theme=dark',
          `Cookie: ${cookie}`,
        ]);
        assert.match(raw, /^HTTP\/1\.1 200/);
        assert.match(raw, /"two":"lines"/);
      });
    });
  }
}
