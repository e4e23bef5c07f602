/**
 * The fs store's per-key lock (fs.ts), and the small file helpers it shares with the store: flags that never
 * follow a symlink, an errno-filtering catch handler, and a read of a regular file.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { storeUnavailable } from './types.ts';

// Windows has neither flag; the lstat checks remain there. O_NONBLOCK: a planted FIFO cannot hang a read.
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const READ = constants.O_RDONLY | NOFOLLOW | (constants.O_NONBLOCK ?? 0);
export const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW;

export const codeOf = (err: unknown) => String((err as { code?: unknown } | null)?.code);
/** A catch handler that swallows the listed error codes and rethrows anything else. */
export const ignore =
  (...codes: string[]) =>
  (err: unknown): undefined => {
    if (!codes.includes(codeOf(err))) throw err;
  };

/** Reads a regular file without following a symlink; null when absent or not a regular file. */
export async function readRegular(path: string): Promise<{ text: string; mtimeMs: number } | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, READ);
  } catch (err) {
    // ELOOP (EMLINK on BSDs): the name is a symlink, refused by O_NOFOLLOW.
    return ignore('ENOENT', 'ENOTDIR', 'ELOOP', 'EMLINK')(err) ?? null;
  }
  try {
    const stat = await handle.stat();
    return stat.isFile() ? { text: await handle.readFile('utf8'), mtimeMs: stat.mtimeMs } : null;
  } finally {
    await handle.close();
  }
}

/**
 * readRegular without the thread pool, for a purge's batches: a small record read this way costs a few
 * microseconds where the promise API's open, stat, read and close are four thread-pool round trips.
 */
export function readRegularSync(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, READ);
  } catch (err) {
    return ignore('ENOENT', 'ENOTDIR', 'ELOOP', 'EMLINK')(err) ?? null;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : null;
  } finally {
    closeSync(fd);
  }
}

export interface KeyLockOptions {
  /** Milliseconds after which a lock file counts as abandoned by a crashed process. */
  lockTimeout: number;
  /** Where the lock file of a key (its hex name) lives. */
  lockPathOf(hex: string): string;
  /** Makes the lock file's directory a real directory, or throws; called before each lock file is taken. */
  ensureDir(path: string): Promise<void>;
}

export interface KeyLocks {
  /** Runs `body` holding the lock of `hex`, and releases the lock however `body` ends. */
  withLock<T>(hex: string, body: () => Promise<T>): Promise<T>;
}

/**
 * Per-key mutual exclusion. Within this process, callers of one key queue on a promise chain, so only one
 * body per key runs at a time; across processes, the holder also owns a lock file created exclusively
 * (`wx`, never following a symlink) holding a random token. A lock file older than `lockTimeout` (wall-clock
 * file time) counts as left by a crashed process and is broken; a waiter gives up with StoreUnavailable after
 * twice `lockTimeout`. On release the lock file is removed only if it still holds this holder's token: a lock
 * another process retook after breaking ours as stale is never removed.
 */
export function createKeyLocks({ lockTimeout, lockPathOf, ensureDir }: KeyLockOptions): KeyLocks {
  const chains = new Map<string, Promise<void>>();

  async function withLock<T>(hex: string, body: () => Promise<T>): Promise<T> {
    const previous = chains.get(hex) ?? Promise.resolve();
    let release = () => {};
    const mine = new Promise<void>((done) => (release = done));
    const tail = previous.then(() => mine);
    chains.set(hex, tail);
    await previous;
    try {
      const lockPath = lockPathOf(hex);
      await ensureDir(dirname(lockPath));
      const token = await acquireFileLock(lockPath);
      try {
        return await body();
      } finally {
        // Never remove a lock that another process took after breaking ours as stale.
        if ((await readRegular(lockPath))?.text === token) await unlink(lockPath).catch(ignore('ENOENT'));
      }
    } finally {
      release();
      if (chains.get(hex) === tail) chains.delete(hex);
    }
  }

  async function acquireFileLock(lockPath: string): Promise<string> {
    const token = randomBytes(16).toString('hex');
    const giveUpAt = Date.now() + 2 * lockTimeout;
    for (let attempt = 0; ; attempt++) {
      const handle = await open(lockPath, CREATE, 0o600).catch(ignore('EEXIST'));
      if (handle !== undefined) {
        try {
          await handle.writeFile(token);
          return token;
        } catch (err) {
          await unlink(lockPath).catch(() => {});
          throw err;
        } finally {
          await handle.close();
        }
      }
      await breakIfStale(lockPath);
      if (Date.now() > giveUpAt) throw storeUnavailable('fs', 'timed out waiting for a session lock');
      await sleep(randomInt(1, 2 + Math.min(2 ** attempt, 20)));
    }
  }

  /** Left by a crashed process: older than lockTimeout, or from a clock that has since stepped back. */
  const isStale = (mtimeMs: number) => Math.abs(Date.now() - mtimeMs) > lockTimeout;

  /**
   * Remove a lock left by a crashed process. Breakers take turns through a second lock file, and remove
   * the lock only if it is still the one judged stale: a lock another process took meanwhile is never
   * removed (only its own holder and a breaker remove locks, and breakers go one at a time). A breaker
   * lock left by a crashed breaker is itself cleared once stale.
   */
  async function breakIfStale(lockPath: string): Promise<void> {
    const seen = await readRegular(lockPath);
    if (seen === null || !isStale(seen.mtimeMs)) return;
    const breaker = `${lockPath}.break`;
    const handle = await open(breaker, CREATE, 0o600).catch(ignore('EEXIST'));
    if (handle === undefined) {
      const other = await readRegular(breaker);
      if (other !== null && isStale(other.mtimeMs)) await unlink(breaker).catch(ignore('ENOENT'));
      return;
    }
    try {
      const again = await readRegular(lockPath);
      if (again !== null && again.text === seen.text && again.mtimeMs === seen.mtimeMs) {
        await unlink(lockPath).catch(ignore('ENOENT'));
      }
    } finally {
      await handle.close();
      await unlink(breaker).catch(ignore('ENOENT'));
    }
  }

  return { withLock };
}
