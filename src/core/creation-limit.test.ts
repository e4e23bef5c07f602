import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CookieJar } from '../../test/support/cookies.ts';
import { countingStore } from '../../test/support/sessions.ts';
import { generateKeyLine } from '../crypto/keyring.ts';
import { CreationLimited, isLatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { clientKeyOf } from './client-address.ts';
import { CreationLimiter, resolveCreationLimit } from './creation-limit.ts';
import { createSessions, type SessionEvent, type SessionsOptions } from './index.ts';
import { parseAddress } from './network.ts';

const KEYS = generateKeyLine('k1');
type Data = { n: number };

function setup(options: Partial<SessionsOptions> = {}) {
  const clock = createFakeClock();
  const { store, calls } = countingStore(memoryStore({ clock, maxSessions: 100_000 }));
  const events: SessionEvent[] = [];
  const sessions = createSessions<Data>({
    keys: KEYS,
    clock,
    store,
    onEvent: (event) => events.push(event),
    ...options,
  });
  /** One cookieless request from `address` that puts something in its session. */
  const visit = async (address: string, headers: Record<string, string> = {}) => {
    const session = await sessions.load({ headers, socket: { remoteAddress: address, encrypted: true } });
    session.set('n', 1);
    try {
      return { lines: await sessions.commit(session) };
    } catch (error) {
      if (!isLatchkeyError(error, 'ERR_LATCHKEY_RATE_LIMITED')) throw error;
      return { refused: error as CreationLimited };
    }
  };
  const created = () => calls.filter((call) => call === 'create').length;
  return { clock, sessions, visit, created, events, calls };
}

describe('creationLimit (issue 14 §2, checklist #35)', () => {
  test('a flood from one client is held to the configured rate; nothing is written past it', async () => {
    const { clock, visit, created, events } = setup({
      creationLimit: { perClient: { count: 5, within: '1m' } },
    });
    let allowed = 0;
    let refused = 0;
    // 2,000 requests over 10 simulated minutes: one every 300 ms.
    for (let i = 0; i < 2000; i++) {
      const result = await visit('203.0.113.7');
      if (result.refused) {
        refused++;
        assert.equal(result.refused.status, 429);
        assert.ok(
          result.refused.retryAfter >= 1 && result.refused.retryAfter <= 12,
          `${result.refused.retryAfter}`,
        );
        assert.equal(result.refused.headers['retry-after'], String(result.refused.retryAfter));
      } else {
        allowed++;
        assert.equal(result.lines?.length, 1);
      }
      clock.advance(300);
    }
    // The burst (5) plus 5 a minute for 10 minutes: 55 at most; the bucket is never left unused.
    assert.ok(allowed <= 55 && allowed >= 54, `allowed ${allowed}`);
    assert.equal(created(), allowed, 'a refused creation writes nothing');
    assert.equal(refused, 2000 - allowed);
    assert.equal(events.filter((e) => e.type === 'creation-limited').length, refused);
    assert.ok(events.some((e) => e.type === 'creation-limited' && e.scope === 'client'));
  });

  test('another client is not held back by the flood; the overall limit holds all of them', async () => {
    const { visit, created } = setup({
      creationLimit: { perClient: { count: 3, within: '1h' }, overall: { count: 10, within: '1h' } },
    });
    for (let i = 0; i < 50; i++) await visit('198.51.100.1');
    assert.equal(created(), 3);
    assert.ok((await visit('198.51.100.2')).lines, 'a second client still gets a session');
    for (let i = 0; i < 100; i++) await visit(`192.0.2.${i}`);
    assert.equal(created(), 10, 'the overall limit');
    const late = await visit('192.0.2.200');
    assert.match(late.refused?.message ?? '', /too many sessions are being created/);
  });

  test('an IPv6 client counts by its /64; with trustProxy, the right-most X-Forwarded-For entry', async () => {
    const { visit, created } = setup({ creationLimit: { perClient: { count: 2, within: '1h' } } });
    for (let i = 1; i <= 10; i++) await visit(`2001:db8:1:2::${i.toString(16)}`);
    assert.equal(created(), 2);
    const proxied = setup({ trustProxy: true, creationLimit: { perClient: { count: 2, within: '1h' } } });
    for (let i = 0; i < 10; i++) {
      // The client writes what it likes on the left; the proxy appends the address it saw.
      await proxied.visit('10.0.0.1', { 'x-forwarded-for': `192.0.2.${i}, 203.0.113.9` });
    }
    assert.equal(proxied.created(), 2, 'one client behind the proxy, whatever it claims');
    for (let i = 0; i < 3; i++) await proxied.visit('10.0.0.1', { 'x-forwarded-for': `203.0.113.${i + 20}` });
    assert.equal(proxied.created(), 5, 'other clients behind the same proxy are apart');
  });

  test('a sign-in that replaces the visitor’s record is not a new session', async () => {
    const { sessions, visit, created } = setup({ creationLimit: { perClient: { count: 1, within: '1h' } } });
    const jar = new CookieJar();
    const request = async (act: (s: Awaited<ReturnType<typeof sessions.load>>) => unknown) => {
      const cookie = jar.header();
      const session = await sessions.load({
        headers: cookie ? { cookie } : {},
        socket: { remoteAddress: '203.0.113.5', encrypted: true },
      });
      await act(session);
      jar.apply(await sessions.commit(session));
      return session;
    };
    await request((s) => s.set('n', 1));
    assert.ok((await visit('203.0.113.5')).refused, 'the client is at its limit');
    await request((s) => s.login('ada'));
    const again = await request(() => {});
    assert.equal(again.userId, 'ada');
    assert.equal(created(), 2, 'one record, then its replacement');
  });

  test('memory stays bounded: at most `clients` buckets, the least recently used dropped', () => {
    const limiter = new CreationLimiter(
      resolveCreationLimit({ perClient: { count: 2, within: '1m', clients: 100 } })!,
      0,
    );
    for (let i = 0; i < 20_000; i++) limiter.take(`c${i}`, i);
    assert.equal(limiter.clientCount, 100);
    // The most recent client is still held; one dropped long ago starts afresh.
    assert.equal(limiter.take('c19999', 20_000), undefined);
    assert.equal(limiter.take('c19999', 20_000)?.scope, 'client');
    assert.equal(limiter.take('c0', 20_000), undefined);
  });

  test('without an address only the overall limit counts', async () => {
    const { sessions, created } = setup({
      creationLimit: { perClient: { count: 1, within: '1h' }, overall: { count: 3, within: '1h' } },
    });
    for (let i = 0; i < 5; i++) {
      const session = await sessions.load({ headers: {} });
      session.set('n', i);
      await sessions.commit(session).catch((error) => assert.ok(error instanceof CreationLimited));
    }
    assert.equal(created(), 3);
  });

  test('bad options are coded errors at start-up', () => {
    const store = memoryStore();
    const bad: unknown[] = [
      null,
      {},
      { perClient: { count: 0, within: '1m' } },
      { perClient: { count: 1.5, within: '1m' } },
      { perClient: { count: 5, within: '10ms' } },
      { perClient: { count: 5 } },
      { overall: { count: 5, within: 'soon' } },
      { perClient: { count: 5, within: '1m', clients: 0 } },
      { everyone: { count: 5, within: '1m' } },
    ];
    for (const creationLimit of bad) {
      assert.throws(
        () => createSessions({ keys: KEYS, store, creationLimit: creationLimit as never }),
        { code: 'ERR_LATCHKEY_CONFIG' },
        JSON.stringify(creationLimit),
      );
    }
    assert.throws(
      () => createSessions({ keys: KEYS, creationLimit: { overall: { count: 1, within: '1m' } } }),
      {
        code: 'ERR_LATCHKEY_CONFIG',
        message: /store mode/,
      },
    );
  });

  test('client keys', () => {
    assert.equal(clientKeyOf('203.0.113.7'), '203.0.113.7');
    assert.equal(clientKeyOf('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(clientKeyOf('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientKeyOf('2001:0db8:0000:0000:ffff::1'), '2001:db8:0:0::/64');
    assert.equal(clientKeyOf('[2001:db8:a:b:c:d:e:f]'), '2001:db8:a:b::/64');
    assert.equal(clientKeyOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientKeyOf('::1'), '0:0:0:0::/64');
    // The signals' parser (network.ts): an IPv4 tail is read, a malformed IPv4 address is none.
    assert.equal(clientKeyOf('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.equal(clientKeyOf(' 2001:DB8::1 '), '2001:db8:0:0::/64');
    const junk = [undefined, '', 'localhost', '1:2:3', '1::2::3', 'g::1', '1:2:3:4:5:6:7:8:9'];
    for (const bad of [...junk, '999.1.1.1', '01.2.3.4', '1.2.3', '::ffff:300.1.1.1', '1:2:3:4:5:6:7::8']) {
      assert.equal(clientKeyOf(bad), undefined, String(bad));
    }
  });

  test('one parser: the creation limit and the network signal read every address alike', () => {
    const addresses = ['203.0.113.7', '::ffff:203.0.113.7', '2001:db8::1', 'fe80::1%eth0', '[::1]', '1.2.3'];
    for (const address of addresses) {
      const bytes = parseAddress(address);
      assert.equal(clientKeyOf(address) === undefined, bytes === undefined, address);
      if (bytes?.length === 4) assert.equal(clientKeyOf(address), bytes.join('.'));
    }
  });
});
