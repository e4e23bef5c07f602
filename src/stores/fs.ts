/**
 * The embedded default store of store mode (DESIGN.md §6): one file per session under a directory, shared
 * safely by many processes on one host. Checklist #51: names are hex of the decoded store key, files 0600
 * and directories 0700, atomic writes, and no symlink is ever followed.
 *
 * ```
 * <dir>/sessions/<2 hex>/<64 hex>.json       the record; <64 hex>.lock beside it while a writer holds it
 * <dir>/users/<SHA-256(userId) hex>/<64 hex>  empty marker files: the user index
 * ```
 *
 * @example
 * ```ts
 * import { fsStore } from 'latchkey/stores/fs';
 * const sessions = createSessions({ store: fsStore({ dir: '/var/lib/myapp/sessions' }) });
 * ```
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rmdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { ConfigError, StoreUnavailable } from '../errors.ts';
import { CREATE, codeOf, createKeyLocks, ignore, readRegular, readRegularSync } from './fs-lock.ts';
import {
  assertStoredRecord,
  assertStoreKey,
  assertUserId,
  isStoreKey,
  isUserId,
  metaOf,
  oldestFirst,
  parseStoredRecord,
  type SessionStore,
  type StoredMeta,
  type StoredRecord,
  storeUnavailable,
  type UpdateResult,
} from './types.ts';

export interface FsStoreOptions {
  /** The store's directory; created 0700 if missing. A symlink is refused. */
  dir: string;
  /** The time source for expiry; tests pass a fake clock. */
  clock?: Clock;
  /** Milliseconds after which a lock file counts as abandoned by a crashed process. Default 10,000. */
  lockTimeout?: number;
}

export interface FsStore extends SessionStore {
  /**
   * Delete expired and unreadable records and stale index markers; returns how many records went.
   * `onProgress` hears about every 1 % of the records, and once at the end, with the total found.
   */
  purgeExpired(
    now?: number,
    onProgress?: (scanned: number, purged: number, total: number) => void,
  ): Promise<number>;
}

const FIELDS = ['sealed', 'userId', 'createdAt', 'expiresAt', 'absoluteAt', 'lastSeenAt', 'version', 'label'];
const HEX64 = /^[0-9a-f]{64}$/;
const STALE_TEMP_MS = 3_600_000;
/** What a crashed writer or lock holder leaves in a shard: temp copies, lock and lock-breaker files. */
const LEFTOVER = /\.(tmp|stale|lock|lock\.break)$/;
/** Records a purge checks at once: enough to keep the thread pool's file operations overlapping. */
const PURGE_PARALLEL = 32;
/** Records a lock-free purge reads synchronously between two turns of the event loop (a few ms). */
const PURGE_BATCH = 256;

/** Run `body` on every item, PURGE_PARALLEL at a time; the first failure rejects (the rest stop). */
async function eachInParallel<T>(items: readonly T[], body: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await body(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PURGE_PARALLEL, items.length) }, worker));
}

/**
 * File names are hex: base64url is unsafe on case-insensitive filesystems (#56). Node's decoder ignores the
 * last character's two spare bits, so only the canonical spelling is a key, or two keys would share a file.
 */
function keyToHex(storeKey: unknown): string | null {
  if (!isStoreKey(storeKey)) return null;
  const bytes = Buffer.from(storeKey, 'base64url');
  return bytes.toString('base64url') === storeKey ? bytes.toString('hex') : null;
}

function hexForWrite(storeKey: unknown): string {
  assertStoreKey(storeKey);
  const hex = keyToHex(storeKey);
  if (hex === null) throw new TypeError('store keys are canonical base64url (SHA-256 of the token)');
  return hex;
}

/** Hashed, so any id is a safe name; UTF-16 code units, so ids differing in lone surrogates stay apart. */
const userFolder = (userId: string) => createHash('sha256').update(userId, 'utf16le').digest('hex');

/** Reads treat anything but a real directory as empty; writes refuse it (a planted symlink, #51). */
async function isRealDir(path: string): Promise<boolean> {
  const stat = await lstat(path).catch(ignore('ENOENT', 'ENOTDIR'));
  return stat?.isDirectory() ?? false;
}

async function ensureDir(path: string): Promise<void> {
  if (await isRealDir(path)) return;
  await mkdir(path, { recursive: true, mode: 0o700 }).catch(ignore('EEXIST'));
  if (!(await isRealDir(path))) throw storeUnavailable('fs', `${path} is not a real directory`);
}

export function fsStore(options: FsStoreOptions): FsStore {
  if (typeof options?.dir !== 'string' || options.dir === '') throw new TypeError('fsStore: dir is required');
  const lockTimeout = options.lockTimeout ?? 10_000;
  if (!Number.isSafeInteger(lockTimeout) || lockTimeout < 1)
    throw new TypeError('fsStore: lockTimeout is a positive number of milliseconds');
  const clock = options.clock ?? systemClock;
  const dir = resolve(options.dir);
  const sessionsDir = join(dir, 'sessions');
  const usersDir = join(dir, 'users');
  const uid = process.getuid?.();
  for (const path of [dir, sessionsDir, usersDir]) {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (stat === undefined) mkdirSync(path, { recursive: true, mode: 0o700 });
    else if (!stat.isDirectory())
      throw new TypeError(`fsStore: ${path} is not a directory (or is a symlink)`);
    else if (uid !== undefined && (stat.uid !== uid || (stat.mode & 0o022) !== 0)) {
      // Another user who may write here could list, delete, swap or replay session files (checklist #51).
      throw new ConfigError(
        `fsStore: ${path} must belong to this process's user and be writable by it alone (chmod go-w)`,
      );
    }
  }
  const shardOf = (hex: string) => join(sessionsDir, hex.slice(0, 2));
  const recordPath = (hex: string) => join(shardOf(hex), `${hex}.json`);
  const markerPath = (folder: string, hex: string) => join(usersDir, folder, hex);
  const live = (record: StoredRecord | null, now = clock.now()) => record !== null && record.expiresAt > now;
  const lockPathOf = (hex: string) => join(shardOf(hex), `${hex}.lock`);
  const { withLock } = createKeyLocks({ lockTimeout, lockPathOf, ensureDir });

  /** The record, or null when absent or unreadable: a corrupt blob is no session. */
  async function readRecord(hex: string): Promise<StoredRecord | null> {
    if (!(await isRealDir(shardOf(hex)))) return null;
    const file = await readRegular(recordPath(hex));
    try {
      return file && parseStoredRecord(JSON.parse(file.text));
    } catch {
      return null;
    }
  }

  /** readRecord for a purge's batches: the shard was listed as a real directory by the same purge. */
  function readRecordSync(hex: string): StoredRecord | null {
    const text = readRegularSync(recordPath(hex));
    try {
      return text === null ? null : parseStoredRecord(JSON.parse(text));
    } catch {
      return null;
    }
  }

  /** A complete, fsynced copy beside the target, created exclusively, so rename or link publish it whole. */
  async function writeTemp(hex: string, record: StoredRecord): Promise<string> {
    const temp = join(shardOf(hex), `.${hex}.${randomBytes(8).toString('hex')}.tmp`);
    const handle = await open(temp, CREATE, 0o600);
    try {
      await handle.writeFile(JSON.stringify(record, FIELDS), 'utf8');
      await handle.sync();
      await handle.close();
      return temp;
    } catch (err) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw err;
    }
  }

  async function replaceRecord(hex: string, record: StoredRecord): Promise<void> {
    const temp = await writeTemp(hex, record);
    await rename(temp, recordPath(hex)).catch(async (err) => {
      await unlink(temp).catch(() => {});
      throw err;
    });
  }

  /** True if this call made the marker. Retried when a purge removed the emptied folder meanwhile. */
  async function addMarker(userId: string, hex: string): Promise<boolean> {
    const folder = userFolder(userId);
    for (let attempt = 0; ; attempt++) {
      await ensureDir(join(usersDir, folder));
      try {
        await (await open(markerPath(folder, hex), CREATE, 0o600)).close();
        return true;
      } catch (err) {
        if (codeOf(err) === 'EEXIST') return false;
        if (codeOf(err) !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
  }

  async function removeMarker(folder: string, hex: string): Promise<void> {
    if (await isRealDir(join(usersDir, folder)))
      await unlink(markerPath(folder, hex)).catch(ignore('ENOENT'));
  }

  async function markersOf(folder: string): Promise<string[]> {
    if (!(await isRealDir(join(usersDir, folder)))) return [];
    return (await readdir(join(usersDir, folder))).filter((name) => HEX64.test(name));
  }

  /**
   * Under the lock: remove the record unless it is live at `now`. What went (`record` null for a
   * corrupt file), or undefined when no record file went.
   */
  async function removeUnlessLive(
    hex: string,
    now: number,
  ): Promise<{ record: StoredRecord | null } | undefined> {
    const record = await readRecord(hex);
    if (live(record, now)) return undefined;
    if ((await unlink(recordPath(hex)).then(() => true, ignore('ENOENT', 'ENOTDIR'))) !== true)
      return undefined;
    if (record?.userId !== undefined) await removeMarker(userFolder(record.userId), hex);
    return { record };
  }

  /** Under the lock: drop a marker unless it points at a live record of its own user. */
  async function sweepMarker(folder: string, hex: string): Promise<void> {
    const record = await readRecord(hex);
    if (record !== null && !live(record)) await removeUnlessLive(hex, clock.now());
    else if (record?.userId !== undefined && userFolder(record.userId) === folder) return;
    await removeMarker(folder, hex);
  }

  const guard = async <T>(body: () => Promise<T>): Promise<T> => {
    try {
      return await body();
    } catch (err) {
      if (err instanceof StoreUnavailable) throw err;
      // Name the errno and the call, not the path: file names carry store keys (never in messages, types.ts).
      const { code, syscall } = (err ?? {}) as { code?: unknown; syscall?: unknown };
      if (typeof code !== 'string' || typeof syscall !== 'string') throw storeUnavailable('fs', err);
      throw new StoreUnavailable(`fs store unavailable: ${code} in ${syscall}`, { cause: err });
    }
  };

  /**
   * Purge, step 1: every shard's records; a corrupt file counts as expired (#53). The shards are listed
   * first (so progress knows the total), then records are checked PURGE_PARALLEL at a time.
   *
   * A record that is expired (or unreadable) at a `now` no later than the store's clock can never change
   * again: update and touch refuse a record that is not live, and create never replaces a name that
   * exists. So such a record is unlinked on the strength of the one read, without the per-key lock or a
   * second read. A `now` in the future (a caller sweeping ahead of time) could call a record expired that
   * a writer may still touch: then each removal is decided again under the lock, as before.
   */
  async function purgeRecords(
    now: number,
    onProgress?: (scanned: number, purged: number, total: number) => void,
  ) {
    const lockFree = now <= clock.now();
    const records: string[] = [];
    const leftovers: string[] = [];
    for (const shard of await readdir(sessionsDir, { withFileTypes: true })) {
      // Dirent types come from lstat: a symlinked shard is not a directory here, so it is never walked.
      if (!shard.isDirectory() || !/^[0-9a-f]{2}$/.test(shard.name)) continue;
      for (const entry of await readdir(join(sessionsDir, shard.name), { withFileTypes: true })) {
        const hex = /^([0-9a-f]{64})\.json$/.exec(entry.name)?.[1];
        if (hex !== undefined && (entry.isFile() || entry.isSymbolicLink())) records.push(hex);
        else if (entry.isFile() && LEFTOVER.test(entry.name)) leftovers.push(join(shard.name, entry.name));
      }
    }
    const total = records.length;
    let scanned = 0;
    let purged = 0;
    let reportedAt = 0;
    const report = (force: boolean) => {
      // At most every 1 % of the records (and at the end): a caller's progress output stays readable.
      if (onProgress && (force || scanned - reportedAt >= Math.max(1, Math.floor(total / 100)))) {
        reportedAt = scanned;
        onProgress(scanned, purged, total);
      }
    };
    /** The lock-free removal of a record read as expired (or unreadable): see above. */
    const remove = async (hex: string, record: StoredRecord | null) => {
      if ((await unlink(recordPath(hex)).then(() => true, ignore('ENOENT', 'ENOTDIR'))) !== true) return;
      purged++;
      if (record?.userId !== undefined) await removeMarker(userFolder(record.userId), hex);
    };
    if (lockFree) {
      // Reads in synchronous batches (shards were listed as real directories just now, and each file is
      // opened without following a symlink): a small file read that way costs a few microseconds, where
      // the promise API's open, stat, read and close are four thread-pool round trips. Removals go in
      // parallel (a synchronous unlink waits on the disk's journal), a turn of the event loop in between.
      for (let at = 0; at < records.length; at += PURGE_BATCH) {
        const expired: [string, StoredRecord | null][] = [];
        for (const hex of records.slice(at, at + PURGE_BATCH)) {
          const record = readRecordSync(hex);
          if (!live(record, now)) expired.push([hex, record]);
        }
        await eachInParallel(expired, ([hex, record]) => remove(hex, record));
        scanned = Math.min(records.length, at + PURGE_BATCH);
        report(false);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } else {
      await eachInParallel(records, async (hex) => {
        const record = await readRecord(hex);
        if (!live(record, now) && (await withLock(hex, () => removeUnlessLive(hex, now))) !== undefined)
          purged++;
        scanned++;
        report(false);
      });
    }
    report(true);
    // Left by a crashed writer or lock holder: a live writer renames its temp file within milliseconds,
    // and a lock older than lockTimeout is broken by the next writer anyway.
    await eachInParallel(leftovers, async (name) => {
      const path = join(sessionsDir, name);
      const stat = await lstat(path).catch(ignore('ENOENT'));
      if (stat && Date.now() - stat.mtimeMs > Math.max(STALE_TEMP_MS, 2 * lockTimeout))
        await unlink(path).catch(ignore('ENOENT'));
    });
    return purged;
  }

  /** Purge, step 2: markers whose record is gone (a crash, a corrupt file), then emptied user folders. */
  async function purgeMarkers(now: number) {
    const folders = (await readdir(usersDir, { withFileTypes: true })).filter(
      (folder) => folder.isDirectory() && HEX64.test(folder.name),
    );
    await eachInParallel(folders, async (folder) => {
      for (const hex of await markersOf(folder.name)) {
        const record = await readRecord(hex);
        if (!live(record, now) || userFolder(record?.userId ?? '') !== folder.name)
          await withLock(hex, () => sweepMarker(folder.name, hex));
      }
      await rmdir(join(usersDir, folder.name)).catch(ignore('ENOTEMPTY', 'EEXIST', 'ENOENT'));
    });
  }

  return {
    async create(storeKey, record) {
      const hex = hexForWrite(storeKey);
      assertStoredRecord(record);
      return guard(() =>
        withLock(hex, async () => {
          // The marker goes first: a crash in between leaves a stale marker (swept), never an unindexed record.
          const marked = record.userId !== undefined && (await addMarker(record.userId, hex));
          const temp = await writeTemp(hex, record);
          try {
            // link() fails if the name exists, symlink included: insert-if-absent with complete content (#4).
            await link(temp, recordPath(hex));
            return true;
          } catch (err) {
            if (codeOf(err) !== 'EEXIST') throw err;
            if (marked && (await readRecord(hex))?.userId !== record.userId)
              await removeMarker(userFolder(record.userId!), hex);
            return false;
          } finally {
            await unlink(temp).catch(() => {});
          }
        }),
      );
    },
    async get(storeKey) {
      const hex = keyToHex(storeKey);
      if (hex === null) return null;
      const record = await guard(() => readRecord(hex));
      return live(record) ? record : null;
    },
    async update(storeKey, record, expectedVersion): Promise<UpdateResult> {
      const hex = hexForWrite(storeKey);
      assertStoredRecord(record);
      return guard(() =>
        withLock(hex, async () => {
          const current = await readRecord(hex);
          if (current === null || !live(current)) return 'missing';
          if (current.version !== expectedVersion) return 'conflict';
          // New marker before the write, old one after: the index never misses the record (#33).
          if (record.userId !== undefined) await addMarker(record.userId, hex);
          await replaceRecord(hex, record);
          if (current.userId !== undefined && current.userId !== record.userId)
            await removeMarker(userFolder(current.userId), hex);
          return 'ok';
        }),
      );
    },
    async touch(storeKey, expiresAt, lastSeenAt) {
      const hex = hexForWrite(storeKey);
      return guard(() =>
        withLock(hex, async () => {
          const current = await readRecord(hex);
          if (current === null || !live(current)) return false;
          await replaceRecord(hex, { ...current, expiresAt, lastSeenAt });
          return true;
        }),
      );
    },
    async delete(storeKey) {
      const hex = keyToHex(storeKey);
      if (hex === null) return false;
      const gone = await guard(() => withLock(hex, () => removeUnlessLive(hex, Number.POSITIVE_INFINITY)));
      return live(gone?.record ?? null);
    },
    async listByUser(userId) {
      if (!isUserId(userId)) return [];
      const folder = userFolder(userId);
      return guard(async () => {
        const found: StoredMeta[] = [];
        for (const hex of await markersOf(folder)) {
          const record = await readRecord(hex);
          if (record === null || !live(record) || record.userId !== userId) {
            await withLock(hex, () => sweepMarker(folder, hex));
            continue;
          }
          found.push(metaOf(Buffer.from(hex, 'hex').toString('base64url'), userId, record));
        }
        return found.sort(oldestFirst);
      });
    },
    async deleteByUser(userId, exceptStoreKey) {
      assertUserId(userId);
      const folder = userFolder(userId);
      const except = keyToHex(exceptStoreKey);
      return guard(async () => {
        let deleted = 0;
        for (const hex of await markersOf(folder)) {
          if (hex === except) continue;
          await withLock(hex, async () => {
            const record = await readRecord(hex);
            if (record?.userId === userId) {
              await unlink(recordPath(hex)).catch(ignore('ENOENT'));
              if (live(record)) deleted++;
            }
            await removeMarker(folder, hex);
          });
        }
        return deleted;
      });
    },
    async purgeExpired(now = clock.now(), onProgress) {
      return guard(async () => {
        const purged = await purgeRecords(now, onProgress);
        await purgeMarkers(now);
        return purged;
      });
    },
  };
}
