import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateKeyLine } from '../crypto/keyring.ts';
import { newToken } from '../crypto/random.ts';
import { LatchkeyError } from '../errors.ts';
import { memoryStore } from '../stores/memory.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import type { SessionEvent } from './events.ts';
import { networkOf, parseAddress } from './network.ts';
import { createSessions, type SessionsOptions } from './sessions.ts';
import { resolveSignals, Signals } from './signals.ts';

const KEYS = generateKeyLine('k1');
const FIREFOX_120 = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
const FIREFOX_121 = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';

function harness(options: SessionsOptions) {
  const events: SessionEvent[] = [];
  const clock = createFakeClock(Date.now());
  const sessions = createSessions({
    keys: KEYS,
    clock,
    onEvent: (event) => events.push(event),
    ...options,
  });
  let cookie: string | undefined;
  /** One request from a node-style client (socket address, User-Agent), through the jar. */
  const request = async (
    from: { address?: string; userAgent?: string; forwardedFor?: string },
    act?: (session: Awaited<ReturnType<typeof sessions.load>>) => unknown,
  ) => {
    const headers: Record<string, string> = {};
    if (cookie) headers.cookie = cookie;
    if (from.userAgent) headers['user-agent'] = from.userAgent;
    if (from.forwardedFor) headers['x-forwarded-for'] = from.forwardedFor;
    const session = await sessions.load({
      headers,
      socket: { remoteAddress: from.address, encrypted: true },
    });
    await act?.(session);
    for (const line of await sessions.commit(session)) {
      const pair = line.split(';')[0]!;
      if (pair.startsWith('__Host-lk=')) cookie = line.includes('Max-Age=0') ? undefined : pair;
    }
    return session;
  };
  const of = (type: SessionEvent['type']) => events.filter((event) => event.type === type);
  return { sessions, events, clock, request, of };
}

describe('signals', () => {
  test('user-agent-changed: a browser family change is a signal, a version bump is not', async () => {
    const { request, of } = harness({ store: memoryStore(), signals: { userAgent: true } });
    await request({ userAgent: FIREFOX_120 }, (session) => session.login('ada'));
    await request({ userAgent: FIREFOX_121 });
    assert.deepEqual(of('user-agent-changed'), []);
    const session = await request({ userAgent: CHROME });
    assert.equal(session.userId, 'ada', 'a signal only: the session goes on');
    assert.deepEqual(
      of('user-agent-changed').map(({ from, to }: SessionEvent & { from?: string; to?: string }) => [
        from,
        to,
      ]),
      [['Firefox on Linux', 'Chrome on Linux']],
    );
  });

  test('network-changed: at the configured prefix, remembered with the record', async () => {
    const { request, of } = harness({ store: memoryStore(), signals: { network: { ipv4: 24, ipv6: 48 } } });
    await request({ address: '203.0.113.5' }, (session) => session.login('bo'));
    await request({ address: '203.0.113.77' }); // same /24
    await request({ address: '::ffff:203.0.113.9' }); // the same client through a dual-stack socket
    assert.deepEqual(of('network-changed'), []);
    await request({ address: '198.51.100.1' });
    await request({ address: '198.51.100.200' }); // the new network is the session's now
    await request({ address: '2001:db8:1:2::1' });
    await request({ address: '2001:db8:1:ffff::7' }); // same /48
    await request({ address: '2001:db8:2::1' });
    assert.deepEqual(
      of('network-changed').map((event) => (event as { network: string }).network),
      ['198.51.100.0/24', '2001:db8:1:0:0:0:0:0/48', '2001:db8:2:0:0:0:0:0/48'],
    );
  });

  test('network: the X-Forwarded-For entry counts only with trustProxy', async () => {
    const trusted = harness({ store: memoryStore(), trustProxy: true, signals: { network: true } });
    await trusted.request({ address: '10.0.0.1', forwardedFor: '203.0.113.5' }, (s) => s.login('cy'));
    await trusted.request({ address: '10.0.0.1', forwardedFor: '1.2.3.4, 198.51.100.1' });
    assert.equal(trusted.of('network-changed').length, 1);
    const direct = harness({ store: memoryStore(), signals: { network: true } });
    await direct.request({ address: '10.0.0.1', forwardedFor: '203.0.113.5' }, (s) => s.login('cy'));
    await direct.request({ address: '10.0.0.1', forwardedFor: '198.51.100.1' });
    assert.equal(direct.of('network-changed').length, 0, 'a client cannot pick its network');
  });

  for (const mode of ['store', 'cookie'] as const) {
    test(`${mode} mode: 1000 bad tokens from one network trigger one burst event (checklist #62)`, async () => {
      const { sessions, of, clock } = harness({
        ...(mode === 'store' && { store: memoryStore() }),
        signals: { invalidBurst: { count: 1000, within: '1m' } },
      });
      const bad = (address: string) =>
        sessions.load({
          headers: { cookie: `__Host-lk=${mode === 'store' ? newToken() : 'v1.k1.AAAA'}` },
          socket: { remoteAddress: address, encrypted: true },
        });
      for (let i = 0; i < 999; i++) await bad(`192.0.2.${i % 250}`);
      for (let i = 0; i < 999; i++) await bad('198.51.100.7');
      assert.deepEqual(of('burst'), []);
      await bad('192.0.2.1');
      assert.deepEqual(of('burst'), [
        { type: 'burst', count: 1000, within: 60_000, network: '192.0.2.0/24', at: clock.now() },
      ]);
      for (let i = 0; i < 100; i++) await bad('192.0.2.1');
      assert.equal(of('burst').length, 1, 'once per window');
      clock.advance('61s');
      await bad('198.51.100.7'); // a new window for that network: 1, not 1000
      assert.equal(of('burst').length, 1);
    });
  }

  test('burst counters are bounded: the oldest network goes first', () => {
    const events: SessionEvent[] = [];
    const signals = new Signals(
      resolveSignals({ invalidBurst: { count: 3, within: '1m', clients: 100 } }, true)!,
      (e) => events.push(e),
    );
    for (let i = 0; i < 10_000; i++) signals.rejected(`10.${(i >> 8) & 255}.${i & 255}.1`, 0);
    assert.equal(signals.trackedClients, 100);
    assert.deepEqual(events, []);
  });

  test('bad signals options are coded config errors', () => {
    const coded = (error: unknown) => error instanceof LatchkeyError && error.code === 'ERR_LATCHKEY_CONFIG';
    for (const bad of [
      'yes',
      { userAgent: 'yes' },
      { network: { ipv4: 33 } },
      { network: { ipv6: 0 } },
      { network: { v4: 24 } },
      { invalidBurst: { count: 0, within: '1m' } },
      { invalidBurst: { count: 10, within: '10ms' } },
      { invalidBurst: { count: 10 } },
      { burst: true },
    ]) {
      assert.throws(
        () => createSessions({ keys: KEYS, store: memoryStore(), signals: bad as never }),
        coded,
        JSON.stringify(bad),
      );
    }
    // Cookie mode keeps no device label or network: asking for those signals there is a mistake.
    assert.throws(() => createSessions({ keys: KEYS, signals: { userAgent: true } }), coded);
    assert.throws(() => createSessions({ keys: KEYS, signals: { network: true } }), coded);
    createSessions({ keys: KEYS, signals: { invalidBurst: { count: 10, within: '1m' } } });
  });
});

describe('client addresses', () => {
  test('parse IPv4, IPv6 (compressed, with an IPv4 tail, zone, brackets) and refuse junk', () => {
    assert.deepEqual(parseAddress('192.0.2.1'), [192, 0, 2, 1]);
    assert.deepEqual(parseAddress('::ffff:192.0.2.1'), [192, 0, 2, 1]);
    assert.deepEqual(parseAddress('[::1]'), [...new Array(15).fill(0), 1]);
    assert.deepEqual(parseAddress('fe80::1%eth0')?.slice(0, 2), [0xfe, 0x80]);
    assert.deepEqual(parseAddress('64:ff9b::192.0.2.1')?.slice(12), [192, 0, 2, 1]);
    for (const junk of [
      '',
      '1.2.3',
      '256.1.1.1',
      '01.2.3.4',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      'x',
      '::g',
      42,
    ]) {
      assert.equal(parseAddress(junk), undefined, String(junk));
    }
    assert.equal(networkOf('203.0.113.99', { ipv4: 24, ipv6: 48 })?.text, '203.0.113.0/24');
    assert.equal(networkOf('203.0.113.99', { ipv4: 20, ipv6: 48 })?.text, '203.0.112.0/20');
    const id = networkOf('2001:db8::1', { ipv4: 24, ipv6: 64 })!.id;
    assert.ok(Number.isSafeInteger(id) && id >= 0);
  });
});
