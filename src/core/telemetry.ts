/**
 * Metrics and spans through `@opentelemetry/api`, an optional peer dependency: loaded lazily by a
 * dynamic import when the first sessions are created; when it is not installed (or the runtime cannot
 * load it) every call here is a no-op. With the API but no SDK registered, the API's own no-ops apply.
 *
 * Counters (meter `latchkey`): `latchkey.session.loads`, `latchkey.session.commits`,
 * `latchkey.session.invalid`, `latchkey.session.revocations`, `latchkey.session.token_reuse`. Spans
 * (tracer `latchkey`): `latchkey.store.<operation>` around every store call of store mode. Attributes
 * never carry a token, a store key, a user id or session data (checklist #61).
 */
import type { SessionStore } from '../stores/types.ts';
import type { SessionEvent } from './events.ts';

/** The parts of @opentelemetry/api used here (declared, so the package's types are never needed). */
interface Counter {
  add(value: number, attributes?: Record<string, string | boolean>): void;
}
interface Meter {
  createCounter(name: string, options?: { description?: string; unit?: string }): Counter;
}
interface Span {
  setStatus(status: { code: number; message?: string }): void;
  end(): void;
}
interface Tracer {
  startActiveSpan<F>(
    name: string,
    options: { kind?: number; attributes?: Record<string, string> },
    fn: (span: Span) => F,
  ): F;
}
interface OpenTelemetryApi {
  metrics: { getMeterProvider(): unknown; getMeter(name: string, version?: string): Meter };
  trace: {
    getTracer(name: string, version?: string): Tracer;
    /** The API's ProxyTracerProvider, whose getDelegateTracer is undefined until an SDK registers. */
    getTracerProvider?(): { getDelegateTracer?(name: string): unknown } | undefined;
  };
  /** The meter every call gets while no MeterProvider is registered (the API's NOOP_METER). */
  createNoopMeter?(): unknown;
}

const NAME = 'latchkey';
const SPAN_KIND_CLIENT = 2; // SpanKind.CLIENT
const STATUS_ERROR = 2; // SpanStatusCode.ERROR
// A variable, not a literal: bundlers for edge runtimes must not try to resolve the optional peer.
const PACKAGE = '@opentelemetry/api';

let api: OpenTelemetryApi | undefined;
/** The API's tracer: a proxy that finds a provider registered later by itself. */
let tracer: Tracer | undefined;
let loading: Promise<boolean> | undefined;

/**
 * Start loading @opentelemetry/api (once). Resolves true when it loaded; false (never a rejection) when
 * it is absent. Until it resolves, telemetry calls do nothing.
 */
export function loadTelemetry(): Promise<boolean> {
  loading ??= import(/* @vite-ignore */ PACKAGE).then(
    (module: { default?: unknown } & Partial<OpenTelemetryApi>) => {
      const candidate = (module.metrics ? module : module.default) as Partial<OpenTelemetryApi> | undefined;
      if (
        typeof candidate?.metrics?.getMeter !== 'function' ||
        typeof candidate.trace?.getTracer !== 'function'
      )
        return false;
      api = candidate as OpenTelemetryApi;
      tracer = api.trace.getTracer(NAME);
      return true;
    },
    () => false,
  );
  return loading;
}

type Counters = Record<'loads' | 'commits' | 'invalid' | 'revocations' | 'reuse', Counter>;
/** `counters` undefined: the provider registered now is the API's no-op one (no SDK). */
let counters: { provider: unknown; counters: Counters | undefined } | undefined;

/**
 * The counters of the meter provider registered now (made again when another provider is registered),
 * or undefined when there is none: with the API loaded but no SDK registered, a count then costs one
 * provider lookup, not the attributes object and the calls into the API's no-op counter.
 */
function current(): Counters | undefined {
  if (api === undefined) return undefined;
  const provider = api.metrics.getMeterProvider();
  if (counters === undefined || counters.provider !== provider) {
    const meter = api.metrics.getMeter(NAME);
    if (typeof api.createNoopMeter === 'function' && meter === api.createNoopMeter()) {
      counters = { provider, counters: undefined };
      return undefined;
    }
    const counter = (name: string, description: string) => meter.createCounter(name, { description });
    counters = {
      provider,
      counters: {
        loads: counter('latchkey.session.loads', 'Sessions read from requests'),
        commits: counter('latchkey.session.commits', 'Sessions committed (written or not)'),
        invalid: counter('latchkey.session.invalid', 'Session cookies or tokens refused, by reason'),
        revocations: counter('latchkey.session.revocations', 'Sessions ended before their time, by cause'),
        reuse: counter('latchkey.session.token_reuse', 'Renewed tokens presented after their grace'),
      },
    };
  }
  return counters.counters;
}

/** Count one load (`outcome`: the session's origin, such as 'loaded', 'none', 'invalid'). */
export function countLoad(mode: 'cookie' | 'store', outcome: string): void {
  current()?.loads.add(1, { 'latchkey.mode': mode, 'latchkey.outcome': outcome });
}

export function countCommit(mode: 'cookie' | 'store', written: boolean): void {
  current()?.commits.add(1, { 'latchkey.mode': mode, 'latchkey.written': written });
}

/** Count what events say: refusals, revocations, token reuse. */
export function countEvent(event: SessionEvent): void {
  const metrics = current();
  if (metrics === undefined) return;
  switch (event.type) {
    case 'invalid':
      metrics.invalid.add(1, { 'latchkey.reason': event.reason });
      break;
    case 'revoked':
      metrics.revocations.add(1, { 'latchkey.cause': 'revoked' });
      break;
    case 'evicted':
      metrics.revocations.add(event.count, { 'latchkey.cause': 'evicted' });
      break;
    case 'token-reuse':
      metrics.reuse.add(1);
      metrics.revocations.add(1, { 'latchkey.cause': 'token-reuse' });
      break;
  }
}

/** Count sessions ended by revokeUserSessions / revokeUserSession. */
export function countRevocations(count: number): void {
  if (count > 0) current()?.revocations.add(count, { 'latchkey.cause': 'user' });
}

const STORE_OPERATIONS = [
  'create',
  'get',
  'update',
  'touch',
  'delete',
  'listByUser',
  'deleteByUser',
  'purgeExpired',
] as const;

/**
 * The tracer when spans would be recorded: undefined without the API, or while the API's tracer
 * provider has no SDK behind it (its spans would be no-ops; skipping them saves a context, a span
 * object and an async wrapper per store call). A provider registered later is found on the next call.
 */
function activeTracer(): Tracer | undefined {
  if (tracer === undefined) return undefined;
  const provider = api?.trace.getTracerProvider?.();
  if (typeof provider?.getDelegateTracer === 'function' && provider.getDelegateTracer(NAME) === undefined)
    return undefined;
  return tracer;
}

/**
 * The store with a span around each call (`latchkey.store.get`, …), ended with an error status when the
 * call fails. Without @opentelemetry/api loaded, or with it but no SDK registered, a call goes straight
 * to the store.
 */
export function instrumentStore(store: SessionStore): SessionStore {
  const wrapped: Record<string, unknown> = {};
  for (const operation of STORE_OPERATIONS) {
    const method = store[operation] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof method !== 'function') continue;
    const name = `latchkey.store.${operation}`;
    const options = { kind: SPAN_KIND_CLIENT, attributes: { 'latchkey.store.operation': operation } };
    wrapped[operation] = (...args: unknown[]) => {
      const active = activeTracer();
      if (active === undefined) return method.apply(store, args);
      return active.startActiveSpan(name, options, async (span) => {
        try {
          return await method.apply(store, args);
        } catch (error) {
          // The error's name only: a driver's message may quote a query (checklist #61).
          span.setStatus({ code: STATUS_ERROR, message: error instanceof Error ? error.name : 'error' });
          throw error;
        } finally {
          span.end();
        }
      });
    };
  }
  if (typeof store.close === 'function') wrapped.close = () => store.close!();
  return wrapped as unknown as SessionStore;
}
