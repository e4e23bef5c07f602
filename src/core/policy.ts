import { ConfigError } from '../errors.ts';

/**
 * A duration: milliseconds as a number, or a string such as `'45s'`, `'30m'`, `'1h'`, `'7d'`, `'250ms'`.
 */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/** The timeouts that decide when a session ends, in milliseconds. */
export interface TimeoutPolicy {
  /** The session ends after this long without a request. */
  readonly idleTimeout: number;
  /** The session ends this long after it was created (or last signed in), whatever the activity. */
  readonly absoluteTimeout: number;
  /** An unmodified session is re-sealed (rolling renewal) at most this often. */
  readonly touchAfter: number;
  /** How far in the future a sealed timestamp may be (another server's clock) before it is refused. */
  readonly clockSkew: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Presets after NIST SP 800-63B-4 §2.x.3 (reauthentication): AAL1 at least every 30 days with no idle
 * limit required; AAL2 at least every 24 h and after 1 h idle; AAL3 at least every 12 h and after
 * 15 min idle. `aal2` is the default.
 */
export const TIMEOUT_PRESETS = {
  aal1: { idleTimeout: 30 * DAY, absoluteTimeout: 30 * DAY },
  aal2: { idleTimeout: HOUR, absoluteTimeout: DAY },
  aal3: { idleTimeout: 15 * MINUTE, absoluteTimeout: 12 * HOUR },
} as const satisfies Record<string, { idleTimeout: number; absoluteTimeout: number }>;

export type TimeoutPreset = keyof typeof TIMEOUT_PRESETS;

/** The largest clock skew we accept (DESIGN.md §2: explicit, ≤ 60 s; checklist #29). */
export const MAX_CLOCK_SKEW = MINUTE;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: MINUTE, h: HOUR, d: DAY };

/** Parse a {@link Duration} to whole milliseconds; throws ConfigError naming `option` when it is invalid. */
export function parseDuration(value: unknown, option: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = /^(\d{1,12})(ms|s|m|h|d)$/.exec(value);
    if (!match) throw new ConfigError(`${option}: '${value}' is not a duration such as '30m' or 3600000`);
    ms = Number(match[1]) * (UNITS[match[2]!] ?? Number.NaN);
  } else {
    throw new ConfigError(`${option} must be a number of milliseconds or a string such as '30m'`);
  }
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new ConfigError(`${option} must be a whole, non-negative number of milliseconds`);
  }
  return ms;
}

export interface PolicyInput {
  preset?: TimeoutPreset | undefined;
  idleTimeout?: Duration | undefined;
  absoluteTimeout?: Duration | undefined;
  touchAfter?: Duration | undefined;
  clockSkew?: Duration | undefined;
}

/** Resolve and check the timeouts; contradictions throw ConfigError at construction. */
export function resolvePolicy(input: PolicyInput): TimeoutPolicy {
  const presetName = input.preset ?? 'aal2';
  const preset = Object.hasOwn(TIMEOUT_PRESETS, presetName) ? TIMEOUT_PRESETS[presetName] : undefined;
  if (!preset) throw new ConfigError(`preset must be one of ${Object.keys(TIMEOUT_PRESETS).join(', ')}`);
  const idleTimeout =
    input.idleTimeout === undefined ? preset.idleTimeout : parseDuration(input.idleTimeout, 'idleTimeout');
  const absoluteTimeout =
    input.absoluteTimeout === undefined
      ? preset.absoluteTimeout
      : parseDuration(input.absoluteTimeout, 'absoluteTimeout');
  if (idleTimeout < 1000 || absoluteTimeout < 1000) {
    throw new ConfigError('idleTimeout and absoluteTimeout must be at least one second');
  }
  if (idleTimeout > absoluteTimeout) {
    throw new ConfigError('idleTimeout cannot be longer than absoluteTimeout');
  }
  // Renew at most every 5 minutes, and often enough that the idle clock loses at most a quarter of
  // its span to throttling.
  const touchAfter =
    input.touchAfter === undefined
      ? Math.min(5 * MINUTE, Math.floor(idleTimeout / 4))
      : parseDuration(input.touchAfter, 'touchAfter');
  if (touchAfter >= idleTimeout) {
    throw new ConfigError('touchAfter must be shorter than idleTimeout, or sessions expire while in use');
  }
  const clockSkew = input.clockSkew === undefined ? 30_000 : parseDuration(input.clockSkew, 'clockSkew');
  if (clockSkew > MAX_CLOCK_SKEW) throw new ConfigError('clockSkew may be at most 60 seconds (60000 ms)');
  return { idleTimeout, absoluteTimeout, touchAfter, clockSkew };
}
