export type { FakeClock } from './fake-clock.ts';
export { createFakeClock } from './fake-clock.ts';
export type { RenewalConformanceOptions } from './renewal-conformance.ts';
export { describeTokenRenewal } from './renewal-conformance.ts';
export type { ConformanceContext, ConformanceOptions } from './store-conformance.ts';
export { describeStoreConformance, newStoreKey, sampleRecord } from './store-conformance.ts';
