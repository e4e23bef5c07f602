import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { generateKeyLine, parseKeyring } from '../crypto/keyring.ts';
import { sealValue } from '../crypto/seal.ts';
import { memoryStore } from '../stores/memory.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions, type SessionEvent } from './index.ts';

const K1 = generateKeyLine('k1');
const K2 = generateKeyLine('k2');
const NAME = '__Host-lk';

function make(keys: string, name = NAME) {
  const events: Array<SessionEvent & { at: number }> = [];
  const clock = createFakeClock();
  const sessions = createSessions<Record<string, unknown>>({
    keys,
    clock,
    cookie: { name },
    onEvent: (e) => events.push(e),
  });
  return { sessions, events, clock };
}

/** A valid sealed cookie value carrying ~200 bytes of data. */
/** A store-mode session with something in it, ready to commit. */
async function withData(sessions: ReturnType<typeof createSessions<Record<string, unknown>>>) {
  const session = await sessions.load(undefined);
  session.set('n', 1);
  return session;
}

async function issue(keys = K1, name = NAME): Promise<string> {
  const { sessions } = make(keys, name);
  const session = await sessions.load(undefined);
  session.set('user', { id: 42, name: 'Ada Lovelace', roles: ['admin', 'editor'], note: 'x'.repeat(120) });
  const [line] = await sessions.commit(session);
  return line!.slice(name.length + 1, line!.indexOf(';'));
}

describe('sealed cookie tampering', () => {
  test('checklist #36: every single-bit flip of the cookie value opens to no session, and JSON.parse is never reached', async () => {
    const value = await issue();
    const { sessions } = make(K1);
    const parse = JSON.parse;
    let parses = 0;
    JSON.parse = ((...args: Parameters<typeof JSON.parse>) => {
      parses++;
      return parse(...args);
    }) as typeof JSON.parse;
    try {
      let tried = 0;
      for (let i = 0; i < value.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const flipped =
            value.slice(0, i) + String.fromCharCode(value.charCodeAt(i) ^ (1 << bit)) + value.slice(i + 1);
          const session = await sessions.load(`${NAME}=${flipped}`);
          assert.equal(session.isNew, true, `bit ${bit} of char ${i}`);
          tried++;
        }
      }
      assert.equal(tried, value.length * 8);
      assert.equal(parses, 0, 'nothing tampered was ever parsed');
    } finally {
      JSON.parse = parse;
    }
    assert.equal((await sessions.load(`${NAME}=${value}`)).isNew, false, 'the untouched value still opens');
  });

  test('checklist #36: every truncation, and any appended text, opens to no session', async () => {
    const value = await issue();
    const { sessions } = make(K1);
    for (let end = 0; end < value.length; end++) {
      assert.equal(
        (await sessions.load(`${NAME}=${value.slice(0, end)}`)).isNew,
        true,
        `truncated at ${end}`,
      );
    }
    for (const suffix of ['x', 'A', '=', '==', '.', '~']) {
      assert.equal((await sessions.load(`${NAME}=${value}${suffix}`)).isNew, true, `value + ${suffix}`);
    }
  });

  test('checklist #48: any Cookie header whatsoever loads without throwing (property)', async () => {
    const value = await issue();
    const { sessions } = make(K1);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.string().map((s) => `${NAME}=${s}`),
          fc.nat({ max: value.length }).map((n) => `${NAME}=${value.slice(0, n)}; ${NAME}=${value.slice(n)}`),
          fc.constantFrom(`${NAME}="${value}"`, `$Version=1; ${NAME}=${value}; $Path=/`, `=${NAME}=${value}`),
        ),
        async (header) => {
          const session = await sessions.load(header);
          assert.equal(typeof session.isNew, 'boolean');
          await sessions.commit(session);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('checklist #39: a value moved to another cookie name does not open', async () => {
    const value = await issue(K1, '__Host-a');
    const { sessions, events } = make(K1, '__Host-b');
    assert.equal((await sessions.load(`__Host-b=${value}`)).isNew, true);
    assert.deepEqual(events, [{ type: 'invalid', reason: 'tampered', at: events[0]?.at }]);
    assert.equal((await make(K1, '__Host-a').sessions.load(`__Host-a=${value}`)).isNew, false);
  });

  test('checklist #39: a value sealed for another purpose (csrf, store) does not open as a cookie', async () => {
    const { sessions } = make(K1);
    const payload = new TextEncoder().encode(JSON.stringify({ v: 1, c: 0, a: 0, x: 9e12, d: {} }));
    for (const purpose of ['csrf', 'store']) {
      const sealed = sealValue(parseKeyring(K1), purpose, NAME, payload);
      assert.equal((await sessions.load(`${NAME}=${sealed}`)).isNew, true, purpose);
    }
  });

  test('checklist #42: k1 → [k2, k1] opens and is resealed with k2; [k2] alone refuses it', async () => {
    const value = await issue(K1);
    const rotated = make(`${K2},${K1}`);
    const session = await rotated.sessions.load(`${NAME}=${value}`);
    assert.equal(session.isNew, false);
    assert.deepEqual(
      rotated.events.map((e) => e.type === 'rotated' && [e.fromKid, e.toKid]),
      [['k1', 'k2']],
    );
    const [line] = await rotated.sessions.commit(session);
    assert.match(line ?? '', /^__Host-lk=v1\.k2\./, 'resealed on the same response');
    const removed = make(K2);
    assert.equal((await removed.sessions.load(`${NAME}=${value}`)).isNew, true);
    assert.equal(removed.events[0]?.type === 'invalid' && removed.events[0].reason, 'unknown-key');
  });

  test('checklist #47: a __proto__ payload cannot pollute, even when sealed with the right key', async () => {
    const { sessions } = make(K1);
    const now = createFakeClock().now();
    const text = `{"v":1,"c":${now},"a":${now},"x":${now + 3600_000},"d":{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}},"ok":{"__proto__":{"admin":true}}}}`;
    const sealed = sealValue(parseKeyring(K1), 'cookie', NAME, new TextEncoder().encode(text));
    const session = await sessions.load(`${NAME}=${sealed}`);
    assert.equal(session.isNew, false);
    assert.equal(session.get('admin'), undefined);
    assert.equal(Object.getPrototypeOf(session.data), null);
    assert.deepEqual(Object.keys(session.data), ['ok']);
    assert.equal(Object.getPrototypeOf(session.get('ok')), null);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.equal(Object.hasOwn(session.get('ok') as object, '__proto__'), false);
  });

  test('checklist #47: only the data fields are hardened; the root and its other fields cannot pollute either', async () => {
    const { sessions } = make(K1);
    const now = createFakeClock().now();
    const ring = parseKeyring(K1);
    const text = `{"__proto__":{"d":{"admin":true},"u":"root"},"v":1,"c":${now},"a":${now},"x":${now + 3600_000},"d":{"n":1},"f":{"__proto__":{"admin":true},"note":{"constructor":{"prototype":{"admin":true}}}}}`;
    const session = await sessions.load(
      `${NAME}=${sealValue(ring, 'cookie', NAME, new TextEncoder().encode(text))}`,
    );
    assert.equal(session.isNew, false);
    assert.deepEqual({ ...session.data }, { n: 1 });
    assert.equal(session.userId, undefined);
    const flash = (session as unknown as { _state: { flash: Record<string, unknown> } })._state.flash;
    assert.equal(Object.getPrototypeOf(flash), null);
    assert.deepEqual(Object.keys(flash), ['note']);
    assert.deepEqual(Object.keys(flash.note as object), []);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    // A flash nested past the cap is refused like data nested past it.
    const deep = `{"v":1,"c":${now},"a":${now},"x":${now + 1000},"d":{},"f":{"x":${'['.repeat(40)}${']'.repeat(40)}}}`;
    const refused = await sessions.load(
      `${NAME}=${sealValue(ring, 'cookie', NAME, new TextEncoder().encode(deep))}`,
    );
    assert.equal(refused.isNew, true);
  });

  test('checklist #47: payloads nested past the depth cap, or of the wrong shape (a malformed CSRF secret too), open to no session', async () => {
    const { sessions, events } = make(K1);
    const now = createFakeClock().now();
    const ring = parseKeyring(K1);
    const bad = [
      `{"v":1,"c":${now},"a":${now},"x":${now + 1000},"d":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      `{"v":2,"c":${now},"a":${now},"x":${now + 1000},"d":{}}`,
      `{"v":1,"c":"NaN","a":${now},"x":${now + 1000},"d":{}}`,
      `{"v":1,"c":-1,"a":${now},"x":${now + 1000},"d":{}}`,
      `{"v":1,"c":${now},"a":${now},"x":1e309,"d":{}}`,
      `{"v":1,"c":${now},"a":${now},"x":"0x10","d":{}}`,
      `{"v":1,"c":${now},"a":${now},"x":${now + 1000},"d":[]}`,
      `{"v":1,"c":${now},"a":${now},"x":${now + 1000},"d":{},"k":"short"}`,
      `{"v":1,"c":${now},"a":${now},"x":${now + 1000},"d":{},"k":${JSON.stringify(`${'A'.repeat(42)}=`)}}`,
      `{"v":1,"c":${now},"a":${now},"x":${now + 1000},"d":{},"k":{"0":1}}`,
      'not json',
    ];
    for (const text of bad) {
      const sealed = sealValue(ring, 'cookie', NAME, new TextEncoder().encode(text));
      assert.equal((await sessions.load(`${NAME}=${sealed}`)).isNew, true, text.slice(0, 40));
    }
    assert.ok(events.every((e) => e.type === 'invalid' && e.reason === 'payload'));
  });

  test('checklist #17: duplicates are each tried; exactly one valid is accepted, two valid are refused', async () => {
    const good = await issue();
    const other = await issue();
    const { sessions, events } = make(K1);
    for (const cookie of [
      `${NAME}=${good}; ${NAME}=evil`,
      `${NAME}=evil; ${NAME}=${good}`,
      [`${NAME}=evil`, `${NAME}=${good}`],
      [`${NAME}=${good}`, `${NAME}=evil`],
      [`${NAME}=${good}`, `${NAME}=${good}`],
    ]) {
      const session = await sessions.load({ headers: { cookie } });
      assert.equal(session.isNew, false, String(cookie));
    }
    for (const cookie of [
      `${NAME}=${good}; ${NAME}=${other}`,
      `${NAME}=${other}; ${NAME}=${good}`,
      [`${NAME}=${good}`, `${NAME}=${other}`],
    ]) {
      const tossed = await sessions.load({ headers: { cookie } });
      assert.equal(tossed.isNew, true, 'two different valid values: neither is trusted');
      const last = events.at(-1);
      assert.equal(last?.type === 'invalid' && last.reason, 'ambiguous');
    }
  });

  test('checklist #17, #62: a cookie hidden past the parse limits is anonymous, with an anomaly event, in both modes', async () => {
    const good = await issue();
    const { sessions, events } = make(K1);
    const store = createSessions<Record<string, unknown>>({
      keys: K1,
      store: memoryStore(),
      onEvent: (e) => events.push(e),
    });
    const token = (await store.commit(await withData(store)))[0]!.split(';')[0]!;
    const junk = (n: number, name: string) => Array.from({ length: n }, (_, i) => `${name}=j${i}`).join('; ');
    for (const [manager, cookie] of [
      [sessions, `${NAME}=${good}`],
      [store, token],
    ] as const) {
      for (const [header, reason] of [
        [`${cookie}; ${junk(8, NAME)}`, 'ambiguous'], // too many values of the session cookie
        [`${cookie}; ${junk(300, 'x')}`, 'ambiguous'], // too many pairs
        [`${cookie}; x=${'a'.repeat(40_000)}`, 'oversized'], // a header over 32 KB
      ] as const) {
        events.length = 0;
        const session = await manager.load({ headers: { cookie: header } });
        assert.equal(session.isNew, true, reason);
        assert.deepEqual(
          events.map((e) => e.type === 'invalid' && e.reason),
          [reason],
          `${manager.mode}: ${header.slice(0, 60)}`,
        );
      }
      events.length = 0;
      assert.equal((await manager.load({ headers: { cookie: `${cookie}; ${junk(7, NAME)}` } })).isNew, false);
      assert.deepEqual(events, [], 'within the limits: the valid one is found, quietly');
    }
  });

  test('checklist #18/#19/#20: case variants, unicode-padded, nameless and quoted cookies never match', async () => {
    const good = await issue();
    const { sessions } = make(K1);
    for (const header of [
      `__HOST-lk=${good}`,
      `__host-lk=${good}`,
      `\u2000${NAME}=${good}`,
      `\u00a0${NAME}=${good}`,
      `\u0085${NAME}=${good}`,
      `\ufeff${NAME}=${good}`,
      `=${NAME}=${good}`,
      `${NAME}="${good}"`,
      `$Version=1; ${NAME}="${good.slice(0, 10)};${good.slice(10)}"`,
    ]) {
      assert.equal((await sessions.load(header)).isNew, true, JSON.stringify(header.slice(0, 12)));
    }
  });

  test('checklist #12: a session too large for its cookies is a coded error at commit, never a dropped cookie', async () => {
    const { sessions, events } = make(K1);
    const session = await sessions.load(undefined);
    session.set('blob', 'x'.repeat(20_000));
    await assert.rejects(sessions.commit(session), { code: 'ERR_LATCHKEY_TOO_LARGE' });
    assert.equal(events.at(-1)?.type, 'too-large');
  });

  test('a large session is spread over chunk cookies and read back; shrinking it deletes the stale chunks', async () => {
    const { sessions } = make(K1);
    const session = await sessions.load(undefined);
    session.set('blob', 'y'.repeat(7000));
    const lines = await sessions.commit(session);
    assert.deepEqual(
      lines.map((l) => l.slice(0, l.indexOf('='))),
      ['__Host-lk', '__Host-lk.1', '__Host-lk.2'],
    );
    assert.ok(lines.every((l) => Buffer.byteLength(l) <= 4096));
    const header = lines.map((l) => l.slice(0, l.indexOf(';'))).join('; ');
    const again = await sessions.load(header);
    assert.equal(again.get('blob'), 'y'.repeat(7000));
    again.set('blob', 'small');
    const shrunk = await sessions.commit(again);
    assert.equal(shrunk.length, 3);
    assert.match(shrunk[0]!, /^__Host-lk=v1\./);
    assert.match(shrunk[1]!, /^__Host-lk\.1=; .*Max-Age=0/);
    assert.match(shrunk[2]!, /^__Host-lk\.2=; .*Max-Age=0/);
  });

  test('checklist #15: X-Forwarded-Proto counts only with trustProxy; no Secure cookie goes out over plain HTTP', async () => {
    const events: SessionEvent[] = [];
    const plain = createSessions({ keys: K1, onEvent: (e) => events.push(e) });
    const trusting = createSessions({ keys: K1, trustProxy: true });
    const forwarded = () => new Request('http://app.test/', { headers: { 'x-forwarded-proto': 'https' } });
    const s1 = await plain.load(forwarded());
    s1.set('a', 1);
    assert.deepEqual(await plain.commit(s1), []);
    assert.equal(events.at(-1)?.type, 'insecure-transport');
    const s2 = await trusting.load(forwarded());
    s2.set('a', 1);
    assert.equal((await trusting.commit(s2)).length, 1);
    const s3 = await plain.load(new Request('https://app.test/'));
    s3.set('a', 1);
    assert.equal((await plain.commit(s3)).length, 1);
  });

  test('checklist #61: events never carry the cookie value or key material', async () => {
    const value = await issue();
    const { sessions, events, clock } = make(`${K2},${K1}`);
    await sessions.load(`${NAME}=${value}`);
    await sessions.load(`${NAME}=${value}x`);
    clock.advance('2d');
    await sessions.load(`${NAME}=${value}`);
    assert.ok(events.length >= 3);
    const logged = JSON.stringify(events);
    for (const secret of [value, value.split('.')[2]!, K1.split(':')[1]!, K2.split(':')[1]!]) {
      assert.equal(logged.includes(secret), false);
    }
  });

  test('a throwing onEvent listener never breaks a request', async () => {
    const sessions = createSessions({
      keys: K1,
      onEvent: () => {
        throw new Error('listener bug');
      },
    });
    const session = await sessions.load(`${NAME}=garbage`);
    assert.equal(session.isNew, true);
  });
});
