import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieJar } from '../../test/support/cookies.ts';
import type { Session } from '../core/session.ts';
import { createSessions, type Sessions } from '../core/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { LatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { type CsrfOptions, type CsrfRequest, createCsrf, csrfForbiddenBody } from './index.ts';

const keys = generateKeyLine('k1');

function post(
  headers: Record<string, string> = {},
  transport: 'https' | 'http' | 'unknown' = 'https',
): CsrfRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const secure = transport === 'unknown' ? undefined : transport === 'https';
  return { method: 'POST', header: (name) => lower[name], secure };
}

const ownOrigin = { host: 'app.test', origin: 'https://app.test' };

/** Load, let `change` act, commit, and carry the cookie on: one request of a browser. */
async function roundTrip(
  sessions: Sessions,
  jar: CookieJar,
  change: (session: Session) => void | Promise<void>,
): Promise<Session> {
  const session = await sessions.load(jar.header() ?? '', { secure: true });
  await change(session);
  jar.apply(await sessions.commit(session));
  return session;
}

describe('latchkey/csrf: tokens (checklist #59)', () => {
  const csrf = createCsrf();

  test('a token is different on every render, and every one of them is accepted', async () => {
    const session = await createSessions({ keys }).load(undefined);
    const tokens = new Set(Array.from({ length: 50 }, () => csrf.token(session)));
    assert.equal(tokens.size, 50, 'masked afresh each time (BREACH)');
    for (const token of tokens) {
      assert.match(token, /^[A-Za-z0-9_-]{86}$/);
      assert.equal(csrf.check(post({ ...ownOrigin, 'x-csrf-token': token }), session), undefined);
    }
  });

  test('a missing token, a tampered token and another session’s token are refused with their reason', async () => {
    const sessions = createSessions({ keys });
    const mine = await sessions.load(undefined);
    const theirs = await sessions.load(undefined);
    const token = csrf.token(mine);
    const reason = (session: Session, headers: Record<string, string>, form?: string) =>
      csrf.check(post({ ...ownOrigin, ...headers }), session, form)?.reason;
    assert.equal(reason(mine, {}), 'token-missing');
    assert.equal(reason(mine, { 'x-csrf-token': '' }), 'token-missing');
    assert.equal(reason(theirs, { 'x-csrf-token': token }), 'token-invalid', 'no secret yet');
    csrf.token(theirs);
    assert.equal(reason(theirs, { 'x-csrf-token': token }), 'token-invalid', 'a different secret');
    for (let i = 0; i < token.length; i += 7) {
      const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      assert.equal(reason(mine, { 'x-csrf-token': flipped }), 'token-invalid', `changed at ${i}`);
    }
    assert.equal(reason(mine, { 'x-csrf-token': `${token}A` }), 'token-invalid');
    assert.equal(reason(mine, { 'x-csrf-token': token.slice(0, 43) }), 'token-invalid');
    assert.equal(reason(mine, {}, token), undefined, 'the form field is read when there is no header');
    assert.equal(reason(mine, { 'x-csrf-token': 'bad' }, token), 'token-invalid', 'the header wins');
  });

  test('an empty token header does not hide the form field’s token', async () => {
    const csrf = createCsrf();
    const session = await createSessions({ keys }).load(undefined);
    const token = csrf.token(session);
    assert.equal(csrf.check(post({ ...ownOrigin, 'x-csrf-token': '' }), session, token), undefined);
    assert.equal(csrf.check(post({ ...ownOrigin, 'x-csrf-token': '' }), session)?.reason, 'token-missing');
  });

  test('GET, HEAD, OPTIONS and TRACE are not checked; every other method is', async () => {
    const session = await createSessions({ keys }).load(undefined);
    for (const method of ['GET', 'head', 'OPTIONS', 'TRACE']) {
      assert.equal(csrf.check({ method, header: () => undefined }, session), undefined, method);
    }
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'put', 'PROPFIND']) {
      assert.equal(csrf.check({ method, header: () => undefined }, session)?.reason, 'token-missing', method);
    }
  });

  test('the secret travels sealed with the session in both modes, and sign-in makes a new one', async () => {
    for (const store of [undefined, memoryStore()]) {
      const sessions = createSessions({ keys, ...(store ? { store } : {}) });
      const jar = new CookieJar();
      let token = '';
      await roundTrip(sessions, jar, (session) => {
        assert.equal(session.isNew, true);
        token = csrf.token(session);
      });
      assert.ok(jar.header(), 'a session holding only a CSRF secret still gets a cookie');
      const next = await roundTrip(sessions, jar, (session) => {
        assert.equal(csrf.check(post({ ...ownOrigin, 'x-csrf-token': token }), session), undefined);
      });
      // Store mode keeps a secret alone in a sealed cookie, not a record: still no session (checklist #35).
      assert.equal(next.isNew, store !== undefined);
      await roundTrip(sessions, jar, async (session) => {
        await session.login('ada');
        const refused = csrf.check(post({ ...ownOrigin, 'x-csrf-token': token }), session);
        assert.equal(refused?.reason, 'token-invalid', 'a pre-login token dies at sign-in');
        token = csrf.token(session);
      });
      await roundTrip(sessions, jar, async (session) => {
        assert.equal(csrf.check(post({ ...ownOrigin, 'x-csrf-token': token }), session), undefined);
        await session.destroy();
        assert.equal(
          csrf.check(post({ ...ownOrigin, 'x-csrf-token': token }), session)?.reason,
          'token-invalid',
        );
      });
    }
  });
});

describe('latchkey/csrf: origin (checklist #59: a cross-site POST with a valid cookie gets 403)', () => {
  test('Origin from elsewhere, or null, is refused even with a valid token', async () => {
    const csrf = createCsrf();
    const session = await createSessions({ keys }).load(undefined);
    const token = csrf.token(session);
    const check = (headers: Record<string, string>, transport?: 'https' | 'http' | 'unknown') =>
      csrf.check(post({ host: 'app.test', 'x-csrf-token': token, ...headers }, transport), session)?.reason;
    assert.equal(check({ origin: 'https://evil.test' }), 'cross-origin');
    assert.equal(check({ origin: 'https://app.test.evil.test' }), 'cross-origin');
    assert.equal(check({ origin: 'https://sub.app.test' }), 'cross-origin');
    assert.equal(check({ origin: 'null' }), 'cross-origin');
    for (const site of ['cross-site', 'same-site', 'none']) {
      assert.equal(check({ origin: 'null', 'sec-fetch-site': site }), 'cross-origin', `null and ${site}`);
    }
    // What Chromium sends for a same-origin form under `Referrer-Policy: no-referrer` (helmet's default).
    assert.equal(check({ origin: 'null', 'sec-fetch-site': 'same-origin' }), undefined);
    assert.equal(check({ origin: 'http://app.test' }, 'https'), 'cross-origin', 'http page posting to https');
    assert.equal(check({ origin: 'https://app.test:8443' }), 'cross-origin');
    assert.equal(check({ origin: 'https://app.test' }), undefined);
    assert.equal(check({ origin: 'https://APP.test', host: 'app.test:443' }), undefined, 'normalised');
    assert.equal(check({ origin: 'http://127.0.0.1:3000', host: '127.0.0.1:3000' }, 'http'), undefined);
    assert.equal(
      check({ origin: 'http://app.test', host: 'app.test' }, 'unknown'),
      undefined,
      'unknown scheme',
    );
  });

  test('without Origin, Sec-Fetch-Site decides: cross-site and same-site are refused', async () => {
    const csrf = createCsrf();
    const lenient = createCsrf({ allowSameSite: true });
    const session = await createSessions({ keys }).load(undefined);
    const token = csrf.token(session);
    const check = (c: typeof csrf, site: string) =>
      c.check(post({ host: 'app.test', 'x-csrf-token': token, 'sec-fetch-site': site }), session)?.reason;
    assert.equal(check(csrf, 'cross-site'), 'cross-origin');
    assert.equal(check(csrf, 'same-site'), 'cross-origin');
    assert.equal(check(lenient, 'same-site'), undefined);
    assert.equal(check(lenient, 'cross-site'), 'cross-origin');
    assert.equal(check(csrf, 'same-origin'), undefined);
    assert.equal(check(csrf, 'none'), undefined);
  });

  test('allowedOrigins lets a named origin in; trustProxy takes the origin from X-Forwarded-*', async () => {
    const session = await createSessions({ keys }).load(undefined);
    const allowing = createCsrf({ allowedOrigins: ['https://admin.test'] });
    const token = allowing.token(session);
    const headers = { host: 'app.test', 'x-csrf-token': token, 'sec-fetch-site': 'cross-site' };
    assert.equal(allowing.check(post({ ...headers, origin: 'https://admin.test' }), session), undefined);
    assert.equal(
      allowing.check(post({ ...headers, origin: 'https://other.test' }), session)?.reason,
      'cross-origin',
    );

    const proxied = { host: 'internal:8080', 'x-forwarded-host': 'app.test', 'x-forwarded-proto': 'https' };
    const request = post({ ...proxied, origin: 'https://app.test', 'x-csrf-token': token }, 'http');
    assert.equal(createCsrf().check(request, session)?.reason, 'cross-origin', 'forwarded headers ignored');
    assert.equal(createCsrf({ trustProxy: true }).check(request, session), undefined);
    // The right-most entry is the one the nearest proxy wrote; a client can prepend its own.
    const spoofed = { ...proxied, 'x-forwarded-host': 'app.test, evil.test', origin: 'https://app.test' };
    const appended = { ...proxied, 'x-forwarded-host': 'evil.test, app.test', origin: 'https://app.test' };
    const trusting = createCsrf({ trustProxy: true });
    assert.equal(
      trusting.check(post({ ...spoofed, 'x-csrf-token': token }, 'http'), session)?.reason,
      'cross-origin',
    );
    assert.equal(trusting.check(post({ ...appended, 'x-csrf-token': token }, 'http'), session), undefined);
  });

  test('requireToken: false checks the origin only', async () => {
    const csrf = createCsrf({ requireToken: false });
    const session = await createSessions({ keys }).load(undefined);
    assert.equal(csrf.check(post({ host: 'app.test', origin: 'https://app.test' }), session), undefined);
    assert.equal(
      csrf.check(post({ host: 'app.test', origin: 'https://evil.test' }), session)?.reason,
      'cross-origin',
    );
  });

  test('the 403 body names the code and reason only', async () => {
    const session = await createSessions({ keys }).load(undefined);
    const error = createCsrf().check(post({ host: 'a.test' }), session);
    assert.ok(error instanceof LatchkeyError);
    assert.equal(error.code, 'ERR_LATCHKEY_CSRF');
    assert.equal(error.status, 403);
    assert.equal(csrfForbiddenBody(error), 'Forbidden: ERR_LATCHKEY_CSRF (token-missing)\n');
  });

  test('bad options are coded configuration errors', () => {
    for (const options of [
      { allowedOrigins: ['https://a.test/path'] },
      { allowedOrigins: ['a.test'] },
      { allowedOrigins: ['ftp://a.test'] },
      { allowedOrigins: ['https://a.test/'] },
      { headerName: 'X Token' },
      { fieldName: '' },
      { allowedOrigins: 'https://a.test' }, // a string, not a list: once a bare TypeError
    ]) {
      assert.throws(
        () => createCsrf(options as CsrfOptions),
        { code: 'ERR_LATCHKEY_CONFIG' },
        JSON.stringify(options),
      );
    }
  });
});
