/**
 * What is accepted is kept (issue: silent loss): a value `set()` accepts and a commit writes always reads
 * back equal on the next request, in cookie mode and store mode; anything else fails loudly where it
 * enters (set throws TypeError) or at commit (ERR_LATCHKEY_TOO_LARGE). Never a quiet "no session".
 * fast-check runs a fixed seed and a random one; a failure prints the seed to replay.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_JSON_DEPTH } from '../../src/core/json.ts';
import { createSessions, type Sessions } from '../../src/core/sessions.ts';
import { MAX_STORE_SEALED_LENGTH } from '../../src/core/store-mode.ts';
import { generateKeyLine } from '../../src/crypto/keyring.ts';
import { memoryStore } from '../../src/stores/memory.ts';
import type { SessionStore } from '../../src/stores/types.ts';
import { CookieJar } from '../support/cookies.ts';

const keys = generateKeyLine('k1');
const modes = (): Array<[string, () => { sessions: Sessions; store?: SessionStore }]> => [
  ['cookie mode', () => ({ sessions: createSessions({ keys, cookie: { maxChunks: 10 } }) })],
  [
    'store mode',
    () => {
      const store = memoryStore();
      return { sessions: createSessions({ keys, store }), store };
    },
  ],
];

/** set → commit → a new request with the cookies: the value it reads, or the loud failure. */
async function roundTrip(sessions: Sessions, value: unknown, jar = new CookieJar()) {
  const session = await sessions.load({ headers: { cookie: jar.header() ?? '' } });
  try {
    session.set('v', value);
  } catch (error) {
    assert.ok(error instanceof TypeError, `set refuses with a TypeError, not ${String(error)}`);
    return { refused: 'set' as const };
  }
  if (session.userId === undefined) await session.login('u1');
  try {
    jar.apply(await sessions.commit(session));
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'ERR_LATCHKEY_TOO_LARGE', String(error));
    return { refused: 'commit' as const };
  }
  const next = await sessions.load({ headers: { cookie: jar.header() ?? '' } });
  assert.equal(next.userId, 'u1', 'an accepted write never signs the user out');
  // Read back as plain JSON (the reader hands out null-prototype objects).
  return { read: plain(next.get('v')) };
}

const plain = (value: unknown): unknown =>
  value === undefined ? undefined : JSON.parse(JSON.stringify(value));

const nest = (levels: number) => {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
};

for (const [mode, make] of modes()) {
  describe(`limits, ${mode}`, () => {
    test('a value nested as deep as set() allows reads back; one level more is refused by set()', async () => {
      const { sessions } = make();
      const deepest = nest(MAX_JSON_DEPTH);
      const kept = await roundTrip(sessions, deepest);
      assert.deepEqual(kept, { read: deepest });
      assert.deepEqual(await roundTrip(sessions, nest(MAX_JSON_DEPTH + 1)), { refused: 'set' });
    });

    test('a random JSON value either reads back equal or fails loudly (fast-check)', async () => {
      const seeds = [20261207, randomInt(2 ** 31)];
      for (const seed of seeds) {
        await fc
          .assert(
            fc.asyncProperty(
              fc.jsonValue({ maxDepth: MAX_JSON_DEPTH + 4, depthSize: 'large' }),
              async (value) => {
                const { sessions } = make();
                const result = await roundTrip(sessions, value);
                if ('read' in result) assert.deepEqual(result.read, plain(value));
              },
            ),
            { seed, numRuns: 60, endOnFailure: true },
          )
          .catch((error: unknown) => {
            throw new Error(`property failed with seed ${seed} (replay with this seed)`, { cause: error });
          });
      }
    });

    test('random sizes up to past the limit: kept or refused at commit, and the old session stays', async () => {
      const { sessions } = make();
      const jar = new CookieJar();
      assert.deepEqual(await roundTrip(sessions, 'first', jar), { read: 'first' });
      const cap = mode === 'cookie mode' ? 10 * 4096 : MAX_STORE_SEALED_LENGTH;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: Math.floor(cap * 0.9) }), async (length) => {
          const result = await roundTrip(sessions, 'x'.repeat(length), jar);
          if ('read' in result) assert.equal((result.read as string).length, length);
          else assert.equal(result.refused, 'commit');
        }),
        { seed: 7, numRuns: 12 },
      );
      // The 49,036-character value that store mode used to write and then refuse to read.
      const regression = await roundTrip(sessions, 'y'.repeat(49_036), jar);
      if (mode === 'store mode')
        assert.equal((regression as unknown as { read: string }).read.length, 49_036);
      else assert.deepEqual(regression, { refused: 'commit' });
    });
  });
}

test('store mode: a session over the record limit is refused at commit and the stored one stays readable', async () => {
  const store = memoryStore();
  const sessions = createSessions({ keys, store });
  const jar = new CookieJar();
  assert.deepEqual(await roundTrip(sessions, 'small', jar), { read: 'small' });
  assert.deepEqual(await roundTrip(sessions, 'z'.repeat(MAX_STORE_SEALED_LENGTH), jar), {
    refused: 'commit',
  });
  const again = await sessions.load({ headers: { cookie: jar.header() ?? '' } });
  assert.equal(again.get('v'), 'small');
});

test('store mode: an authenticated but unreadable record is deleted when met', async () => {
  const store = memoryStore();
  const sessions = createSessions({ keys, store });
  const jar = new CookieJar();
  await roundTrip(sessions, 'fine', jar);
  const [meta] = await store.listByUser('u1');
  const record = await store.get(meta!.storeKey);
  // The columns disagree with the sealed payload (a store-side edit): no session, and the record goes.
  await store.update(meta!.storeKey, { ...record!, createdAt: record!.createdAt - 1 }, record!.version);
  const next = await sessions.load({ headers: { cookie: jar.header() ?? '' } });
  assert.equal(next.userId, undefined);
  assert.equal(await store.get(meta!.storeKey), null, 'deleted, not left in the device list');
});
