import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey } from '../testing/store-conformance.ts';
import { memoryStore } from './memory.ts';

describeStoreConformance('memory', ({ clock }) => memoryStore({ clock }));

test('checklist #55: the memory store is bounded: a flood evicts, it never grows past maxSessions', async () => {
  const clock = createFakeClock();
  const store = memoryStore({ maxSessions: 100, clock });
  const now = clock.now();
  const base = {
    sealed: 'v1.k1.x',
    createdAt: now,
    lastSeenAt: now,
    absoluteAt: now + 86_400_000,
    version: 1,
  };
  const keep = newStoreKey();
  await store.create(keep, { ...base, expiresAt: now + 7_200_000 });
  for (let i = 0; i < 1000; i++)
    await store.create(newStoreKey(), { ...base, expiresAt: now + 3_600_000 + i });
  assert.notEqual(await store.get(keep), null, 'the longest-lived session is not the one evicted');
  assert.equal(await store.purgeExpired?.(clock.now() + 10 * 3_600_000), 100);
});
