/**
 * Store mode's purge schedule (issue 14 §2): stores without native expiry (fs, SQLite, PostgreSQL,
 * MySQL, memory) keep an expired record until something deletes it; `purgeExpired` runs every `every`
 * (default 1 h) on an unref'd timer, so it never keeps the process alive. A run that fails is an
 * event (`purge-failed`, with the error's code), never a crash; runs never overlap; `sessions.close()`
 * stops the schedule. Redis expires records itself and has no purgeExpired: nothing is scheduled.
 */
import { ConfigError, LatchkeyError, type LatchkeyErrorCode } from '../errors.ts';
import { callStore, type SessionStore } from '../stores/types.ts';
import type { Clock } from './clock.ts';
import type { SessionEvent } from './events.ts';
import { type Duration, parseDuration } from './policy.ts';

/** `createSessions({ purge })`: `{ every: '1h' }` (the default for stores that need it) or `false`. */
export type PurgeOptions = { every: Duration } | false;

const DEFAULT_EVERY = 3600_000;
const MIN_EVERY = 1000;
/** setTimeout's limit (about 24.8 days). */
const MAX_EVERY = 2 ** 31 - 1;

/** Check `purge` at start-up: the interval in ms, or undefined when off. */
export function resolvePurge(value: unknown): number | undefined {
  if (value === undefined) return DEFAULT_EVERY;
  if (value === false) return undefined;
  if (value === null || typeof value !== 'object' || Object.keys(value).some((key) => key !== 'every')) {
    throw new ConfigError("purge must be { every: '1h' } or false");
  }
  const every = parseDuration((value as { every?: unknown }).every, 'purge.every');
  if (every < MIN_EVERY || every > MAX_EVERY) {
    throw new ConfigError('purge.every must be at least 1 s and at most 24 days');
  }
  return every;
}

export interface PurgeSchedule {
  /** Stop the schedule; a run under way finishes, and no other starts. */
  stop(): void;
  /** Run one purge now (unless one is under way): for tests and for `sessions.close()`'s callers. */
  runNow(): Promise<void>;
}

function codeOf(error: unknown): LatchkeyErrorCode {
  return error instanceof LatchkeyError ? error.code : 'ERR_LATCHKEY_STORE_UNAVAILABLE';
}

/** What a schedule purges and reports to; the caller keeps it alive as long as it wants purging. */
export interface PurgeOwner {
  readonly store: SessionStore;
  readonly clock: Clock;
  event(event: SessionEvent): void;
}

/**
 * Start purging the owner's store every `every` ms, or return undefined when it needs no purging. The
 * timer holds the owner weakly: sessions dropped without close() do not leak through the schedule.
 */
export function startPurgeSchedule(owner: PurgeOwner, every: number | undefined): PurgeSchedule | undefined {
  if (every === undefined || typeof owner.store.purgeExpired !== 'function') return undefined;
  const target = new WeakRef(owner);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;

  const run = async (): Promise<void> => {
    const current = target.deref();
    if (current === undefined) {
      stopped = true;
      return;
    }
    const startedAt = Date.now();
    try {
      const count = await callStore('session', () => current.store.purgeExpired!(current.clock.now()));
      current.event({ type: 'purged', count, ms: Date.now() - startedAt });
    } catch (error) {
      current.event({ type: 'purge-failed', code: codeOf(error) });
    }
  };
  const once = (): Promise<void> => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void once().then(schedule);
    }, every);
    // Never keep the process alive for a purge (workerd's timers are numbers, without unref).
    (timer as { unref?: () => void }).unref?.();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
    runNow: once,
  };
}
