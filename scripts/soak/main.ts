/**
 * `npm run soak`: Latchkey's store mode under mixed traffic with faults, on Redis and on PostgreSQL.
 * Two app processes (scripts/soak/app.ts) share one store; virtual clients keeping cookies sign in, read,
 * write from parallel tabs, sign out and revoke; mid-run the soak SIGKILLs the Redis server it started and
 * restarts it, or terminates the apps' PostgreSQL connections. It fails (exit 1) on any lost write, lost
 * session, resurrected token, wrong user, app crash, or 5xx outside the outage windows. docs/soak.md.
 *
 *   npm run soak                        # 10 minutes on Redis, then 10 on PostgreSQL
 *   npm run soak -- --minutes 2         # 2 minutes each
 *   npm run soak -- --short             # about 60 s for both (what .ci/run runs)
 *   npm run soak -- --store redis       # one store only (redis | postgres)
 *   npm run soak -- --users 40          # virtual users (one to three devices each; default 30, short 12)
 *   npm run soak -- --json              # the summary as JSON on stdout as well
 *   npm run soak -- --keep              # keep the run directory (app logs, Redis files)
 *   npm run soak -- --sabotage lose-writes   # break the apps on purpose: the soak must fail
 */
import { parseArgs } from 'node:util';
import { type RunOptions, type RunResult, type StoreKind, soakRun } from './run.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    short: { type: 'boolean', default: false },
    store: { type: 'string', default: 'both' },
    users: { type: 'string' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    sabotage: { type: 'string', default: '' },
  },
});

function fail(message: string): never {
  console.error(`soak: ${message}`);
  process.exit(2);
}

const minutes = values.minutes === undefined ? 10 : Number(values.minutes);
if (!(minutes > 0 && minutes <= 24 * 60)) fail('--minutes takes a number of minutes above 0');
const stores: StoreKind[] =
  values.store === 'both' ? ['redis', 'postgres'] : [values.store as StoreKind].filter(Boolean);
if (!stores.every((store) => store === 'redis' || store === 'postgres'))
  fail('--store takes redis, postgres or both');
if (!['', 'lose-writes', 'resurrect'].includes(values.sabotage)) fail('--sabotage: lose-writes or resurrect');
const users = Number(values.users ?? (values.short ? 12 : 30));
if (!Number.isSafeInteger(users) || users < 1 || users > 10_000) fail('--users takes a whole number');

const log = (line: string) => (values.json ? console.error(line) : console.log(line));
const base: Omit<RunOptions, 'store'> = values.short
  ? { seconds: 20, outageSeconds: 3, recoverySeconds: 4, rssEverySeconds: 2, ...common() }
  : { seconds: minutes * 60, outageSeconds: 10, recoverySeconds: 5, rssEverySeconds: 15, ...common() };

function common() {
  return { users, tabs: 4, thinkMs: 400, sabotage: values.sabotage, keep: values.keep, log };
}

const mb = (bytes: number | undefined) =>
  bytes === undefined || Number.isNaN(bytes) ? '-' : (bytes / 2 ** 20).toFixed(1);

function report(result: RunResult) {
  const summary = result.ledger.summary();
  const findings = result.ledger.findings;
  const count = (kind: string) => findings.filter((finding) => finding.kind === kind).length;
  const rssRows = result.rss.map((sample) => [
    Math.round(sample.at / 1000),
    ...sample.rss.map(mb),
    ...sample.stallMs.map((ms) => (Number.isNaN(ms) ? '-' : String(ms))),
  ]);
  const stalls = result.rss.flatMap((sample) => sample.stallMs).filter((ms) => !Number.isNaN(ms));
  const step = Math.max(1, Math.ceil(rssRows.length / 12));
  // Every step-th row, its stall columns the longest over the rows it stands for.
  const shownRss = rssRows.flatMap((row, i) => {
    if (i % step !== 0 && i !== rssRows.length - 1) return [];
    const covered = result.rss.slice(Math.max(0, i - step + 1), i + 1);
    const stall = (app: number) => Math.max(...covered.map((sample) => sample.stallMs[app] ?? Number.NaN));
    return [[...row.slice(0, 3), String(stall(0)), String(stall(1))]];
  });
  const all = summary.latencyOutsideWindows.all;
  log('');
  log(`== ${result.store}: ${result.seconds} s, ${result.devices} devices, ${summary.requests} requests`);
  log(`   statuses: ${JSON.stringify(summary.statuses)}`);
  log(`   fault: ${JSON.stringify(result.fault)}`);
  log(`   inside the window: ${JSON.stringify(summary.insideWindows)}`);
  log(`   latency outside the window (ms): p50 ${all.p50}, p99 ${all.p99}, max ${all.max}`);
  for (const [kind, l] of Object.entries(summary.latencyOutsideWindows))
    if (kind !== 'all') log(`     ${kind.padEnd(20)} n=${l.count} p50 ${l.p50} p99 ${l.p99} max ${l.max}`);
  log(`   dead tokens: ${result.deadTokens} (${result.deadTokensProbed} probed with an answer)`);
  log(`   longest event-loop stall of an app: ${Math.max(0, ...stalls)} ms`);
  log('   RSS (MB) and longest stall (ms) since the previous row:');
  log('              t(s)   app-a   app-b  stall-a stall-b');
  for (const [at, ...rss] of shownRss)
    log(`            ${String(at).padStart(4)} ${rss.map((r) => String(r).padStart(7)).join(' ')}`);
  const kinds = [
    'lost-write',
    'lost-session',
    'resurrected',
    'wrong-user',
    '5xx-outside-window',
    'no-answer',
    'app-exit',
  ];
  log(`   findings: ${kinds.map((kind) => `${kind} ${count(kind)}`).join(', ')}`);
  for (const finding of findings.slice(0, 20))
    log(`     ! ${finding.kind} at ${(finding.at / 1000).toFixed(1)} s: ${finding.detail}`);
  if (findings.length > 20) log(`     … and ${findings.length - 20} more`);
  if (values.keep) log(`   run directory: ${result.dir}`);
  return {
    store: result.store,
    seconds: result.seconds,
    devices: result.devices,
    ...summary,
    fault: result.fault,
    deadTokens: result.deadTokens,
    deadTokensProbed: result.deadTokensProbed,
    rssMbAndStallMs: rssRows,
    longestStallMs: Math.max(0, ...stalls),
    findings: Object.fromEntries(kinds.map((kind) => [kind, count(kind)])),
    passed: findings.length === 0,
  };
}

const results = [];
for (const store of stores) results.push(report(await soakRun({ ...base, store })));
if (values.json) console.log(JSON.stringify(results, null, 2));
const passed = results.every((result) => result.passed);
log('');
log(passed ? 'soak: passed' : 'soak: FAILED');
process.exit(passed ? 0 : 1);
