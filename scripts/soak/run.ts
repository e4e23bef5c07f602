/**
 * One soak run against one store: two app processes on a shared Redis (started here) or PostgreSQL table
 * (made here), virtual clients for the run's length, one fault mid-run, then the final checks.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { generateKeyLine } from '../../src/crypto/keyring.ts';
import { migratePostgres } from '../../src/stores/postgres-schema.ts';
import { type DeadToken, probeAllDead, probeDead, runClients, type Traffic } from './clients.ts';
import { Ledger, type Window } from './ledger.ts';
import { type AppProcess, RedisServer, runDir, startApp, stop } from './processes.ts';

export type StoreKind = 'redis' | 'postgres';

export interface RunOptions {
  readonly store: StoreKind;
  readonly seconds: number;
  readonly users: number;
  readonly tabs: number;
  readonly thinkMs: number;
  /** Redis: how long the killed server stays down. */
  readonly outageSeconds: number;
  /** How long after the fault ends 503s still count as the outage (clients reconnecting). */
  readonly recoverySeconds: number;
  readonly rssEverySeconds: number;
  readonly sabotage: string;
  readonly keep: boolean;
  readonly log: (line: string) => void;
}

export interface RssSample {
  readonly at: number;
  /** Per app, in bytes. */
  readonly rss: readonly number[];
  /** Per app: the event loop's longest stall since the previous sample, in ms. */
  readonly stallMs: readonly number[];
  /** Per app: 'end' events of its node-redis client so far (redisStore repairing a false 'ready'). */
  readonly redisEnds: readonly number[];
}

export interface RunResult {
  readonly store: StoreKind;
  readonly seconds: number;
  readonly devices: number;
  readonly deadTokens: number;
  readonly deadTokensProbed: number;
  readonly fault: Record<string, unknown>;
  readonly windows: readonly Window[];
  readonly ledger: Ledger;
  readonly rss: readonly RssSample[];
  readonly dir: string;
}

interface Fault {
  /** Inject the fault; resolves when it is over (the window's end is then that time plus recovery). */
  inject(ledger: Ledger): Promise<Record<string, unknown>>;
  cleanup(): Promise<void>;
  env: Record<string, string>;
}

async function redisFault(dir: string, options: RunOptions): Promise<Fault> {
  const redis = await RedisServer.start(dir);
  return {
    env: { SOAK_STORE: 'redis', SOAK_REDIS_URL: redis.url },
    async inject(ledger) {
      await redis.kill();
      await sleep(options.outageSeconds * 1000);
      await redis.restart();
      return { kind: 'redis-server SIGKILL, restarted', port: redis.port, restartedAt: ledger.now() };
    },
    cleanup: () => redis.stop(),
  };
}

async function postgresFault(): Promise<Fault> {
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  const table = `latchkey_soak_${tag}`;
  const applicationName = `latchkey-soak-${tag}`;
  const admin = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 2 });
  admin.on('error', () => {});
  // Made before the apps start, so two processes never race to create one table.
  await migratePostgres(admin, { table });
  return {
    env: { SOAK_STORE: 'postgres', SOAK_PG_TABLE: table, SOAK_PG_APPLICATION_NAME: applicationName },
    async inject(ledger) {
      const { rows } = await admin.query(
        'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      );
      const terminated = rows.filter((row) => row.ended === true).length;
      return { kind: 'pg_terminate_backend', applicationName, terminated, restartedAt: ledger.now() };
    },
    async cleanup() {
      await admin.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => {});
      await admin.end();
    },
  };
}

async function sampleRss(apps: readonly AppProcess[], ledger: Ledger): Promise<RssSample> {
  const stats = await Promise.all(
    apps.map(async (app) => {
      try {
        const response = await fetch(`${app.base}/__stats`, { signal: AbortSignal.timeout(5000) });
        return (await response.json()) as { rss: number; loopDelayMaxMs: number; redisEnds?: number };
      } catch {
        return { rss: Number.NaN, loopDelayMaxMs: Number.NaN, redisEnds: Number.NaN };
      }
    }),
  );
  return {
    at: ledger.now(),
    rss: stats.map((s) => s.rss),
    stallMs: stats.map((s) => s.loopDelayMaxMs),
    redisEnds: stats.map((s) => s.redisEnds ?? 0),
  };
}

export async function soakRun(options: RunOptions): Promise<RunResult> {
  const dir = runDir(options.keep);
  const fault = options.store === 'redis' ? await redisFault(dir, options) : await postgresFault();
  const env: Record<string, string> = { ...fault.env, LATCHKEY_KEYS: generateKeyLine('soak') };
  if (options.sabotage !== '') env.SOAK_SABOTAGE = options.sabotage;
  const apps = await Promise.all(['app-a', 'app-b'].map((name) => startApp(name, dir, env)));
  const ledger = new Ledger();
  const exits = apps.map((app) => {
    const onExit = (code: number | null, signal: string | null) =>
      ledger.find('app-exit', `${app.name} exited (${code ?? signal})`);
    app.child.once('exit', onExit);
    return () => app.child.removeListener('exit', onExit);
  });
  const dead: DeadToken[] = [];
  const deadline = options.seconds * 1000;
  const traffic: Traffic = { ledger, apps, dead, tabs: options.tabs, thinkMs: options.thinkMs, deadline };
  options.log(`${options.store}: ${apps.length} apps up, ${options.users} users, ${options.seconds} s`);

  let clientsDone = false;
  const rss: RssSample[] = [await sampleRss(apps, ledger)];
  const sampler = (async () => {
    while (!clientsDone) {
      await sleep(options.rssEverySeconds * 1000);
      rss.push(await sampleRss(apps, ledger));
    }
  })();
  let faultInfo: Record<string, unknown> = {};
  const faulting = (async () => {
    await sleep(deadline * 0.45);
    const window: Window = { what: options.store, start: ledger.now(), end: Number.POSITIVE_INFINITY };
    ledger.windows.push(window);
    options.log(`${options.store}: fault at ${(window.start / 1000).toFixed(1)} s`);
    faultInfo = await fault.inject(ledger);
    window.end = ledger.now() + options.recoverySeconds * 1000;
    options.log(`${options.store}: fault over at ${(ledger.now() / 1000).toFixed(1)} s`);
  })();
  const clients = runClients(traffic, options.users).finally(() => {
    clientsDone = true;
  });
  const probing = probeDead(traffic, () => clientsDone);
  const [{ devices }] = await Promise.all([clients, probing, faulting, sampler]);
  await probeAllDead(traffic);
  const restartedAt = Number(faultInfo.restartedAt);
  const servedAt = ledger.firstServedAfter(restartedAt, ['read', 'write', 'login']);
  if (servedAt !== undefined) faultInfo.servedAgainAfterMs = Math.round(servedAt - restartedAt);
  faultInfo.windowSeconds = ledger.windows.map((w) => [round1(w.start / 1000), round1(w.end / 1000)]);
  if (options.store === 'redis') {
    // How often redisStore reconnected an app's client found ready on a dead socket (docs/soak.md).
    faultInfo.clientsReconnectedByStore = rss.at(-1)?.redisEnds ?? [];
  }

  for (const forget of exits) forget();
  await Promise.all(apps.map((app) => stop(app.child)));
  await fault.cleanup();
  ledger.settle();
  return {
    store: options.store,
    seconds: options.seconds,
    devices,
    deadTokens: dead.length,
    deadTokensProbed: dead.filter((token) => token.probes > 0).length,
    fault: faultInfo,
    windows: ledger.windows,
    ledger,
    rss,
    dir,
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
