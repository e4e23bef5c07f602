/**
 * Metrics and spans through the real @opentelemetry/api (the optional peer), with a minimal in-test
 * MeterProvider and TracerProvider registered through the API's global setters; and a child process
 * in which the package cannot be loaded, where everything still works and nothing is recorded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createNoopMeter, metrics, trace } from '@opentelemetry/api';
import { generateKeyLine } from '../crypto/keyring.ts';
import { newToken } from '../crypto/random.ts';
import { memoryStore } from '../stores/memory.ts';
import type { SessionStore } from '../stores/types.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { createSessions } from './sessions.ts';
import { instrumentStore, loadTelemetry } from './telemetry.ts';

const KEYS = generateKeyLine('k1');

type Point = { name: string; value: number; attributes: Record<string, unknown> };
const points: Point[] = [];
type Recorded = {
  name: string;
  kind: number | undefined;
  attributes: unknown;
  status?: number;
  ended: boolean;
};
const spans: Recorded[] = [];

const meterProvider = {
  getMeter: () => ({
    createCounter: (name: string) => ({
      add: (value: number, attributes: Record<string, unknown> = {}) =>
        points.push({ name, value, attributes }),
    }),
  }),
};
const tracerProvider = {
  getTracer: () => ({
    startSpan: () => {
      throw new Error('not used');
    },
    startActiveSpan(name: string, ...rest: unknown[]) {
      const fn = rest.at(-1) as (span: unknown) => unknown;
      const options = (rest.length > 1 ? rest[0] : {}) as { kind?: number; attributes?: unknown };
      const recorded: Recorded = { name, kind: options.kind, attributes: options.attributes, ended: false };
      spans.push(recorded);
      return fn({
        setStatus: (status: { code: number }) => {
          recorded.status = status.code;
        },
        end: () => {
          recorded.ended = true;
        },
      });
    },
  }),
};

const sum = (name: string, match: Record<string, unknown> = {}) =>
  points
    .filter((p) => p.name === name && Object.entries(match).every(([k, v]) => p.attributes[k] === v))
    .reduce((total, p) => total + p.value, 0);

describe('telemetry with @opentelemetry/api', () => {
  before(async () => {
    assert.equal(await loadTelemetry(), true);
    metrics.setGlobalMeterProvider(meterProvider as never);
    trace.setGlobalTracerProvider(tracerProvider as never);
  });
  after(() => {
    metrics.disable();
    trace.disable();
  });

  test('counters for loads, commits, invalid tokens, revocations and token reuse; a span per store call', async () => {
    points.length = 0;
    spans.length = 0;
    const clock = createFakeClock(Date.now());
    const sessions = createSessions({
      keys: KEYS,
      store: memoryStore(),
      clock,
      tokenRenewal: { every: '15m', grace: '30s' },
    });
    const first = await sessions.load(undefined);
    await first.login('ann');
    const cookie = (await sessions.commit(first))[0]!.split(';')[0]!;
    await sessions.load(`__Host-lk=${newToken()}`); // unknown: invalid
    clock.advance('16m');
    const renewed = await sessions.load(cookie);
    await sessions.commit(renewed);
    clock.advance('1m');
    await sessions.load(cookie); // the old token after its grace: reuse

    assert.equal(sum('latchkey.session.loads', { 'latchkey.mode': 'store' }), 4);
    assert.equal(sum('latchkey.session.loads', { 'latchkey.outcome': 'invalid' }), 2);
    assert.equal(sum('latchkey.session.commits', { 'latchkey.written': true }), 2);
    assert.equal(sum('latchkey.session.invalid', { 'latchkey.reason': 'unknown-session' }), 1);
    assert.equal(sum('latchkey.session.token_reuse'), 1);
    assert.equal(sum('latchkey.session.revocations', { 'latchkey.cause': 'token-reuse' }), 1);
    const names = new Set(spans.map((span) => span.name));
    for (const operation of ['create', 'get', 'update', 'delete'])
      assert.ok(names.has(`latchkey.store.${operation}`), operation);
    assert.ok(spans.every((span) => span.ended && span.kind === 2 && span.status === undefined));
    // Nothing that names a session or a user: only the operation.
    assert.ok(
      spans.every(
        (span) =>
          JSON.stringify(span.attributes) ===
          JSON.stringify({ 'latchkey.store.operation': span.name.slice(15) }),
      ),
    );
    assert.ok(points.every((p) => !JSON.stringify(p.attributes).includes('ann')));

    await sessions.revokeUserSessions('nobody');
    const other = await sessions.load(undefined);
    await other.login('ann');
    await sessions.commit(other);
    assert.equal(await sessions.revokeUserSessions('ann'), 1);
    assert.equal(sum('latchkey.session.revocations', { 'latchkey.cause': 'user' }), 1);
  });

  test('a failing store call ends its span with an error status', async () => {
    spans.length = 0;
    const real = memoryStore();
    const failing: SessionStore = Object.assign(Object.create(real), {
      get: () => Promise.reject(new Error('connection refused')),
    });
    const sessions = createSessions({ keys: KEYS, store: failing });
    await assert.rejects(sessions.load(`__Host-lk=${newToken()}`), {
      code: 'ERR_LATCHKEY_STORE_UNAVAILABLE',
    });
    assert.deepEqual(
      spans.map((span) => [span.name, span.status, span.ended]),
      [['latchkey.store.get', 2, true]],
    );
  });
});

test("with the API but no SDK registered: no counter is made, a store call is the store's own; an SDK registered later is used", async () => {
  assert.equal(await loadTelemetry(), true);
  metrics.disable();
  trace.disable();
  // The API's no-op meter: a count must not even make its counters.
  const noop = createNoopMeter() as unknown as { createCounter: (...args: unknown[]) => unknown };
  const createCounter = noop.createCounter;
  let made = 0;
  noop.createCounter = (...args: unknown[]) => {
    made += 1;
    return createCounter.apply(noop, args);
  };
  try {
    const sessions = createSessions({ keys: KEYS, store: memoryStore() });
    const session = await sessions.load(undefined);
    session.set('a', 1);
    const cookie = (await sessions.commit(session))[0]!.split(';')[0]!;
    assert.equal((await sessions.load(cookie)).get('a'), 1);
    assert.equal(made, 0);
  } finally {
    noop.createCounter = createCounter;
  }
  const real = memoryStore();
  let given: Promise<unknown> | undefined;
  const store: SessionStore = Object.assign(Object.create(real), {
    get: (key: string) => {
      given = real.get(key);
      return given;
    },
  });
  const instrumented = instrumentStore(store);
  const answer = instrumented.get('a-key');
  assert.equal(answer, given); // no span wrapper around it
  assert.equal(await answer, null);

  spans.length = 0;
  trace.setGlobalTracerProvider(tracerProvider as never);
  try {
    await instrumented.get('a-key');
    assert.deepEqual(
      spans.map((span) => [span.name, span.ended]),
      [['latchkey.store.get', true]],
    );
  } finally {
    trace.disable();
  }
});

test('without @opentelemetry/api (it cannot be resolved), sessions work and telemetry is a no-op', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const hook = `data:text/javascript,${encodeURIComponent(
    `export async function resolve(specifier, context, next) {
      if (specifier === '@opentelemetry/api') throw Object.assign(new Error('not installed'), { code: 'ERR_MODULE_NOT_FOUND' });
      return next(specifier, context);
    }`,
  )}`;
  const script = `
    import { register } from 'node:module';
    register(${JSON.stringify(hook)});
    const { createSessions } = await import('./src/core/sessions.ts');
    const { loadTelemetry } = await import('./src/core/telemetry.ts');
    const { memoryStore } = await import('./src/stores/memory.ts');
    const { generateKeyLine } = await import('./src/crypto/keyring.ts');
    const sessions = createSessions({ keys: generateKeyLine('k1'), store: memoryStore() });
    const loaded = await loadTelemetry();
    const session = await sessions.load(undefined);
    session.set('a', 1);
    const lines = await sessions.commit(session);
    console.log(JSON.stringify({ loaded, lines: lines.length, value: (await sessions.load(lines[0].split(';')[0])).get('a') }));
  `;
  const result = spawnSync(
    process.execPath,
    ['--import', './scripts/register-src.mjs', '--input-type=module', '-e', script],
    { cwd: root, encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout.trim().split('\n').at(-1)!), {
    loaded: false,
    lines: 1,
    value: 1,
  });
});
