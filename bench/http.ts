/**
 * Cookie sessions under HTTP load: requests per second and p99 latency of one handler (read a counter
 * from the session, add one, write it back, answer it as JSON) on node:http, Express 5, Fastify 5 and
 * Hono, with Latchkey, with the popular session libraries of each, with a hand-written AES-256-GCM
 * cookie (the practical limit) and with no session at all (each framework's baseline), in one run.
 * Informational only: nothing here fails a build, and a missed target exits 0.
 *
 *   npm run bench:http              # 3 interleaved rounds of 1 s warm-up + 3 s per configuration, ~5 min
 *   npm run bench:http -- --quick   # 1 round of 1 s + 2 s: a smoke run, not numbers to quote
 *   npm run bench:http -- --json    # the same measurements as JSON on stdout
 *   npm run bench:http -- --only=express,lk-http   # only configurations whose id contains one of the texts
 *   npm run bench:http -- --source  # Latchkey from src/ through tsx instead of a fresh dist/ build
 *
 * Each configuration runs bench/http-server.ts in a child process and drives it from another child
 * process (bench/http-load.ts, autocannon). See bench/README.md for the method and how to read the
 * output.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  backgroundLoad,
  cookieOf,
  errorCount,
  inRunOrder,
  int,
  logger,
  machine,
  machineLine,
  median,
  packageVersions,
  parseFlags,
  perRoundRatios,
  prepareLatchkey,
  type RunningServer,
  roundOrder,
  roundsOf,
  serverCpuUsPerReq,
  startLoad,
  startServer,
  times,
  trackChildren,
  withLoadAndServer,
} from './common.ts';
import {
  CONFIGS,
  type CounterBody,
  type HttpConfig,
  type LoadInput,
  type LoadResult,
  REFERENCES,
  RUN_ORDER,
  TARGETS,
  type Target,
} from './http-configs.ts';

const flags = parseFlags('http', process.argv.slice(2), true);
// autocannon stops on its 1-second sample tick, so durations are whole seconds.
const options = flags.quick
  ? { ...flags, rounds: 1, warmupSec: 1, durationSec: 2, connections: 10 }
  : { ...flags, rounds: 3, warmupSec: 1, durationSec: 3, connections: 10 };
const log = logger(options.json);

const SERVER = fileURLToPath(new URL('./http-server.ts', import.meta.url));
const LOAD = fileURLToPath(new URL('./http-load.ts', import.meta.url));

const children = trackChildren('http.ts');

// ---------------------------------------------------------------------------------------------------
// One server

function startHttpServer(config: HttpConfig): Promise<RunningServer> {
  return startServer(children, SERVER, [config.id]);
}

interface Answer {
  readonly status: number;
  readonly n: number | undefined;
  readonly setCookie: string[];
}

async function get(url: string, cookie?: string): Promise<Answer> {
  const response = await fetch(url, { headers: cookie ? { cookie } : {} });
  const text = await response.text();
  let n: number | undefined;
  try {
    const parsed = JSON.parse(text) as CounterBody;
    n = typeof parsed.n === 'number' ? parsed.n : undefined;
  } catch {}
  return { status: response.status, n, setCookie: response.headers.getSetCookie() };
}

interface Check {
  readonly ok: boolean;
  readonly text: string;
}

/**
 * Before any load: a first request without a cookie must answer n = 1 and set a cookie; the same
 * request with that cookie must answer 2 and set a cookie again, and with the second cookie 3. So the
 * session is read, changed and written back, and a Set-Cookie goes out on every response.
 */
async function checkSession(base: string): Promise<Check> {
  const first = await get(`${base}/`);
  const second = await get(`${base}/`, cookieOf(first.setCookie));
  const third = await get(`${base}/`, cookieOf(second.setCookie));
  const answers = [first, second, third];
  const counts = answers.map((a) => (a.status === 200 ? String(a.n) : `HTTP ${a.status}`)).join(' → ');
  const lines = answers.map((a) => a.setCookie.length);
  const ok = answers.every((a, i) => a.status === 200 && a.n === i + 1 && a.setCookie.length > 0);
  const changes = cookieOf(first.setCookie) !== cookieOf(second.setCookie) ? 'new value' : 'same value';
  const size = Math.max(...second.setCookie.map((line) => line.length), 0);
  return {
    ok,
    text:
      `n ${counts}; Set-Cookie lines per response ${lines.join('/')} (${changes} each time, ` +
      `longest line ${size} chars)`,
  };
}

/** A configuration without a session must simply answer 200 with a counter. */
async function checkPlain(base: string): Promise<Check> {
  const answer = await get(`${base}/`);
  const ok = answer.status === 200 && answer.n !== undefined && answer.setCookie.length === 0;
  return { ok, text: `HTTP ${answer.status}, n ${answer.n}, Set-Cookie lines ${answer.setCookie.length}` };
}

/** The cookie each connection sends: a session made by one first request each (n = 1). */
async function sessionCookies(base: string, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const first = await get(`${base}/`);
      const cookie = cookieOf(first.setCookie);
      if (first.status !== 200 || first.n !== 1 || cookie === '') {
        throw new Error(`connection ${i}: first request answered ${first.status}, n ${first.n}, no cookie?`);
      }
      return cookie;
    }),
  );
}

/**
 * The no-session baselines send a cookie too, of about a session cookie's size, so every request is
 * about the same size on the wire (nothing reads it).
 */
const PLAIN_COOKIE = `sid=${randomBytes(96).toString('base64url')}`;

// ---------------------------------------------------------------------------------------------------
// One measured run

interface RunResult {
  readonly round: number;
  readonly load: LoadResult;
  readonly check: Check;
  readonly serverStderr: string;
}

/** Thrown when the correctness check fails: the configuration is excluded from the results. */
class CheckFailed extends Error {}

function runOne(config: HttpConfig, round: number): Promise<RunResult> {
  return withLoadAndServer(
    () => startLoad<LoadInput, LoadResult>(children, LOAD),
    () => startHttpServer(config),
    async (loader, server) => {
      const check = config.session ? await checkSession(server.base) : await checkPlain(server.base);
      if (!check.ok) throw new CheckFailed(`correctness check failed: ${check.text}`);
      const cookies = config.session
        ? await sessionCookies(server.base, options.connections)
        : Array.from({ length: options.connections }, () => PLAIN_COOKIE);
      const load = await loader.run({
        url: `${server.base}/`,
        cookies,
        warmupSec: options.warmupSec,
        durationSec: options.durationSec,
        serverPid: server.child.pid!,
      });
      return { round, load, check, serverStderr: server.stderr() };
    },
  );
}

// ---------------------------------------------------------------------------------------------------
// Statistics and printing

const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);

interface ConfigSummary {
  readonly id: string;
  readonly label: string;
  readonly status: 'ok' | 'failed' | 'not run';
  readonly note: string | undefined;
  readonly check: string | undefined;
  readonly runs: RunResult[];
  readonly reqPerSec: number | undefined;
  readonly p99Ms: number | undefined;
  readonly serverCpuUsPerReq: number | undefined;
  readonly bytesPerResponse: number | undefined;
  readonly errors: number;
  /** req/s ÷ the same framework's no-session req/s: the median of the per-round ratios. */
  readonly vsFramework: number | undefined;
}

/**
 * The median of the per-round ratios: both sides of each were timed moments apart, so a machine that
 * drifts between rounds (a shared VM) moves both alike. A ratio of medians could pair rounds far apart.
 */
function pairedRatio(a: readonly RunResult[], b: readonly RunResult[]): number | undefined {
  const ratios = perRoundRatios(a, b);
  return ratios.length ? median(ratios) : undefined;
}

function printTable(summaries: readonly ConfigSummary[]): void {
  log(
    `\n${'configuration'.padEnd(41)}${'req/s'.padStart(7)} ${'rounds'.padEnd(27)}${'p99 ms'.padStart(6)} ` +
      `${'rounds'.padEnd(22)}${'µs/req'.padStart(7)}${'B/resp'.padStart(7)}${'errors'.padStart(7)}` +
      `${'vs framework'.padStart(13)}`,
  );
  for (const s of summaries) {
    if (s.reqPerSec === undefined) {
      log(`${s.label.padEnd(41)}${s.status.padStart(7)}  ${s.note?.split('\n')[0] ?? ''}`);
      continue;
    }
    const config = CONFIGS.find((c) => c.id === s.id)!;
    const ratio =
      config.baseline === s.id ? '1.00×' : s.vsFramework === undefined ? '–' : times(s.vsFramework);
    log(
      `${s.label.padEnd(41)}${int(s.reqPerSec).padStart(7)} ` +
        `${roundsOf(s.runs, (r) => int(r.load.reqPerSec)).padEnd(27)}${ms(s.p99Ms ?? 0).padStart(6)} ` +
        `${roundsOf(s.runs, (r) => ms(r.load.p99Ms)).padEnd(22)}` +
        `${(s.serverCpuUsPerReq === undefined ? '–' : int(s.serverCpuUsPerReq)).padStart(7)}` +
        `${int(s.bytesPerResponse ?? 0).padStart(7)}${String(s.errors).padStart(7)}${ratio.padStart(13)}` +
        `${s.errors > 0 ? ' !' : ''}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const packages = packageVersions([
    'express',
    'fastify',
    'hono',
    'express-session',
    'cookie-session',
    'iron-session',
    '@fastify/secure-session',
    'autocannon',
  ]);
  const env = { ...machine(), packages: packages.versions, busyBeforePct: null as number | null };
  const method = {
    rounds: options.rounds,
    runOrder: RUN_ORDER,
    warmupSec: options.warmupSec,
    durationSec: options.durationSec,
    connections: options.connections,
    pipelining: 1,
    quick: options.quick,
  };
  log('Latchkey HTTP benchmark: cookie sessions under load (bench/http.ts)');
  log(machineLine(env));
  log(packages.line);
  prepareLatchkey(options.source, log);
  log(
    `  ${options.rounds} round(s); each configuration: its own server process, checked first, then ` +
      `${options.connections} keep-alive\n  connections (one session cookie each) from another process ` +
      `for ${options.warmupSec} s warm-up + ${options.durationSec} s measured; every request\n  GET / opens ` +
      'the session, increments a counter, seals it again and answers {"n":…} with a new Set-Cookie',
  );
  if (options.quick) log('  --quick: a smoke run; do not quote these numbers');
  env.busyBeforePct = await backgroundLoad(log, env.cores);

  const wanted = (id: string) => options.only === undefined || options.only.some((text) => id.includes(text));
  const selected = CONFIGS.filter(
    (c) => wanted(c.id) || CONFIGS.some((o) => o.baseline === c.id && o.id !== c.id && wanted(o.id)),
  );
  const order = inRunOrder(RUN_ORDER, selected);
  const runs = new Map<string, RunResult[]>(selected.map((c) => [c.id, []]));
  /** Configurations that failed (their message): excluded from the rest of the run and the results. */
  const failed = new Map<string, string>();
  const checks = new Map<string, string>();

  for (let round = 1; round <= options.rounds; round++) {
    log(`\nround ${round}/${options.rounds}`);
    for (const config of roundOrder(order, round)) {
      if (children.stopping) break;
      if (failed.has(config.id)) continue;
      try {
        const run = await runOne(config, round);
        runs.get(config.id)!.push(run);
        if (!checks.has(config.id)) checks.set(config.id, run.check.text);
        const l = run.load;
        const errors = errorCount(l);
        log(
          `  ${config.label.padEnd(41)}${int(l.reqPerSec).padStart(7)} req/s  p99 ${ms(l.p99Ms).padStart(5)} ms` +
            `  ${int(l.bytesPerResponse).padStart(4)} B/resp  errors ${errors}`,
        );
        if (errors > 0 || run.serverStderr.trim()) {
          if (errors > 0) log(`    ! non-2xx ${l.non2xx}, errors ${l.errors}, timeouts ${l.timeouts}`);
          for (const line of run.serverStderr.trim().split('\n').slice(0, 3)) log(`    ! server: ${line}`);
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failed.set(config.id, message);
        log(`  ${config.label.padEnd(41)}FAILED: ${message}`);
      }
    }
  }
  if (children.stopping) return;

  const medianRate = (id: string) => {
    const r = runs.get(id) ?? [];
    return r.length ? median(r.map((x) => x.load.reqPerSec)) : undefined;
  };
  const baselineRuns = (id: string) => (failed.has(id) ? [] : (runs.get(id) ?? []));
  const summaries: ConfigSummary[] = selected.map((c) => {
    const r = runs.get(c.id)!;
    const failure = failed.get(c.id);
    const reqPerSec = failure !== undefined ? undefined : medianRate(c.id);
    return {
      id: c.id,
      label: c.label,
      status: failure !== undefined ? 'failed' : r.length ? 'ok' : 'not run',
      note: failure,
      check: checks.get(c.id),
      runs: failure !== undefined ? [] : r,
      reqPerSec,
      p99Ms: reqPerSec === undefined ? undefined : median(r.map((x) => x.load.p99Ms)),
      serverCpuUsPerReq: reqPerSec === undefined ? undefined : serverCpuUsPerReq(r),
      bytesPerResponse: reqPerSec === undefined ? undefined : median(r.map((x) => x.load.bytesPerResponse)),
      errors: r.reduce((sum, x) => sum + errorCount(x.load), 0),
      vsFramework: reqPerSec === undefined ? undefined : pairedRatio(r, baselineRuns(c.baseline)),
    };
  });

  log('\nCorrectness checks (before the load; a configuration that fails one is excluded):');
  for (const s of summaries) {
    log(`  ${s.label.padEnd(41)}${s.check ?? `${s.status}: ${s.note?.split('\n')[0] ?? ''}`}`);
  }

  log(
    `\nResults: ${options.rounds > 1 ? `median of ${options.rounds} rounds, each round in brackets` : '1 round'}` +
      `; ${options.connections} connections`,
  );
  printTable(summaries);
  log(
    '\n  req/s: responses ÷ measured seconds. p99 ms: the 99th percentile of every response time. µs/req: the' +
      "\n  server process's CPU time (all its threads) per response. B/resp: bytes read per response (status" +
      '\n  line, headers, body): the Set-Cookie is in it. vs framework: req/s ÷ the same framework without a session,' +
      '\n  the median of the per-round ratios (as for the targets below).',
  );

  const byId = new Map(summaries.map((s) => [s.id, s]));
  const judge = (t: Target) => {
    const subject = t.subject.map((id) => byId.get(id)).find((s) => s?.reqPerSec !== undefined);
    const against = byId.get(t.against);
    const perRound = subject && against ? perRoundRatios(subject.runs, against.runs) : [];
    const value = perRound.length ? median(perRound) : undefined;
    return {
      label: t.label,
      subject: subject?.id ?? null,
      against: t.against,
      threshold: t.ratio,
      value: value ?? null,
      perRound,
      pass: value !== undefined && value >= t.ratio,
    };
  };
  const targets = TARGETS.map(judge);
  const references = REFERENCES.map(judge).filter((r) => r.value !== null);
  log('\nTargets (issue), the median of the per-round req/s ratios; informational, never a failure:');
  for (const t of targets) printVerdict(t);
  if (references.length > 0) {
    log(
      "\nFor context, hand-written cookies (the practical limit, and the same with only the musts) in Latchkey's place:",
    );
    for (const t of references) printVerdict(t);
  }

  function printVerdict(t: ReturnType<typeof judge>): void {
    const verdict = t.value === null ? 'n/a ' : t.pass ? 'PASS' : 'MISS';
    const using = t.subject === null ? '' : `${t.subject} ÷ ${t.against}: `;
    const cpu = (id: string | null) => (id === null ? undefined : byId.get(id)?.serverCpuUsPerReq);
    const cpuA = cpu(t.subject);
    const cpuB = cpu(t.against);
    log(
      `  ${verdict}  ${t.label} (${using}${t.value === null ? 'not measured' : times(t.value)}` +
        `${t.perRound.length > 1 ? `; per round ${t.perRound.map(times).join(', ')}` : ''}` +
        `${cpuA !== undefined && cpuB !== undefined ? `; server µs/req ${int(cpuA)} vs ${int(cpuB)}` : ''})`,
    );
  }

  if (options.json) {
    const output = {
      env,
      method,
      results: summaries.map(({ runs: r, ...rest }) => ({ ...rest, rounds: r })),
      targets,
      references,
    };
    process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  }
}

try {
  await main();
} finally {
  children.killAll();
}
