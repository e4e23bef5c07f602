/**
 * The soak's own bookkeeping (scripts/soak): which answers count as the outage working, which fail the
 * run, and the cookie jar its virtual clients keep. The soak itself runs in `npm run soak` and in CI
 * (`--short`); `--sabotage` shows it catching a broken app (docs/soak.md).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { hasExited, stopChild } from '../scripts/soak/child.ts';
import { revokeAllOutcome } from '../scripts/soak/clients.ts';
import { CookieJar } from '../scripts/soak/jar.ts';
import { Ledger, type Reply } from '../scripts/soak/ledger.ts';

const reply = (status: number, sentAt: number, doneAt: number): Reply => ({
  status,
  body: undefined,
  setCookie: [],
  sentAt,
  doneAt,
});

test('a 503 or a missing answer overlapping an outage window is expected; anything else 5xx is a finding', () => {
  const ledger = new Ledger();
  ledger.windows.push({ what: 'redis', start: 1000, end: 2000 });
  ledger.record('read', reply(503, 900, 1001)); // sent before the fault, answered in it
  ledger.record('read', reply(503, 1999, 2500)); // sent at the very end of the window
  ledger.record('write', reply(0, 1500, 1600)); // no answer while the server was down
  ledger.record('read', reply(200, 1200, 1300));
  ledger.settle();
  assert.equal(ledger.findings.length, 0, 'the outage as documented fails nothing');

  ledger.record('write', reply(500, 1500, 1600)); // inside, but not the outage answer
  ledger.record('read', reply(503, 2001, 2100)); // after the window
  ledger.record('login', reply(502, 10, 20));
  ledger.record('read', reply(0, 5000, 5100)); // an app that stopped answering
  ledger.settle();
  assert.deepEqual(
    ledger.findings.map((finding) => finding.kind),
    ['5xx-outside-window', '5xx-outside-window', '5xx-outside-window', 'no-answer'],
  );
});

test('latency figures leave the outage window out; service is back at the first answer below 500', () => {
  const ledger = new Ledger();
  ledger.windows.push({ what: 'redis', start: 1000, end: 2000 });
  for (let i = 0; i < 99; i++) ledger.record('read', reply(200, i * 10, i * 10 + 5));
  ledger.record('read', reply(200, 3000, 3040));
  ledger.record('read', reply(503, 1500, 1900)); // in the window: not in the latency figures
  const summary = ledger.summary();
  assert.deepEqual(summary.latencyOutsideWindows.all, { count: 100, p50: 5, p99: 40, max: 40 });
  assert.deepEqual(summary.statuses, { 200: 100, 503: 1 });
  assert.equal(ledger.firstServedAfter(1400, ['read']), 3040);
  assert.equal(ledger.firstServedAfter(1400, ['write']), undefined);
});

test('the jar keeps the last value of each cookie and drops one cleared by Max-Age=0 or a past Expires', () => {
  const jar = new CookieJar();
  assert.equal(jar.header(), undefined);
  jar.apply(['__Host-lk=one; Path=/; Secure; HttpOnly; SameSite=Lax', 'other=x; Max-Age=60']);
  jar.apply(['__Host-lk=two; Path=/; Secure']);
  assert.equal(jar.header(), '__Host-lk=two; other=x');
  jar.apply(['other=; Max-Age=0']);
  assert.equal(jar.header(), '__Host-lk=two');
  jar.apply(['__Host-lk=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT']);
  assert.equal(jar.header(), undefined);
  jar.apply(['no-equals-sign', '=nameless']);
  assert.equal(jar.header(), undefined);
});

test('stopChild ends a paused process (SIGSTOP) by its SIGTERM handler, without waiting for the SIGKILL grace', async () => {
  // Like redis-server: a SIGTERM handler, which a stopped process runs only once it is continued.
  const script =
    "process.on('SIGTERM', () => process.exit(7)); setInterval(() => {}, 1000); console.log('up')";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  child.kill('SIGSTOP');
  const started = Date.now();
  await stopChild(child, 20_000);
  assert.ok(hasExited(child));
  assert.equal(child.exitCode, 7, 'its own SIGTERM handler ran: it was resumed, not killed');
  assert.ok(Date.now() - started < 5000);
});

test('"sign out everywhere" that ended no session revoked nothing: its captured tokens are not dead', () => {
  const answer = (status: number, body?: Record<string, unknown>): Reply => ({
    ...reply(status, 0, 1),
    body,
  });
  assert.equal(revokeAllOutcome(answer(200, { user: null, revoked: 3 })), 'revoked');
  // Sent from a device the server took for signed out (its token was dead): the other devices' tokens
  // live on, and listing them as dead made a false "resurrected" finding (issue 14).
  assert.equal(revokeAllOutcome(answer(200, { user: null, revoked: 0 })), 'nothing');
  assert.equal(revokeAllOutcome(answer(200)), 'nothing');
  assert.equal(revokeAllOutcome(answer(503)), 'unknown');
  assert.equal(revokeAllOutcome(answer(0)), 'unknown');
});
