/**
 * The soak's virtual clients: users with one to three devices (browsers, each with its own cookie jar),
 * each device looping over sign-ins, reads, bursts of writes from parallel tabs, sign-outs and "sign out
 * everywhere", against either app process at random, as behind a load balancer.
 *
 * What is checked, matching what docs/concurrency.md promises in store mode:
 * - each tab of a device owns one top-level key (`t0`, `t1`, …) and adds one to it per write, one write
 *   at a time; tabs run in parallel, so the library merges concurrent commits of different keys. An
 *   acknowledged write (200) must be visible to every later read and write of that session: a read below
 *   it, or an increment that starts from below it, is a lost write;
 * - a session the soak signed in and did not end reads back signed in as its user (else: lost session);
 * - a token signed out or revoked (200) never works again, probed soon after and at the end (else:
 *   resurrected). Sign-ins, sign-outs and revocations of one user are serialized so that each one's
 *   outcome is known; reads and writes race them freely, and their answers are judged only if no
 *   sign-in, sign-out or revocation of that user happened while they were in flight.
 * A 503 (or no answer) leaves the outcome unknown: the device reads to learn where it stands.
 */

import { CookieJar } from './jar.ts';
import type { Ledger, Reply } from './ledger.ts';

export interface Target {
  readonly name: string;
  readonly base: string;
}

export interface DeadToken {
  readonly cookie: string;
  readonly user: string;
  readonly how: 'logout' | 'revoke-all' | 'observed';
  /** When the soak learned it was dead (ms since the start). */
  readonly diedAt: number;
  probes: number;
}

export interface Traffic {
  readonly ledger: Ledger;
  readonly apps: readonly Target[];
  readonly dead: DeadToken[];
  readonly tabs: number;
  readonly thinkMs: number;
  readonly deadline: number;
}

const TRACE = process.env.SOAK_TRACE === '1';
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One request as a browser sends it (behind a TLS proxy, so the __Host- cookie applies). */
export async function send(
  ledger: Ledger,
  app: Target,
  method: string,
  path: string,
  cookie: string | undefined,
): Promise<Reply> {
  const sentAt = ledger.now();
  try {
    const response = await fetch(`${app.base}${path}`, {
      method,
      headers: { 'x-forwarded-proto': 'https', ...(cookie === undefined ? {} : { cookie }) },
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let body: Record<string, unknown> | undefined;
    if (response.headers.get('content-type')?.startsWith('application/json')) body = JSON.parse(text);
    const setCookie = response.headers.getSetCookie();
    return { status: response.status, body, setCookie, sentAt, doneAt: ledger.now() };
  } catch {
    return { status: 0, body: undefined, setCookie: [], sentAt, doneAt: ledger.now() };
  }
}

class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.then(
      () => {},
      () => {},
    );
    return result;
  }
}

class User {
  readonly devices: Device[] = [];
  readonly lock = new Mutex();
  /**
   * Bumped at the start and at the end of every sign-in, sign-out or revocation of this user, so it is odd
   * while one runs. An answer is judged only if it was sent while none ran and none started before it came.
   */
  generation = 0;
  /** The generation to compare with once the answer is in; undefined: do not judge this one. */
  quiet(): number | undefined {
    return this.generation % 2 === 0 ? this.generation : undefined;
  }
  constructor(readonly id: string) {}
}

type State = 'out' | 'in' | 'unknown';

class Device {
  readonly jar = new CookieJar();
  state: State = 'out';
  /** Per tab: the highest counter value an acknowledged write returned in this session. */
  acked: number[];
  constructor(
    readonly user: User,
    readonly name: string,
    private readonly traffic: Traffic,
  ) {
    this.acked = new Array(traffic.tabs).fill(0);
  }

  private async call(kind: string, method: string, path: string): Promise<Reply> {
    const reply = await send(this.traffic.ledger, pick(this.traffic.apps), method, path, this.jar.header());
    this.traffic.ledger.record(kind, reply);
    if (TRACE) this.trace(kind, path, reply);
    if (reply.status > 0 && reply.status < 500) this.jar.apply(reply.setCookie);
    return reply;
  }

  /** SOAK_TRACE=1: one stderr line per request, the token shortened to its first characters. */
  private trace(kind: string, path: string, reply: Reply): void {
    const short = (cookie: string | undefined) => /lk=([^;]{6})/.exec(cookie ?? '')?.[1] ?? '-';
    const { status, body, setCookie, sentAt, doneAt } = reply;
    const fields = [
      this.name,
      kind,
      path,
      status,
      this.user.generation,
      this.state,
      short(this.jar.header()),
    ];
    fields.push(
      setCookie.map(short).join(',') || '-',
      JSON.stringify(body),
      Math.round(sentAt),
      Math.round(doneAt),
    );
    console.error('TRACE', ...fields);
  }

  private find(kind: Parameters<Ledger['find']>[0], detail: string): void {
    this.traffic.ledger.find(kind, `${this.name}: ${detail}`);
  }

  async run(): Promise<void> {
    const { deadline, thinkMs, ledger } = this.traffic;
    while (ledger.now() < deadline) {
      if (this.state === 'in') await this.step();
      else if (this.state === 'unknown') await this.read();
      else await this.lifecycle('login', () => this.login());
      await sleep(Math.random() * thinkMs);
    }
  }

  private async step(): Promise<void> {
    const roll = Math.random();
    if (roll < 0.45) await this.read();
    else if (roll < 0.88) await this.burst();
    else if (roll < 0.97) await this.lifecycle('logout', () => this.logout());
    else await this.lifecycle('revoke-all', () => this.revokeAll());
  }

  /**
   * Sign-ins, sign-outs and revocations of one user, one at a time. Each was chosen before it waited its
   * turn, and the ones before it may have changed this device meanwhile (another device's "sign out
   * everywhere" signs it out): it runs only if the device is still where it was chosen for. Without
   * this check, a "sign out everywhere" queued behind another device's went out on a dead token, revoked
   * nothing, and yet listed as dead the tokens of devices that had signed in again in between, which
   * the probes then found alive: the "resurrected" finding of issue 14.
   */
  private lifecycle(what: 'login' | 'logout' | 'revoke-all', task: () => Promise<void>): Promise<void> {
    const from: State = what === 'login' ? 'out' : 'in';
    return this.user.lock.run(async () => {
      if (this.state !== from) return;
      this.user.generation++;
      try {
        await task();
      } finally {
        this.user.generation++;
      }
    });
  }

  private async login(): Promise<void> {
    const reply = await this.call('login', 'POST', `/login?user=${this.user.id}`);
    if (reply.status === 200 && reply.body?.user === this.user.id) {
      this.state = 'in';
      this.acked.fill(0);
    } else if (reply.status === 200) {
      this.find('wrong-user', `login answered ${JSON.stringify(reply.body)}`);
    } else this.state = 'unknown';
  }

  private async logout(): Promise<void> {
    const cookie = this.jar.header();
    const reply = await this.call('logout', 'POST', '/logout');
    if (reply.status !== 200) {
      this.state = 'unknown';
      return;
    }
    this.state = 'out';
    if (cookie !== undefined)
      this.traffic.dead.push({
        cookie,
        user: this.user.id,
        how: 'logout',
        diedAt: this.traffic.ledger.now(),
        probes: 0,
      });
    this.jar.clear(); // the answer cleared the cookie; a browser that missed that would still hold it
  }

  private async revokeAll(): Promise<void> {
    const signedIn = this.user.devices.filter((device) => device.state === 'in');
    const cookies = signedIn.map((device) => device.jar.header());
    const reply = await this.call('revoke-all', 'POST', '/revoke-all');
    if (TRACE)
      console.error('TRACE', this.name, 'revoke-all captured', cookies.length, JSON.stringify(reply.body));
    const outcome = revokeAllOutcome(reply);
    if (outcome === 'nothing') {
      // The server took this device for signed out, so it revoked nothing: the other devices' tokens
      // were not revoked and must not be listed as dead (that made a false "resurrected" finding).
      this.find('lost-session', 'sign out everywhere from this device ended no session (revoked 0)');
      this.state = 'out';
      return;
    }
    for (const device of signedIn) device.state = outcome === 'revoked' ? 'out' : 'unknown';
    if (outcome !== 'revoked') return;
    for (const cookie of cookies)
      if (cookie !== undefined)
        this.traffic.dead.push({
          cookie,
          user: this.user.id,
          how: 'revoke-all',
          diedAt: this.traffic.ledger.now(),
          probes: 0,
        });
  }

  /** A read, judged against the writes acknowledged before it was sent. */
  async read(kind = 'read'): Promise<void> {
    const generation = this.user.quiet();
    const state = this.state;
    const expected = [...this.acked];
    const reply = await this.call(kind, 'GET', '/read');
    if (reply.status !== 200 || generation !== this.user.generation || state !== this.state) return;
    const user = reply.body?.user ?? null;
    const tabs = (reply.body?.tabs ?? {}) as Record<string, number>;
    if (state === 'unknown') {
      // A 503 left the outcome open; whichever it was, this read says where the device stands. A token
      // that reads as signed out is dead from now on, like any other.
      this.state = user === this.user.id ? 'in' : 'out';
      const cookie = this.jar.header();
      if (user === null && cookie !== undefined)
        this.traffic.dead.push({
          cookie,
          user: this.user.id,
          how: 'observed',
          diedAt: this.traffic.ledger.now(),
          probes: 0,
        });
      if (user !== null && user !== this.user.id) this.find('wrong-user', `read as ${String(user)}`);
      return;
    }
    if (user === null) {
      this.find('lost-session', `a signed-in session reads as signed out (${kind})`);
      this.state = 'out';
      return;
    }
    if (user !== this.user.id) this.find('wrong-user', `read as ${String(user)}`);
    expected.forEach((value, tab) => {
      const seen = tabs[`t${tab}`] ?? 0;
      if (seen < value) this.find('lost-write', `tab ${tab} reads ${seen} after ${value} was acknowledged`);
    });
  }

  /** Parallel tabs: each writes one to three times in a row; sometimes a read runs beside them. */
  private async burst(): Promise<void> {
    const count = 2 + Math.floor(Math.random() * (this.traffic.tabs - 1));
    const tabs = [...Array(this.traffic.tabs).keys()].sort(() => Math.random() - 0.5).slice(0, count);
    const work = tabs.map(async (tab) => {
      const writes = 1 + Math.floor(Math.random() * 3);
      for (let i = 0; i < writes && this.state === 'in'; i++) await this.write(tab);
    });
    if (Math.random() < 0.3) work.push(this.read('read-beside-writes'));
    await Promise.all(work);
  }

  private async write(tab: number): Promise<void> {
    const generation = this.user.quiet();
    const before = this.acked[tab] ?? 0;
    const reply = await this.call('write', 'POST', `/write?tab=${tab}`);
    if (reply.status !== 200 || generation !== this.user.generation || this.state !== 'in') return;
    const user = reply.body?.user ?? null;
    if (user === null) {
      this.find('lost-session', 'a signed-in session writes as signed out');
      this.state = 'out';
      return;
    }
    const value = Number(reply.body?.value);
    // The increment started from what the server loaded: below an acknowledged value, a write was lost.
    if (!(value > before)) this.find('lost-write', `tab ${tab} incremented to ${value} after ${before}`);
    this.acked[tab] = Math.max(this.acked[tab] ?? 0, value);
  }

  /** At the end: every session still signed in reads back, on each app, with all its writes. */
  async verify(): Promise<void> {
    for (let i = 0; i < this.traffic.apps.length * 2 && this.state === 'in'; i++)
      await this.read('final-read');
  }
}

/**
 * What a "sign out everywhere" answer says: `revoked` (every session of the user, this device's
 * included, so at least one), `nothing` (answered, but the server knew no signed-in session on this
 * device: the soak's view of it was wrong, and nothing was revoked), or `unknown` (no answer, a 503).
 */
export function revokeAllOutcome(reply: Reply): 'revoked' | 'nothing' | 'unknown' {
  if (reply.status !== 200) return 'unknown';
  return Number(reply.body?.revoked) >= 1 ? 'revoked' : 'nothing';
}

/** `users` users with one to three devices each; resolves when the deadline passes, after a final check. */
export async function runClients(traffic: Traffic, users: number): Promise<{ devices: number }> {
  const all: Device[] = [];
  for (let u = 0; u < users; u++) {
    const user = new User(`u${u}`);
    const count = 1 + (u % 3);
    for (let d = 0; d < count; d++) {
      const device = new Device(user, `${user.id}/d${d}`, traffic);
      user.devices.push(device);
      all.push(device);
    }
  }
  await Promise.all(all.map((device) => device.run()));
  await Promise.all(all.map((device) => device.verify()));
  return { devices: all.length };
}

/**
 * Try dead tokens until the deadline: each soon after it died (the newest first), then any at random.
 * A 200 that names a user is a resurrection; 503s in an outage are retried later.
 */
export async function probeDead(traffic: Traffic, until: () => boolean): Promise<void> {
  const { dead, ledger, apps } = traffic;
  while (!until()) {
    const fresh = dead.findLast((token) => token.probes === 0);
    const token = fresh ?? (dead.length > 0 ? pick(dead) : undefined);
    if (token !== undefined) await probe(ledger, pick(apps), token);
    await sleep(fresh === undefined ? 50 : 5);
  }
}

/** Every dead token, on every app: the last word on resurrection. */
export async function probeAllDead(traffic: Traffic): Promise<void> {
  const queue = [...traffic.dead];
  const worker = async () => {
    for (let token = queue.pop(); token !== undefined; token = queue.pop())
      for (const app of traffic.apps) await probe(traffic.ledger, app, token, 'final-probe');
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function probe(ledger: Ledger, app: Target, token: DeadToken, kind = 'probe'): Promise<void> {
  const reply = await send(ledger, app, 'GET', '/read', token.cookie);
  ledger.record(kind, reply);
  if (reply.status !== 200) return;
  token.probes++;
  const user = reply.body?.user ?? null;
  if (TRACE)
    console.error('TRACE', 'probe', token.how, token.user, user, /lk=([^;]{6})/.exec(token.cookie)?.[1]);
  if (user !== null) {
    const died = `dead since ${(token.diedAt / 1000).toFixed(1)} s, ${token.probes - 1} answers before`;
    ledger.find(
      'resurrected',
      `${token.how} token of ${token.user} works on ${app.name} as ${user} (${died})`,
    );
  }
}
