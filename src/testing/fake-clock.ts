import type { Clock } from '../core/clock.ts';
import { type Duration, parseDuration } from '../core/policy.ts';

/** A clock that moves only when told to: for testing timeouts without waiting. */
export interface FakeClock extends Clock {
  /** Move forward by a duration (`'61m'`, or milliseconds). */
  advance(by: Duration): number;
  /** Jump to an absolute time (UTC ms); backwards too, to test a clock that steps back. */
  set(time: number): void;
}

/**
 * @example
 * ```ts
 * const clock = createFakeClock();
 * const sessions = createSessions({ keys, clock });
 * clock.advance('61m'); // past the default idle timeout
 * ```
 */
export function createFakeClock(start = Date.UTC(2026, 0, 1)): FakeClock {
  let time = start;
  return {
    now: () => time,
    advance(by) {
      time += parseDuration(by, 'advance');
      return time;
    },
    set(next) {
      time = next;
    },
  };
}
