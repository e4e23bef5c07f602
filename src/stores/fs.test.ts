import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StoreUnavailable } from '../errors.ts';
import { createFakeClock } from '../testing/fake-clock.ts';
import { describeStoreConformance, newStoreKey, sampleRecord } from '../testing/store-conformance.ts';
import { fsStore } from './fs.ts';

const HOUR = 3_600_000;
const roots: string[] = [];
after(() => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

async function freshDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'latchkey-fs-'));
  roots.push(root);
  return root;
}

const hexOf = (storeKey: string) => Buffer.from(storeKey, 'base64url').toString('hex');
const modeOf = async (path: string) => (await lstat(path)).mode & 0o777;
const windows = process.platform === 'win32';

describeStoreConformance('fs', async ({ clock }) => fsStore({ dir: await freshDir(), clock }));

describe('fs store on disk', () => {
  test('checklist #51: files are 0600, directories 0700, names are hex of the decoded key', async () => {
    const dir = join(await freshDir(), 'store');
    const clock = createFakeClock();
    const store = fsStore({ dir, clock });
    const key = newStoreKey();
    const hex = hexOf(key);
    await store.create(key, sampleRecord(clock.now(), { userId: 'u1' }));
    const shard = join(dir, 'sessions', hex.slice(0, 2));
    assert.deepEqual(await readdir(shard), [`${hex}.json`], 'no temp or lock file left behind');
    const [userFolder] = await readdir(join(dir, 'users'));
    assert.match(userFolder!, /^[0-9a-f]{64}$/);
    assert.deepEqual(await readdir(join(dir, 'users', userFolder!)), [hex]);
    if (windows) return;
    for (const folder of [
      dir,
      join(dir, 'sessions'),
      join(dir, 'users'),
      shard,
      join(dir, 'users', userFolder!),
    ])
      assert.equal(await modeOf(folder), 0o700, folder);
    assert.equal(await modeOf(join(shard, `${hex}.json`)), 0o600);
    assert.equal(await modeOf(join(dir, 'users', userFolder!, hex)), 0o600);
  });

  test('checklist #51: a dir that is a symlink is refused', {
    skip: windows && 'symlinks need admin',
  }, async () => {
    const real = await freshDir();
    const linked = join(await freshDir(), 'linked');
    await symlink(real, linked);
    assert.throws(() => fsStore({ dir: linked }), TypeError);
  });

  test('checklist #51: a store directory that others may write to, or that another user owns, is refused', {
    skip: windows && 'no POSIX modes',
  }, async () => {
    const shared = await freshDir();
    await chmod(shared, 0o777); // as a shared /tmp folder, or a careless mkdir, would leave it
    assert.throws(() => fsStore({ dir: shared }), { code: 'ERR_LATCHKEY_CONFIG' });
    const inner = await freshDir();
    fsStore({ dir: inner }); // makes sessions/ and users/ 0700
    await chmod(join(inner, 'sessions'), 0o775);
    assert.throws(() => fsStore({ dir: inner }), { code: 'ERR_LATCHKEY_CONFIG' }, 'group-writable sessions/');
    await chmod(join(inner, 'sessions'), 0o755);
    fsStore({ dir: inner }); // readable by others is the operator's choice; only writing is refused
  });

  test('checklist #51: a symlink where a record would be is never followed', async () => {
    const dir = await freshDir();
    const clock = createFakeClock();
    const store = fsStore({ dir, clock });
    const key = newStoreKey();
    const hex = hexOf(key);
    const outside = join(await freshDir(), 'victim.json');
    const victim = JSON.stringify(sampleRecord(clock.now(), { sealed: 'v1.k1.outside' }));
    await writeFile(outside, victim);
    await mkdir(join(dir, 'sessions', hex.slice(0, 2)), { mode: 0o700 });
    const recordPath = join(dir, 'sessions', hex.slice(0, 2), `${hex}.json`);
    await symlink(outside, recordPath);
    assert.equal(await store.get(key), null, 'not read through the link');
    assert.equal(await store.create(key, sampleRecord(clock.now())), false, 'not written through the link');
    assert.equal(await store.update(key, sampleRecord(clock.now(), { version: 2 }), 1), 'missing');
    assert.equal(await store.touch(key, clock.now() + HOUR, clock.now()), false);
    assert.equal(await store.purgeExpired(), 1, 'the link counts as a corrupt record');
    await assert.rejects(lstat(recordPath), { code: 'ENOENT' });
    assert.equal(await readFile(outside, 'utf8'), victim, 'the outside file is untouched');
    assert.equal(await store.create(key, sampleRecord(clock.now())), true);
  });

  test('checklist #51: a symlink where a shard directory would be is never followed', async () => {
    const dir = await freshDir();
    const clock = createFakeClock();
    const store = fsStore({ dir, clock });
    const key = newStoreKey();
    const hex = hexOf(key);
    const outside = await freshDir();
    const victim = JSON.stringify(sampleRecord(clock.now(), { sealed: 'v1.k1.outside' }));
    await writeFile(join(outside, `${hex}.json`), victim);
    await symlink(outside, join(dir, 'sessions', hex.slice(0, 2)));
    assert.equal(await store.get(key), null);
    await assert.rejects(store.create(key, sampleRecord(clock.now())), StoreUnavailable);
    await assert.rejects(store.update(key, sampleRecord(clock.now(), { version: 2 }), 1), StoreUnavailable);
    await assert.rejects(store.delete(key), StoreUnavailable);
    assert.equal(await store.purgeExpired(clock.now() + 2 * HOUR), 0, 'purge does not walk into it');
    assert.deepEqual(await readdir(outside), [`${hex}.json`]);
    assert.equal(await readFile(join(outside, `${hex}.json`), 'utf8'), victim);
  });

  test('checklist #51, #56: ../x, ..\\x and non-canonical keys can neither escape nor alias', async () => {
    const base = await freshDir();
    const clock = createFakeClock();
    const store = fsStore({ dir: join(base, 'store'), clock });
    const key = newStoreKey();
    await store.create(key, sampleRecord(clock.now()));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The last character carries two spare bits that the decoder drops: the same 32 bytes, another string.
    const alias = key.slice(0, 42) + alphabet[alphabet.indexOf(key.at(-1)!) ^ 1];
    assert.equal(hexOf(alias), hexOf(key));
    for (const bad of ['../x', '..\\x', `../${key.slice(3)}`, `..\\${key.slice(3)}`, alias]) {
      assert.equal(await store.get(bad), null, bad);
      await store.delete(bad);
      await assert.rejects(store.create(bad, sampleRecord(clock.now())), TypeError);
      await assert.rejects(store.update(bad, sampleRecord(clock.now(), { version: 2 }), 1), TypeError);
      await assert.rejects(store.touch(bad, clock.now() + HOUR, clock.now()), TypeError);
    }
    assert.deepEqual(await readdir(base), ['store'], 'nothing was written beside the store');
    assert.notEqual(await store.get(key), null);
  });

  test('a corrupt record is no session; purge removes it and its marker', async () => {
    const dir = await freshDir();
    const clock = createFakeClock();
    const store = fsStore({ dir, clock });
    const key = newStoreKey();
    const hex = hexOf(key);
    await store.create(key, sampleRecord(clock.now(), { userId: 'u1' }));
    await writeFile(join(dir, 'sessions', hex.slice(0, 2), `${hex}.json`), '{"sealed":"v1.k1.x","vers');
    assert.equal(await store.get(key), null);
    assert.equal(await store.update(key, sampleRecord(clock.now(), { version: 2 }), 1), 'missing');
    assert.equal(await store.touch(key, clock.now() + HOUR, clock.now()), false);
    assert.equal(await store.purgeExpired(), 1);
    assert.deepEqual(await readdir(join(dir, 'sessions', hex.slice(0, 2))), []);
    assert.deepEqual(await readdir(join(dir, 'users')), [], 'the marker and its emptied folder are gone');
  });

  test('an I/O error other than ENOENT is StoreUnavailable, never "no session"', async () => {
    const dir = await freshDir();
    const key = newStoreKey();
    const hex = hexOf(key);
    const recordPath = join(dir, 'sessions', hex.slice(0, 2), `${hex}.json`);
    await mkdir(join(recordPath, 'inside'), { recursive: true, mode: 0o700 });
    const store = fsStore({ dir });
    assert.equal(await store.get(key), null, 'a directory is not a record');
    await assert.rejects(store.delete(key), (err: Error) => {
      assert.ok(err instanceof StoreUnavailable);
      assert.equal(err.code, 'ERR_LATCHKEY_STORE_UNAVAILABLE');
      assert.ok(!err.message.includes(hex) && !err.message.includes(key), 'no store key in the message');
      return true;
    });
  });

  test('a permission error is StoreUnavailable', {
    skip: (windows || process.getuid?.() === 0) && 'root (or Windows) ignores file modes',
  }, async () => {
    const dir = await freshDir();
    const key = newStoreKey();
    const store = fsStore({ dir });
    await store.create(key, sampleRecord(Date.now()));
    const shard = join(dir, 'sessions', hexOf(key).slice(0, 2));
    await chmod(shard, 0);
    try {
      await assert.rejects(store.get(key), StoreUnavailable);
    } finally {
      await chmod(shard, 0o700);
    }
  });

  test('purgeExpired reports progress, removes orphan markers and old temp files, keeps live records', async () => {
    const dir = await freshDir();
    const clock = createFakeClock();
    const store = fsStore({ dir, clock });
    const live = newStoreKey();
    await store.create(live, sampleRecord(clock.now(), { userId: 'u1' }));
    const expiring = [newStoreKey(), newStoreKey(), newStoreKey()];
    for (const key of expiring)
      await store.create(key, sampleRecord(clock.now(), { userId: 'u1', expiresAt: clock.now() + 5 }));
    const orphan = newStoreKey();
    await store.create(orphan, sampleRecord(clock.now(), { userId: 'u1' }));
    const orphanHex = hexOf(orphan);
    await rm(join(dir, 'sessions', orphanHex.slice(0, 2), `${orphanHex}.json`));
    const shard = join(dir, 'sessions', hexOf(live).slice(0, 2));
    await writeFile(join(shard, '.crashed.tmp'), 'x');
    await utimes(
      join(shard, '.crashed.tmp'),
      new Date(Date.now() - 2 * HOUR),
      new Date(Date.now() - 2 * HOUR),
    );
    await writeFile(join(shard, '.inflight.tmp'), 'x');
    clock.advance(5);
    const progress: Array<[number, number]> = [];
    assert.equal(
      await store.purgeExpired(clock.now(), (scanned, purged) => progress.push([scanned, purged])),
      3,
    );
    assert.deepEqual(progress.at(-1), [4, 3]);
    assert.deepEqual(
      (await store.listByUser('u1')).map((meta) => meta.storeKey),
      [live],
    );
    const [folder] = await readdir(join(dir, 'users'));
    assert.deepEqual(
      await readdir(join(dir, 'users', folder!)),
      [hexOf(live)],
      'only the live marker is left',
    );
    const left = await readdir(shard);
    assert.ok(!left.includes('.crashed.tmp') && left.includes('.inflight.tmp'));
  });
});

describe('fs store concurrency', () => {
  test('50 concurrent updates through two store objects on one directory: exactly one wins', async () => {
    const dir = await freshDir();
    const [a, b] = [fsStore({ dir }), fsStore({ dir })];
    const key = newStoreKey();
    await a.create(key, sampleRecord(Date.now()));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? a : b).update(key, sampleRecord(Date.now(), { version: 2, sealed: `v1.k1.u${i}` }), 1),
      ),
    );
    assert.equal(results.filter((result) => result === 'ok').length, 1);
    assert.equal(results.filter((result) => result === 'conflict').length, 49);
  });

  /** A store with lockTimeout 200 ms, one record, and a lock file on it as a crashed process left it. */
  async function crashedLock(text: string, offsetMs: number) {
    const dir = await freshDir();
    const store = fsStore({ dir, lockTimeout: 200 });
    const key = newStoreKey();
    const hex = hexOf(key);
    await store.create(key, sampleRecord(Date.now()));
    const lockPath = join(dir, 'sessions', hex.slice(0, 2), `${hex}.lock`);
    await writeFile(lockPath, text);
    await utimes(lockPath, new Date(Date.now() + offsetMs), new Date(Date.now() + offsetMs));
    return { store, key, lockPath };
  }

  test('a lock file left by a crashed process is broken after lockTimeout', async () => {
    const { store, key, lockPath } = await crashedLock('crashed', -60_000);
    assert.equal(await store.update(key, sampleRecord(Date.now(), { version: 2 }), 1), 'ok');
    await writeFile(lockPath, 'hung');
    assert.equal(await store.update(key, sampleRecord(Date.now(), { version: 3 }), 2), 'ok', 'after 200 ms');
    await assert.rejects(stat(lockPath), { code: 'ENOENT' });
  });

  test('a lock file stamped in the future (a clock that stepped back since) is broken too', async () => {
    const { store, key, lockPath } = await crashedLock(
      'crashed while the clock was an hour ahead',
      3_600_000,
    );
    assert.equal(await store.delete(key), true, 'a sign-out is not blocked for an hour');
    await assert.rejects(stat(`${lockPath}.break`), { code: 'ENOENT' }, 'the breaker lock is gone too');
  });

  test('compare-and-set holds across processes: two workers × 100 increments = 200', async () => {
    const dir = await freshDir();
    const store = fsStore({ dir });
    const key = newStoreKey();
    await store.create(key, sampleRecord(Date.now(), { sealed: 'v1.k1.0' }));
    // Each worker retries on conflict, as the core does: a lost update would leave the count short of 200.
    const worker = `
      const { fsStore } = await import(process.env.LK_MODULE);
      const store = fsStore({ dir: process.env.LK_DIR });
      const key = process.env.LK_KEY;
      for (let done = 0; done < 100; ) {
        const current = await store.get(key);
        const count = Number(current.sealed.slice('v1.k1.'.length)) + 1;
        const next = { ...current, sealed: 'v1.k1.' + count, version: current.version + 1 };
        const result = await store.update(key, next, current.version);
        if (result === 'ok') done++;
        else if (result !== 'conflict') throw new TypeError('unexpected ' + result);
      }`;
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const run = () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', worker], {
          env: { ...env, LK_MODULE: new URL('./fs.ts', import.meta.url).href, LK_DIR: dir, LK_KEY: key },
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.on('error', reject);
        child.on('exit', (code) =>
          code === 0 ? resolve() : reject(new TypeError(`worker exited with ${code}`)),
        );
      });
    await Promise.all([run(), run()]);
    const final = await store.get(key);
    assert.equal(final?.sealed, 'v1.k1.200');
    assert.equal(final?.version, 201);
  });

  test('purgeExpired removes lock files left by a crashed process, and only old ones', async () => {
    const dir = await freshDir();
    const clock = createFakeClock();
    const store = fsStore({ dir, clock });
    const key = newStoreKey();
    await store.create(key, sampleRecord(clock.now()));
    const shard = join(dir, 'sessions', hexOf(key).slice(0, 2));
    const crashed = `${hexOf(newStoreKey())}.lock`;
    await writeFile(join(shard, crashed), 'token');
    await writeFile(join(shard, `${crashed}.break`), '');
    for (const name of [crashed, `${crashed}.break`])
      await utimes(join(shard, name), new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
    const held = `${hexOf(newStoreKey())}.lock`;
    await writeFile(join(shard, held), 'token'); // a lock some process holds right now
    assert.equal(await store.purgeExpired(), 0);
    const left = await readdir(shard);
    assert.ok(!left.includes(crashed) && !left.includes(`${crashed}.break`), 'old locks went');
    assert.ok(left.includes(held), 'a fresh lock stays');
    assert.ok(await store.get(key), 'the live record stays');
  });
});
