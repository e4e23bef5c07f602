export type { FakeClock } from './fake-clock.ts';
export { createFakeClock } from './fake-clock.ts';
