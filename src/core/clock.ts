/** Where Latchkey reads the time: UTC milliseconds. Swap in a fake clock in tests. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
