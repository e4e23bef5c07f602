import assert from 'node:assert/strict';
import { createHash, createHmac, hkdfSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CookieJar } from '../../test/support/cookies.ts';
import { withSession } from '../adapters/fetch.ts';
import { createSessions } from '../core/sessions.ts';
import { createCsrf } from '../csrf/index.ts';
import { ConfigError } from '../errors.ts';
import { createKeyring } from './keyring.ts';
import { newNonce, randomBytes } from './random.ts';
import { openValue, openValueAsync, sealValue, sealValueAsync } from './seal.ts';
import { portableHkdfSha256, portableHmacSha256, portableSha256 } from './sha256-portable.ts';
import { xaesKey } from './xaes.ts';
import { webXaesKey } from './xaes-webcrypto.ts';
import { xchacha20poly1305 } from './xchacha.ts';

const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const utf8 = new TextEncoder();
const NONCE = utf8.encode('ABCDEFGHIJKLMNOPQRSTUVWX');

test('WebCrypto XAES-256-GCM: the c2sp.org vectors, and the same bytes as node:crypto on random inputs', async () => {
  const one = webXaesKey(new Uint8Array(32).fill(1));
  assert.equal(
    hex(await one.seal(NONCE, 'XAES-256-GCM')),
    'ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271',
  );
  const three = webXaesKey(new Uint8Array(32).fill(3));
  const aad = utf8.encode('c2sp.org/XAES-256-GCM');
  const sealed = await three.seal(NONCE, 'XAES-256-GCM', aad);
  assert.equal(hex(sealed), '986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d');
  assert.equal(new TextDecoder().decode(await three.open(NONCE, sealed, aad)), 'XAES-256-GCM');
  await assert.rejects(three.open(NONCE, sealed), { code: 'ERR_LATCHKEY_DECRYPT' });
  for (let i = 0; i < 200; i++) {
    const key = randomBytes(32);
    const nonce = newNonce();
    const plaintext = nodeRandomBytes(i);
    const data = nodeRandomBytes(i % 17);
    const web = await webXaesKey(key).seal(nonce, plaintext, data);
    assert.equal(hex(web), hex(xaesKey(key).seal(nonce, plaintext, data)));
    assert.equal(hex(xaesKey(key).open(nonce, web, data)), hex(plaintext));
    const flipped = web.slice();
    flipped[i % flipped.length]! ^= 1;
    await assert.rejects(webXaesKey(key).open(nonce, flipped, data), { code: 'ERR_LATCHKEY_DECRYPT' });
  }
});

test('XChaCha20-Poly1305 (sodium-native): draft-irtf-cfrg-xchacha-03 §A.3.1 vector', () => {
  const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = fromHex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const aad = fromHex('50515253c0c1c2c3c4c5c6c7');
  const plaintext = utf8.encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const sealed = xchacha20poly1305.seal(key, nonce, plaintext, aad);
  assert.equal(
    hex(sealed),
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216' +
      'cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b1' +
      '3b52e' +
      'c0875924c1c7987947deafd8780acf49',
  );
  assert.deepEqual(xchacha20poly1305.open(key, nonce, sealed, aad), plaintext);
  for (let bit = 0; bit < sealed.length * 8; bit += 7) {
    const flipped = sealed.slice();
    flipped[bit >> 3]! ^= 1 << (bit & 7);
    assert.throws(() => xchacha20poly1305.open(key, nonce, flipped, aad), { code: 'ERR_LATCHKEY_DECRYPT' });
  }
});

test('portable SHA-256, HMAC and HKDF equal node:crypto on random inputs (the path without node:crypto)', () => {
  assert.equal(
    hex(portableSha256(utf8.encode('abc'))),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  for (let n = 0; n < 300; n++) {
    const data = nodeRandomBytes(n);
    const key = nodeRandomBytes(n % 150);
    assert.equal(hex(portableSha256(data)), createHash('sha256').update(data).digest('hex'));
    assert.equal(hex(portableHmacSha256(key, data)), createHmac('sha256', key).update(data).digest('hex'));
    const length = 1 + ((n * 7) % 200);
    const salt = data.subarray(0, n % 40);
    const info = data.subarray(0, n % 13);
    assert.equal(
      hex(portableHkdfSha256(key, salt, info, length)),
      Buffer.from(hkdfSync('sha256', key, salt, info, length)).toString('hex'),
    );
  }
});

test('one sealed format on every backend: node and WebCrypto keyrings open each other, v2x opens beside v1', async () => {
  const entries = [{ kid: 'k1', key: randomBytes(32) }];
  const node = createKeyring(entries);
  const web = createKeyring(entries, { cryptoBackend: 'webcrypto' });
  const sodium = createKeyring(entries, { algorithm: 'xchacha20-poly1305' });
  assert.equal(node.synchronous, true);
  assert.equal(web.synchronous, false);
  assert.equal(sodium.synchronous, true);

  const fromNode = sealValue(node, 'cookie', 'sid', 'from node');
  const fromWeb = await sealValueAsync(web, 'cookie', 'sid', 'from web');
  const fromSodium = sealValue(sodium, 'cookie', 'sid', 'from sodium');
  assert.match(fromNode, /^v1\.k1\./);
  assert.match(fromWeb, /^v1\.k1\./);
  assert.match(fromSodium, /^v2x\.k1\./);
  const text = (result: { ok: boolean; plaintext?: Uint8Array }) =>
    result.ok ? new TextDecoder().decode(result.plaintext) : undefined;
  assert.equal(text(await openValueAsync(web, 'cookie', 'sid', fromNode)), 'from node');
  assert.equal(text(openValue(node, 'cookie', 'sid', fromWeb)), 'from web');
  assert.equal(text(await openValueAsync(web, 'cookie', 'sid', fromSodium)), 'from sodium');
  // An XAES keyring opens v2x values and calls them stale (resealed as v1), and the reverse.
  const v2x = openValue(node, 'cookie', 'sid', fromSodium);
  assert.equal(v2x.ok && v2x.stale, true);
  const v1 = openValue(sodium, 'cookie', 'sid', fromNode);
  assert.equal(v1.ok && v1.stale, true);
  // The version is bound: relabelling a v2x value as v1 (or back) does not open.
  assert.deepEqual(openValue(node, 'cookie', 'sid', fromSodium.replace(/^v2x/, 'v1')), {
    ok: false,
    reason: 'tampered',
  });
  assert.deepEqual(openValue(sodium, 'cookie', 'sid', fromNode.replace(/^v1/, 'v2x')), {
    ok: false,
    reason: 'tampered',
  });
  // WebCrypto has no synchronous path: the synchronous calls say so with a coded error.
  assert.throws(() => sealValue(web, 'cookie', 'sid', 'x'), ConfigError);
  assert.throws(() => openValue(web, 'cookie', 'sid', fromNode), ConfigError);
  assert.deepEqual(
    await openValueAsync(
      web,
      'cookie',
      'sid',
      `${fromWeb.slice(0, -6)}${fromWeb.at(-6) === 'A' ? 'B' : 'A'}${fromWeb.slice(-5)}`,
    ),
    {
      ok: false,
      reason: 'tampered',
    },
  );
});

test('store mode and revocation stores refuse WebCrypto-only crypto at construction (coded)', () => {
  assert.throws(
    () =>
      createSessions({
        keys: createKeyring([{ kid: 'k1', key: randomBytes(32) }], { cryptoBackend: 'webcrypto' }),
        store: {} as never,
      }),
    (err: unknown) => err instanceof ConfigError || (err as { code?: string }).code === 'ERR_LATCHKEY_CONFIG',
  );
  assert.throws(
    () => createKeyring([{ kid: 'k1', key: randomBytes(32) }], { cryptoBackend: 'bogus' as never }),
    ConfigError,
  );
});

test('cookie mode on WebCrypto takes the async route: latchkey/fetch counts across requests, CSRF works', async () => {
  const keyring = createKeyring([{ kid: 'k1', key: randomBytes(32) }], { cryptoBackend: 'webcrypto' });
  const sessions = createSessions<{ visits: number }>({ keys: keyring });
  const csrf = createCsrf();
  const handler = withSession(sessions, async (request, session) => {
    if (request.method === 'POST') {
      const refused = csrf.check(
        { method: request.method, header: (name) => request.headers.get(name) ?? undefined },
        session,
        undefined,
      );
      return new Response(refused ? refused.reason : 'ok', { status: refused ? 403 : 200 });
    }
    session.set('visits', (session.get('visits') ?? 0) + 1);
    return Response.json({ visits: session.get('visits'), token: csrf.token(session) });
  });
  const jar = new CookieJar();
  let token = '';
  for (let i = 1; i <= 3; i++) {
    const headers = new Headers();
    const cookie = jar.header();
    if (cookie) headers.set('cookie', cookie);
    const response = await handler(new Request('https://app.test/', { headers }));
    jar.apply(response.headers.getSetCookie());
    const body = (await response.json()) as { visits: number; token: string };
    assert.equal(body.visits, i);
    assert.match(response.headers.getSetCookie()[0] ?? '', /^__Host-lk=v1\.k1\./);
    token = body.token;
  }
  const post = (csrfToken: string) =>
    handler(
      new Request('https://app.test/', {
        method: 'POST',
        headers: {
          cookie: jar.header() ?? '',
          host: 'app.test',
          origin: 'https://app.test',
          'x-csrf-token': csrfToken,
        },
      }),
    );
  const accepted = await post(token);
  assert.equal(accepted.status, 200, await accepted.clone().text());
  // A changed character in the middle (the last one carries spare bits that decoding ignores).
  const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
  assert.equal((await post(flipped)).status, 403);
});
