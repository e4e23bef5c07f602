/**
 * Throw-away redis-server processes for integration tests: loopback only, nothing on disk but a temporary
 * directory, stopped by their own PID (never by name) after the test file, or at exit if a test crashed.
 *
 * @example
 * ```ts
 * const server = await startRedisServer();
 * await stopRedisServer(server);      // an outage
 * await restartRedisServer(server);   // same port: clients reconnect
 * const durable = await startRedisServer({ appendonly: true }); // appendfsync always
 * await killRedisServer(durable);     // SIGKILL: no flush, no goodbye; restart reloads its AOF
 * await pauseRedisServer(durable);    // SIGSTOP: connected, silent; resumeRedisServer() for SIGCONT
 * const cluster = await startRedisCluster(); // 3 masters, slots assigned, cluster_state:ok everywhere
 * ```
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasExited, isFreePort, killChild, stopChild } from '../../scripts/soak/child.ts';

export const REDIS_HOST = '127.0.0.1';

export interface RedisServer {
  readonly host: typeof REDIS_HOST;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly cluster: boolean;
  /** Append-only file with fsync on every write: a SIGKILL loses nothing it acknowledged. */
  readonly appendonly: boolean;
  /** The running process, or undefined while stopped. */
  process: ChildProcess | undefined;
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  readonly rootNodes: readonly { host: string; port: number }[];
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
const dirs = new Set<string>();

/** Last resort when a test crashed: synchronous, by PID, only the processes this module started. */
function killAllNow(): void {
  for (const child of running) if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
  running.clear();
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
after(stopAllRedisServers);

/** Stop every server this module started and remove their directories. */
export async function stopAllRedisServers(): Promise<void> {
  await Promise.all([...running].map(stopProcess));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** Run redis-cli against one server; resolves with its stdout. */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', REDIS_HOST, '-p', String(port), ...args], { timeout: 10_000 }, (err, out) =>
      err ? reject(err) : resolve(out),
    );
  });
}

/** A port in 17000–17999 whose cluster bus port (+10000) is free too; start() retries on a lost race. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 17_000 + Math.floor(Math.random() * 1000);
    if ((await isFreePort(port, REDIS_HOST)) && (await isFreePort(port + 10_000, REDIS_HOST))) return port;
  }
}

const stopProcess = (child: ChildProcess): Promise<void> => stopChild(child, 5000);

/** Spawn redis-server on `port` and wait for PONG; undefined if it exited first (port taken). */
async function spawnServer(
  port: number,
  dir: string,
  cluster: boolean,
  appendonly: boolean,
): Promise<ChildProcess | undefined> {
  const args = ['--port', String(port), '--bind', REDIS_HOST, '--save', ''];
  args.push('--appendonly', appendonly ? 'yes' : 'no', '--appendfsync', 'always');
  args.push('--dir', dir, '--logfile', join(dir, 'redis.log'));
  if (cluster) {
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
    args.push('--cluster-node-timeout', '2000');
  }
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (hasExited(child)) return undefined;
    if ((await redisCli(port, 'PING').catch(() => '')).trim() === 'PONG') return child;
    await sleep(50);
  }
  await stopProcess(child);
  return undefined;
}

/** Start a server on a fresh port; `restartRedisServer` brings a stopped one back on its old port. */
export async function startRedisServer(
  options: { cluster?: boolean; appendonly?: boolean } = {},
): Promise<RedisServer> {
  const cluster = options.cluster ?? false;
  const appendonly = options.appendonly ?? false;
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-redis-'));
    dirs.add(dir);
    const child = await spawnServer(port, dir, cluster, appendonly);
    if (child !== undefined) {
      const url = `redis://${REDIS_HOST}:${port}`;
      return { host: REDIS_HOST, port, url, dir, cluster, appendonly, process: child };
    }
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  }
  throw new Error('could not start redis-server on a free port');
}

/** SIGTERM, then SIGKILL after a grace period; the port and directory are kept for a restart. */
export async function stopRedisServer(server: RedisServer): Promise<void> {
  if (server.process !== undefined) await stopProcess(server.process);
  server.process = undefined;
}

/** SIGKILL by PID, resolved once it has exited; the port and directory are kept for a restart. */
export async function killRedisServer(server: RedisServer): Promise<void> {
  const child = server.process;
  server.process = undefined;
  if (child !== undefined) await killChild(child);
}

/** SIGSTOP by PID: the server keeps its connections and answers nothing until resumeRedisServer. */
export function pauseRedisServer(server: RedisServer): void {
  server.process?.kill('SIGSTOP');
}

/** SIGCONT by PID. Stopping a paused server resumes it first (a stopped process ignores SIGTERM). */
export function resumeRedisServer(server: RedisServer): void {
  server.process?.kill('SIGCONT');
}

/** Start a stopped server again on the same port and directory (stopping it first if it runs). */
export async function restartRedisServer(server: RedisServer): Promise<void> {
  await stopRedisServer(server);
  for (let attempt = 0; attempt < 20 && server.process === undefined; attempt++) {
    server.process = await spawnServer(server.port, server.dir, server.cluster, server.appendonly);
    if (server.process === undefined) await sleep(250);
  }
  if (server.process === undefined) throw new Error(`could not restart redis-server on port ${server.port}`);
}

/** Three (or more) masters, no replicas, every slot assigned and cluster_state:ok on every node. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes = await Promise.all(Array.from({ length: masters }, () => startRedisServer({ cluster: true })));
  const stop = async () => {
    await Promise.all(nodes.map(stopRedisServer));
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const addresses = nodes.map((node) => `${REDIS_HOST}:${node.port}`);
      execFile(
        'redis-cli',
        ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
        { timeout: 30_000 },
        (err) => (err ? reject(err) : resolve()),
      );
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((node) => redisCli(node.port, 'CLUSTER', 'INFO')));
      const ready = infos.every(
        (info) =>
          info.includes('cluster_state:ok') &&
          info.includes('cluster_slots_ok:16384') &&
          info.includes(`cluster_known_nodes:${masters}`),
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error('the Redis cluster did not reach cluster_state:ok');
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, rootNodes: nodes.map(({ host, port }) => ({ host, port })), stop };
}

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A loopback TCP forwarder to `targetPort`, as a load balancer, a container port mapping or a sidecar
 * proxy is: it accepts every connection, then opens one to the target, and closes the client's side when
 * the target refuses or closes. While the target is down a client therefore connects, sends its
 * handshake, and sees its socket close: the case node-redis before 5.11 mistakes for ready.
 * `delayMs` holds every chunk that long in each direction: a network with a round trip of twice that.
 */
export async function startTcpProxy(
  targetPort: number,
  options: { delayMs?: number } = {},
): Promise<TcpProxy> {
  const delayMs = options.delayMs ?? 0;
  const sockets = new Set<Socket>();
  const keep = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    return socket;
  };
  const server = createServer((downstream) => {
    keep(downstream);
    const upstream = keep(connect(targetPort, REDIS_HOST));
    if (delayMs === 0) downstream.pipe(upstream).pipe(downstream);
    else {
      // One delay for every chunk: timers of one duration fire in order, so the bytes stay in order.
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), delayMs));
      forward(downstream, upstream);
      forward(upstream, downstream);
    }
    const cut = () => {
      downstream.destroy();
      upstream.destroy();
    };
    for (const socket of [downstream, upstream]) socket.once('error', cut).once('close', cut);
  });
  await new Promise<void>((resolve) => server.listen(0, REDIS_HOST, resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the proxy has no port');
  return {
    port: address.port,
    url: `redis://${REDIS_HOST}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
