/**
 * `npm run bench:fs-purge -- [--records N]`: how fast the fs store purges expired records. Fills a fresh
 * directory with N records (a quarter of them indexed under a user, all expired but one in ten), then
 * times `purgeExpired` (wall and CPU time) and checks that exactly the expired ones went and nothing else
 * is left behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fsStore } from 'latchkey/stores/fs';

const { values } = parseArgs({ options: { records: { type: 'string', default: '20000' } } });
const total = Number(values.records);
const dir = mkdtempSync(join(tmpdir(), 'latchkey-fs-purge-'));
const now = Date.now();
const store = fsStore({ dir });
try {
  const fillStart = performance.now();
  let made = 0;
  const live = new Set<string>();
  const worker = async () => {
    while (made < total) {
      const i = made++;
      const key = createHash('sha256').update(randomBytes(32)).digest('base64url');
      const keep = i % 10 === 0;
      if (keep) live.add(key);
      const at = keep ? now + 3_600_000 : now - 1000;
      await store.create(key, {
        sealed: `v1.k1.${randomBytes(150).toString('base64url')}`,
        ...(i % 4 === 0 ? { userId: `user${i % 97}` } : {}),
        createdAt: now - 7_200_000,
        expiresAt: at,
        absoluteAt: at,
        lastSeenAt: now - 7_200_000,
        version: 1,
      });
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const fillSeconds = (performance.now() - fillStart) / 1000;
  let lines = 0;
  const start = performance.now();
  const cpuBefore = process.cpuUsage();
  const purged = await store.purgeExpired(now, () => lines++);
  const seconds = (performance.now() - start) / 1000;
  // CPU time of this process (main thread and libuv's file threads): steadier than wall time on a busy machine.
  const cpu = process.cpuUsage(cpuBefore);
  const left = readdirSync(join(dir, 'sessions'), { recursive: true }).filter((f) =>
    String(f).endsWith('.json'),
  ).length;
  const locks = readdirSync(dir, { recursive: true }).filter((f) => /\.(lock|tmp|stale)$/.test(String(f)));
  for (const key of live) if (!(await store.get(key))) throw new Error(`a live record went: ${key}`);
  console.log(
    JSON.stringify({
      records: total,
      fillSeconds: Number(fillSeconds.toFixed(1)),
      purged,
      expected: total - live.size,
      left,
      leftoverLockOrTempFiles: locks.length,
      purgeSeconds: Number(seconds.toFixed(2)),
      recordsPerSecond: Math.round(purged / seconds),
      cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
      recordsPerCpuSecond: Math.round(purged / ((cpu.user + cpu.system) / 1e6)),
      progressCalls: lines,
    }),
  );
  if (purged !== total - live.size || left !== live.size || locks.length > 0) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
