/**
 * The session options every scenario app runs with, in each mode, apart from the keys and the clock.
 * No node: imports: the workerd scenario worker (test/runtimes/scenario-worker.ts) builds its sessions
 * from these too.
 */
import type { Clock } from '../../src/core/clock.ts';
import { memoryStore } from '../../src/stores/memory.ts';

export type ScenarioMode = 'cookie' | 'revocation' | 'store';

export function scenarioSessionsOptions(mode: ScenarioMode, clock: Clock) {
  return {
    development: true,
    clock,
    idleTimeout: '30m',
    touchAfter: '5m',
    clearSiteData: true,
    ...(mode === 'store' ? { store: memoryStore({ clock }) } : {}),
    ...(mode === 'revocation' ? { revocation: memoryStore({ clock }) } : {}),
  } as const;
}
