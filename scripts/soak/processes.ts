/**
 * The processes a soak run owns: a redis-server on a free loopback port (persistent, so a SIGKILL loses
 * nothing it acknowledged) and the two app processes. Every one is stopped by its own PID, never by name,
 * and killed at exit if the soak itself dies first.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { hasExited as exited, isFreePort, killChild, stopChild } from './child.ts';

const HOST = '127.0.0.1';
const owned = new Set<ChildProcess>();
const dirs = new Set<string>();

function killAllNow(): void {
  for (const child of owned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  owned.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllNow();
    process.kill(process.pid, signal);
  });
}

/** A directory for this run's logs and Redis files, removed at exit unless `keep`. */
export function runDir(keep: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-soak-'));
  if (!keep) dirs.add(dir);
  return dir;
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export const stop = (child: ChildProcess, graceMs = 3000): Promise<void> => stopChild(child, graceMs);

function track(child: ChildProcess): ChildProcess {
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  return child;
}

function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: 5000 }, (err, out) =>
      resolve(err ? '' : out.trim()),
    );
  });
}

export class RedisServer {
  process: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://${HOST}:${this.port}`;
  }

  /** A fresh server on a free port in 18000–18999, its data in `dir`. */
  static async start(dir: string): Promise<RedisServer> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = 18_000 + Math.floor(Math.random() * 1000);
      if (!(await isFreePort(port, HOST))) continue;
      const server = new RedisServer(port, dir);
      if (await server.spawn()) return server;
    }
    throw new Error('soak: could not start redis-server on a free port');
  }

  /**
   * Append-only file, fsync on every write: what a session store that must keep its sign-ins runs with.
   * Without it a restart is an empty Redis, every session gone, which is the operator's choice, not a
   * loss the library could prevent.
   */
  private async spawn(): Promise<boolean> {
    const args = ['--port', String(this.port), '--bind', HOST, '--save', '', '--dir', this.dir];
    args.push('--appendonly', 'yes', '--appendfsync', 'always', '--logfile', join(this.dir, 'redis.log'));
    const child = track(spawn('redis-server', args, { stdio: 'ignore' }));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (exited(child)) return false;
      if ((await redisCli(this.port, 'PING')) === 'PONG') {
        this.process = child;
        return true;
      }
      await sleep(50);
    }
    await stop(child);
    return false;
  }

  /** The outage: SIGKILL, no chance to flush or say goodbye. */
  async kill(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child !== undefined) await killChild(child);
  }

  /** Back on the same port and directory: it reloads its append-only file. */
  async restart(): Promise<void> {
    for (let attempt = 0; attempt < 40; attempt++) {
      if (await this.spawn()) return;
      await sleep(250);
    }
    throw new Error(`soak: could not restart redis-server on port ${this.port}`);
  }

  async stop(): Promise<void> {
    if (this.process !== undefined) await stop(this.process);
    this.process = undefined;
  }
}

export interface AppProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly base: string;
  readonly log: string;
}

const APP = fileURLToPath(new URL('./app.ts', import.meta.url));
const REGISTER = fileURLToPath(new URL('../register-src.mjs', import.meta.url));

/** Start scripts/soak/app.ts with `env`; resolves once it prints its port. Its stderr goes to a log. */
export function startApp(name: string, dir: string, env: Record<string, string>): Promise<AppProcess> {
  const log = join(dir, `${name}.log`);
  const child = track(
    spawn(process.execPath, ['--import', REGISTER, APP], {
      env: { ...process.env, ...env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  child.stderr?.pipe(createWriteStream(log));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`soak: ${name} did not start (see ${log})`)), 120_000);
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`soak: ${name} exited with ${code} before listening (see ${log})`));
    };
    child.once('exit', early);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const port = /listening (\d+)/.exec(out)?.[1];
      if (port === undefined) return;
      clearTimeout(timer);
      child.removeListener('exit', early);
      resolve({ name, child, base: `http://${HOST}:${port}`, log });
    });
  });
}
