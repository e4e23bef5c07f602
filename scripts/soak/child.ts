/**
 * Helpers for the child processes a soak run or a test starts (scripts/soak/processes.ts,
 * test/support/redis-servers.ts): each is stopped by its own PID, never by name.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const hasExited = (child: ChildProcess): boolean =>
  child.exitCode !== null || child.signalCode !== null;

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. A SIGCONT first, since a
 * process paused by SIGSTOP would not act on SIGTERM until resumed.
 */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  });
}

/** SIGKILL, resolved once the process has exited: no chance to flush or say goodbye. */
export function killChild(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  return gone;
}

/** Whether `port` on `host` can be bound right now (another process may take it a moment later). */
export const isFreePort = (port: number, host: string): Promise<boolean> =>
  new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
