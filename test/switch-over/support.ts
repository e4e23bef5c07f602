/**
 * What the switch-over tests share: an app on real HTTP (started, stopped), a browser-like cookie jar
 * over fetch, a tampered cookie, and Latchkey's Redis store under a prefix of its own (removed when the
 * file ends). Each test file runs one app's source twice: on the peer library, then on Latchkey with
 * only the line that registers the session middleware changed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { redisStore } from 'latchkey/stores/redis';
import { createClient } from 'redis';
import { CookieJar } from '../support/cookies.ts';

/** An app listening on 127.0.0.1: its base URL, and close() to stop it (the deploy). */
export interface Running {
  readonly url: string;
  close(): Promise<void>;
}

export async function listen(handler: RequestListener): Promise<Running> {
  const server: Server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** One response: status, JSON body (or null), and its Set-Cookie lines. */
export interface Reply {
  status: number;
  body: unknown;
  setCookie: string[];
}

/** GET `path` with the jar's cookies, then keep what the response sets in the jar (as a browser). */
export async function get(base: string, path: string, jar: CookieJar): Promise<Reply> {
  const cookie = jar.header();
  const response = await fetch(`${base}${path}`, {
    redirect: 'manual',
    headers: cookie === undefined ? {} : { cookie },
  });
  const text = await response.text();
  const setCookie = response.headers.getSetCookie();
  jar.apply(setCookie);
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body, setCookie };
}

/** The line setting `name` (not deleting it), or undefined. */
export function setLine(lines: readonly string[], name: string): string | undefined {
  return lines.find((line) => line.startsWith(`${name}=`) && !/;\s*Max-Age=0/i.test(line));
}

/** True when `lines` delete the cookie `name` (Max-Age=0, or an Expires in the past). */
export function expires(lines: readonly string[], name: string): boolean {
  return lines.some((line) => {
    if (!line.startsWith(`${name}=`)) return false;
    if (/;\s*Max-Age=0(;|$)/i.test(line)) return true;
    const expiresAt = /;\s*Expires=([^;]+)/i.exec(line)?.[1];
    return expiresAt !== undefined && Date.parse(expiresAt) <= Date.now();
  });
}

/** A copy of the jar with one character in the middle of `name`'s value changed. */
export function tampered(jar: CookieJar, name: string): CookieJar {
  const value = jar.get(name);
  assert.ok(value !== undefined && value.length > 4, `${name} is in the jar`);
  const i = Math.floor(value.length / 2);
  const flipped = value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
  const copy = new CookieJar();
  for (const cookieName of jar.names()) {
    copy.apply([`${cookieName}=${cookieName === name ? flipped : jar.get(cookieName)}`]);
  }
  return copy;
}

/** A copy of the jar (the browser's cookies at this moment). */
export function copyOf(jar: CookieJar): CookieJar {
  const copy = new CookieJar();
  for (const name of jar.names()) copy.apply([`${name}=${jar.get(name)}`]);
  return copy;
}

const redisClients: Array<ReturnType<typeof createClient>> = [];
const redisPrefixes: string[] = [];
after(async () => {
  for (const client of redisClients) {
    for (const prefix of redisPrefixes) {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(keys);
    }
    await client.quit();
  }
});

/** Latchkey's Redis store on 127.0.0.1:6379 under a fresh prefix, and a count of the keys it holds. */
export async function latchkeyRedis(): Promise<{
  store: ReturnType<typeof redisStore>;
  keyCount(): Promise<number>;
}> {
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  await client.connect();
  redisClients.push(client);
  const prefix = `lk-switch-${randomBytes(6).toString('hex')}:`;
  redisPrefixes.push(prefix);
  return {
    store: redisStore({ client, prefix }),
    keyCount: async () => (await client.keys(`${prefix}*`)).length,
  };
}

export { CookieJar };

/** The user the app signs in at `/login`, and what `/me` answers for them. */
export const SIGNED_IN = { user: 'user-42', theme: 'dark' };
export const SIGNED_OUT = { user: null, theme: null };

/** Latchkey's cookie name in the tests (`development: true`: plain HTTP on 127.0.0.1). */
export const LATCHKEY_COOKIE = 'lk';

export type LatchkeyStore = ReturnType<typeof redisStore>;

/**
 * The switch-over, for an app with three routes: `/login` signs `user-42` in and sets `theme`, `/me`
 * answers `{ user, theme }` (nulls when signed out), `/logout` signs out. `startPeer` runs the app on
 * the old library; `startLatchkey` runs the same app on Latchkey (with `store`: store mode).
 */
export function describeSwitchOver(options: {
  title: string;
  /** The old library's cookies (all of them are set at sign-in and expired at the switch). */
  oldNames: readonly string[];
  startPeer(): Promise<Running>;
  startLatchkey(store: LatchkeyStore | undefined): Promise<Running>;
}): void {
  const { oldNames } = options;

  /** Sign in on the old library, check it works there, stop it: the browser's jar. */
  async function signedInOnPeer(): Promise<CookieJar> {
    const peer = await options.startPeer();
    const jar = new CookieJar();
    try {
      const login = await get(peer.url, '/login', jar);
      assert.equal(login.status, 200, `sign-in on the peer: ${JSON.stringify(login.body)}`);
      for (const name of oldNames) assert.ok(jar.get(name), `the peer set ${name}`);
      const me = await get(peer.url, '/me', copyOf(jar));
      assert.deepEqual(me.body, SIGNED_IN, 'signed in on the peer');
    } finally {
      await peer.close();
    }
    return jar;
  }

  describe(`switch-over: ${options.title}`, () => {
    for (const mode of ['cookie', 'store'] as const) {
      test(`${mode} mode: still signed in with the data, Latchkey's cookie set and the old one expired in one response; then the new cookie alone`, async () => {
        const jar = await signedInOnPeer();
        const redis = mode === 'store' ? await latchkeyRedis() : undefined;
        const app = await options.startLatchkey(redis?.store);
        try {
          const first = await get(app.url, '/me', jar);
          assert.equal(first.status, 200);
          assert.deepEqual(first.body, SIGNED_IN, 'still signed in, with their data');
          assert.ok(setLine(first.setCookie, LATCHKEY_COOKIE), `Latchkey's cookie set: ${first.setCookie}`);
          for (const name of oldNames) {
            assert.ok(expires(first.setCookie, name), `${name} expired: ${first.setCookie}`);
          }
          assert.deepEqual(jar.names(), [LATCHKEY_COOKIE], 'the browser holds only the new cookie');
          if (redis !== undefined) assert.ok((await redis.keyCount()) > 0, 'the session is in Redis');

          const second = await get(app.url, '/me', jar);
          assert.deepEqual(second.body, SIGNED_IN, 'signed in with only the new cookie');
          for (const name of oldNames) {
            assert.ok(!second.setCookie.some((line) => line.startsWith(`${name}=`)), `${name} untouched`);
          }

          await get(app.url, '/logout', jar);
          assert.deepEqual((await get(app.url, '/me', jar)).body, SIGNED_OUT, 'signing out still works');
        } finally {
          await app.close();
        }
      });

      test(`${mode} mode: a tampered old cookie gets no session`, async () => {
        const jar = await signedInOnPeer();
        const redis = mode === 'store' ? await latchkeyRedis() : undefined;
        const app = await options.startLatchkey(redis?.store);
        try {
          for (const name of oldNames) {
            const forged = tampered(jar, name);
            const reply = await get(app.url, '/me', forged);
            assert.equal(reply.status, 200);
            assert.deepEqual(reply.body, SIGNED_OUT, `${name} tampered: no session`);
            assert.equal(setLine(reply.setCookie, LATCHKEY_COOKIE), undefined, 'no Latchkey cookie');
            assert.ok(!oldNames.some((old) => expires(reply.setCookie, old)), 'the old cookie left alone');
          }
          if (redis !== undefined) assert.equal(await redis.keyCount(), 0, 'nothing stored');
          // The untampered cookie still moves: the refusals changed nothing.
          assert.deepEqual((await get(app.url, '/me', jar)).body, SIGNED_IN);
        } finally {
          await app.close();
        }
      });
    }
  });
}
