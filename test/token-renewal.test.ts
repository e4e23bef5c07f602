/**
 * Scheduled token renewal and stolen-token detection (checklist #27, issue 14 §3) on every real store:
 * a renewed token keeps working for its grace, then a replay of it ends the whole session; two tabs
 * racing a renewal both stay signed in, and their writes both land.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { createSessions } from '../src/core/sessions.ts';
import { generateKeyLine } from '../src/crypto/keyring.ts';
import { LatchkeyError } from '../src/errors.ts';
import { memoryStore } from '../src/stores/memory.ts';
import { mysqlStore } from '../src/stores/mysql.ts';
import type { SessionStore } from '../src/stores/types.ts';
import { createFakeClock } from '../src/testing/fake-clock.ts';
import { describeTokenRenewal } from '../src/testing/renewal-conformance.ts';
import { CookieJar } from './support/cookies.ts';
import { realStores } from './support/real-stores.ts';

const KEYS = generateKeyLine('k1');
const COOKIE = '__Host-lk';

// MariaDB too (real-stores.ts predates the mysql store): a table of its own, dropped at the end.
const pool = mysql.createPool({ host: '127.0.0.1', user: 'root', database: 'test', connectionLimit: 8 });
const mysqlTables: string[] = [];
after(async () => {
  for (const table of mysqlTables) await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
  await pool.end();
});
const stores: Array<[string, () => Promise<SessionStore>, { skip?: string }?]> = [
  ...realStores,
  [
    'mysql',
    async () => {
      const table = `lk_renew_${randomBytes(6).toString('hex')}`;
      mysqlTables.push(table);
      return mysqlStore({ client: pool, table });
    },
  ],
];

for (const [name, makeStore, options] of stores) {
  if (options?.skip) {
    describe(`${name} store: token renewal`, { skip: options.skip }, () => {});
    continue;
  }
  describeTokenRenewal(name, () => makeStore());
}

describe('renewal links', () => {
  test('a link opens only at the store key it was sealed for, and a session record is no link', async () => {
    const { linkRecord, openLink } = await import('../src/core/renewal.ts');
    const { parseKeyring } = await import('../src/crypto/keyring.ts');
    const { newStoreKey, sampleRecord } = await import('../src/testing/store-conformance.ts');
    const keyring = parseKeyring(KEYS);
    const [from, to, elsewhere] = [newStoreKey(), newStoreKey(), newStoreKey()];
    const now = Date.now();
    const link = linkRecord(keyring, from, { to, graceUntil: now + 30_000 }, sampleRecord(now), now);
    assert.deepEqual(openLink(keyring, from, link), { to, graceUntil: now + 30_000 });
    assert.equal(openLink(keyring, elsewhere, link), undefined, 'moved to another key (checklist #39)');
    assert.equal(openLink(parseKeyring(generateKeyLine('k1')), from, link), undefined, 'another key');
    assert.equal(openLink(keyring, from, sampleRecord(now)), undefined);
    assert.equal(link.userId, undefined, 'no device of its own');
  });
});

describe('tokenRenewal options', () => {
  const code = (error: unknown) => error instanceof LatchkeyError && error.code === 'ERR_LATCHKEY_CONFIG';
  test('off by default: no renewal, ever', async () => {
    const clock = createFakeClock(Date.now());
    const sessions = createSessions({ keys: KEYS, store: memoryStore(), clock });
    const jar = new CookieJar();
    const first = await sessions.load(undefined);
    await first.login('frank');
    jar.apply(await sessions.commit(first));
    const token = jar.get(COOKIE);
    for (let i = 0; i < 5; i++) {
      clock.advance('16m');
      const session = await sessions.load(jar.header());
      assert.equal(session.userId, 'frank');
      jar.apply(await sessions.commit(session));
    }
    assert.equal(jar.get(COOKIE), token);
  });
  test('refused with cookieCache, in cookie mode, and for a bad schedule', () => {
    const renewal = { every: '15m', grace: '30s' } as const;
    assert.throws(
      () =>
        createSessions({
          keys: KEYS,
          store: memoryStore(),
          cookieCache: { maxAge: '30s' },
          tokenRenewal: renewal,
        }),
      (error) => code(error) && /cookieCache/.test((error as Error).message),
    );
    assert.throws(() => createSessions({ keys: KEYS, tokenRenewal: renewal }), code);
    const store = memoryStore();
    for (const bad of [
      { every: '5s' },
      { every: '15m', grace: '10m' },
      { every: '15m', grace: '0s' },
      { every: '2d' },
      { every: '15m', after: '1m' },
      'often',
    ]) {
      assert.throws(
        () => createSessions({ keys: KEYS, store, tokenRenewal: bad as never }),
        code,
        JSON.stringify(bad),
      );
    }
  });
});
