/**
 * Seal+open throughput: Latchkey's cookie seal (XAES-256-GCM) against a hand-written AES-256-GCM floor
 * and iron-session, on the same payloads, in one run; the same pair on WebCrypto (Latchkey's async
 * backend against raw crypto.subtle AES-256-GCM); plus two rows outside the headline ratios: the
 * full session load+commit path, and the raw floor with pooled IVs. Informational only: nothing here
 * fails a build, and no test asserts speed.
 *
 *   npm run bench:seal              # 7 interleaved rounds of ~300 ms per contender and payload
 *   npm run bench:seal -- --quick   # 3 rounds of ~100 ms: a smoke run, not numbers to quote
 *   npm run bench:seal -- --json    # the same measurements as JSON on stdout
 *
 * See bench/README.md for how the numbers are taken and how to read them.
 */

import { createCipheriv, createDecipheriv, randomBytes, randomFillSync, webcrypto } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { sealData, unsealData } from 'iron-session';
import { createSessions, type Sessions } from '../src/core/sessions.ts';
import { createKeyring, type Keyring } from '../src/crypto/keyring.ts';
import { openValue, openValueAsync, sealValue, sealValueAsync } from '../src/crypto/seal.ts';
import { int, machine, machineLine, median, packageVersion, parseFlags, times } from './common.ts';

// ---------------------------------------------------------------------------------------------------
// Options

interface Config {
  readonly quick: boolean;
  readonly json: boolean;
  readonly rounds: number;
  readonly roundMs: number;
  readonly warmupMs: number;
}

function parseArgs(argv: readonly string[]): Config {
  const { quick, json } = parseFlags('seal', argv, false);
  return quick
    ? { quick, json, rounds: 3, roundMs: 100, warmupMs: 150 }
    : { quick, json, rounds: 7, roundMs: 300, warmupMs: 500 };
}

// ---------------------------------------------------------------------------------------------------
// Payloads: what an app keeps in a session cookie

const COOKIE_NAME = '__Host-lk';

function smallPayload(): Record<string, unknown> {
  return {
    userId: 'usr_01HZX3K9T2Q8M4V6B7N5C1D0EF',
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    roles: ['customer', 'beta'],
    locale: 'en-GB',
    theme: 'dark',
    csrf: 'Zk3r9QnW2xYp7LmT4vB8sD1a',
    visits: 42,
  };
}

function largePayload(): Record<string, unknown> {
  const products = [
    ['Merino wool crew-neck sweater', 'Charcoal', 'M', 8900],
    ['Organic cotton oxford shirt', 'Sky blue', 'L', 5400],
    ['Selvedge denim jeans, slim', 'Indigo', '32/32', 12900],
    ['Leather chelsea boots', 'Dark brown', '43', 18900],
    ['Waxed cotton field jacket', 'Olive', 'M', 24500],
    ['Cashmere beanie', 'Oatmeal', 'One size', 4500],
    ['Linen pocket square', 'Navy', 'One size', 1900],
    ['Lambswool scarf, herringbone', 'Grey', 'One size', 6500],
    ['Suede driving gloves', 'Tan', '8.5', 7900],
    ['Cotton twill chinos, tapered', 'Stone', '32/30', 8500],
  ] as const;
  return {
    user: {
      id: 'usr_01HZX3K9T2Q8M4V6B7N5C1D0EF',
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      roles: ['customer', 'beta'],
      locale: 'en-GB',
      currency: 'GBP',
      address: { line1: '12 Analytical Row', city: 'London', postcode: 'SW1A 1AA', country: 'GB' },
    },
    cart: products.map(([title, colour, size, priceMinor], index) => ({
      sku: `SKU-${String(100_000 + index * 7919).padStart(8, '0')}`,
      title,
      colour,
      size,
      quantity: (index % 3) + 1,
      priceMinor,
      addedAt: 1_767_225_600_000 + index * 61_000,
    })),
    coupon: { code: 'WINTER-15', percentOff: 15 },
    recentlyViewed: ['SKU-00131337', 'SKU-00141414', 'SKU-00151617', 'SKU-00161803', 'SKU-00171828'],
    csrf: 'Zk3r9QnW2xYp7LmT4vB8sD1a',
    visits: 42,
  };
}

// ---------------------------------------------------------------------------------------------------
// Contenders. Every op is one seal and one open of `payload`, JSON in and out, verified by the caller
// before timing starts; each returns a number that the timing loop sums, so no work can be optimised away.

interface SyncContender {
  readonly id: string;
  readonly label: string;
  readonly kind: 'sync';
  /** '' for the rows in the headline ratios; a footnote mark for the others. */
  readonly mark: Mark;
  readonly op: () => number;
  readonly check: () => Promise<{ roundTrip: unknown; sealedChars: number }>;
}

interface AsyncContender {
  readonly id: string;
  readonly label: string;
  readonly kind: 'async';
  readonly mark: Mark;
  readonly op: () => Promise<number>;
  readonly check: () => Promise<{ roundTrip: unknown; sealedChars: number }>;
}

type Mark = '' | '*' | '†';
type Contender = SyncContender | AsyncContender;

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The floor: AES-256-GCM through node:crypto with nothing else around it. */
function rawSeal(key: Buffer, value: unknown): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  const body = cipher.update(Buffer.from(JSON.stringify(value), 'utf8'));
  const rest = cipher.final();
  return Buffer.concat([iv, body, rest, cipher.getAuthTag()]).toString('base64url');
}

// Informational only: the same floor with its IVs cut from a 4 KB block of CSPRNG output, as Latchkey
// cuts its nonces (src/crypto/random.ts). It shows how much of the raw row is randomBytes()'s fixed cost.
const ivPool = Buffer.alloc(4096);
let ivPoolOffset = ivPool.length;

function pooledIv(): Buffer {
  if (ivPoolOffset + IV_BYTES > ivPool.length) {
    randomFillSync(ivPool);
    ivPoolOffset = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivPoolOffset, ivPoolOffset + IV_BYTES));
  ivPool.fill(0, ivPoolOffset, ivPoolOffset + IV_BYTES);
  ivPoolOffset += IV_BYTES;
  return iv;
}

function rawSealPooledIv(key: Buffer, value: unknown): string {
  const iv = pooledIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  const body = cipher.update(Buffer.from(JSON.stringify(value), 'utf8'));
  const rest = cipher.final();
  return Buffer.concat([iv, body, rest, cipher.getAuthTag()]).toString('base64url');
}

function rawOpen(key: Buffer, sealed: string): unknown {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new Error('raw: sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  const body = decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES));
  const rest = decipher.final();
  return JSON.parse((rest.length === 0 ? body : Buffer.concat([body, rest])).toString('utf8'));
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** The WebCrypto floor: crypto.subtle AES-256-GCM with an imported key, a fresh 12-byte IV per seal. */
async function rawWebSeal(key: CryptoKey, value: unknown): Promise<string> {
  const iv = webcrypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await webcrypto.subtle.encrypt(
    { name: 'AES-GCM', iv, tagLength: TAG_BYTES * 8 },
    key,
    utf8.encode(JSON.stringify(value)),
  );
  return Buffer.concat([iv, new Uint8Array(sealed)]).toString('base64url');
}

async function rawWebOpen(key: CryptoKey, sealed: string): Promise<unknown> {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new Error('raw WebCrypto: sealed value too short');
  const plain = await webcrypto.subtle.decrypt(
    { name: 'AES-GCM', iv: bytes.subarray(0, IV_BYTES), tagLength: TAG_BYTES * 8 },
    key,
    bytes.subarray(IV_BYTES),
  );
  return JSON.parse(fromUtf8.decode(plain));
}

async function latchkeySealAsync(keyring: Keyring, value: unknown): Promise<string> {
  return sealValueAsync(keyring, 'cookie', COOKIE_NAME, utf8.encode(JSON.stringify(value)));
}

async function latchkeyOpenAsync(keyring: Keyring, sealed: string): Promise<unknown> {
  const result = await openValueAsync(keyring, 'cookie', COOKIE_NAME, sealed);
  if (!result.ok) throw new Error(`latchkey WebCrypto: openValueAsync failed (${result.reason})`);
  return JSON.parse(fromUtf8.decode(result.plaintext));
}

function latchkeySeal(keyring: Keyring, value: unknown): string {
  return sealValue(keyring, 'cookie', COOKIE_NAME, utf8.encode(JSON.stringify(value)));
}

function latchkeyOpen(keyring: Keyring, sealed: string): unknown {
  const result = openValue(keyring, 'cookie', COOKIE_NAME, sealed);
  if (!result.ok) throw new Error(`latchkey: openValue failed (${result.reason})`);
  return JSON.parse(fromUtf8.decode(result.plaintext));
}

/** `name=value` pairs of Set-Cookie lines, as the browser would send them back. */
function cookieHeaderFrom(setCookie: readonly string[]): string {
  return setCookie
    .map((line) => {
      const semicolon = line.indexOf(';');
      return semicolon === -1 ? line : line.slice(0, semicolon);
    })
    .join('; ');
}

/** Length of the sealed value a Cookie header carries, over all its chunks (`name`, `name.1`, …). */
function sealedLength(cookieHeader: string): number {
  return cookieHeader.split('; ').reduce((sum, pair) => sum + pair.length - pair.indexOf('=') - 1, 0);
}

interface Fixtures {
  readonly rawKey: Buffer;
  /** rawKey imported into WebCrypto, once (as an app would keep it). */
  readonly rawWebKey: CryptoKey;
  readonly keyring: Keyring;
  /** The same key as `keyring`, on Latchkey's WebCrypto backend (asynchronous only). */
  readonly webKeyring: Keyring;
  readonly sessions: Sessions;
  readonly ironPassword: string;
}

/** A synchronous seal-then-open contender; `open` returns null when the value does not open. */
function sealOpenContender(
  id: string,
  label: string,
  mark: Mark,
  seal: () => string,
  open: (sealed: string) => unknown,
): Contender {
  return {
    id,
    label,
    kind: 'sync',
    mark,
    op: () => {
      const sealed = seal();
      return sealed.length + (open(sealed) === null ? 1 : 0);
    },
    check: async () => {
      const sealed = seal();
      return { roundTrip: open(sealed), sealedChars: sealed.length };
    },
  };
}

/** An asynchronous seal-then-open contender, as sealOpenContender. */
function asyncSealOpenContender(
  id: string,
  label: string,
  seal: () => Promise<string>,
  open: (sealed: string) => Promise<unknown>,
): Contender {
  return {
    id,
    label,
    kind: 'async',
    mark: '',
    op: async () => {
      const sealed = await seal();
      return sealed.length + ((await open(sealed)) === null ? 1 : 0);
    },
    check: async () => {
      const sealed = await seal();
      return { roundTrip: await open(sealed), sealedChars: sealed.length };
    },
  };
}

async function makeFixtures(): Promise<Fixtures> {
  const entries = [{ kid: 'k1', key: new Uint8Array(randomBytes(32)) }];
  const keyring = createKeyring(entries);
  const rawKey = randomBytes(32);
  return {
    rawKey,
    rawWebKey: await webcrypto.subtle.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt', 'decrypt']),
    keyring,
    webKeyring: createKeyring(entries, { cryptoBackend: 'webcrypto' }),
    sessions: createSessions({ keys: keyring }),
    ironPassword: randomBytes(32).toString('base64url'), // 43 random characters
  };
}

async function contendersFor(payload: Record<string, unknown>, fx: Fixtures): Promise<Contender[]> {
  // The session row starts from a cookie that already holds the payload, as a returning visitor's does.
  const first = await fx.sessions.load(undefined);
  for (const [key, value] of Object.entries(payload)) first.set(key, value);
  const cookieHeader = cookieHeaderFrom(await fx.sessions.commit(first));
  let visits = 1_000_000; // never the payload's own value, so every commit has a change to write

  return [
    sealOpenContender(
      'raw',
      'raw AES-256-GCM (node:crypto)',
      '',
      () => rawSeal(fx.rawKey, payload),
      (sealed) => rawOpen(fx.rawKey, sealed),
    ),
    sealOpenContender(
      'raw-pooled-iv',
      'raw AES-256-GCM, pooled IV',
      '†',
      () => rawSealPooledIv(fx.rawKey, payload),
      (sealed) => rawOpen(fx.rawKey, sealed),
    ),
    sealOpenContender(
      'latchkey',
      'latchkey seal+open',
      '',
      () => latchkeySeal(fx.keyring, payload),
      (sealed) => latchkeyOpen(fx.keyring, sealed),
    ),
    asyncSealOpenContender(
      'raw-webcrypto',
      'raw AES-256-GCM (WebCrypto)',
      () => rawWebSeal(fx.rawWebKey, payload),
      (sealed) => rawWebOpen(fx.rawWebKey, sealed),
    ),
    asyncSealOpenContender(
      'latchkey-webcrypto',
      'latchkey seal+open (WebCrypto)',
      () => latchkeySealAsync(fx.webKeyring, payload),
      (sealed) => latchkeyOpenAsync(fx.webKeyring, sealed),
    ),
    {
      id: 'latchkey-session',
      label: 'latchkey session load+commit',
      kind: 'async',
      mark: '*',
      op: async () => {
        const session = await fx.sessions.load(cookieHeader);
        session.set('visits', ++visits); // a real change, so commit reseals
        const setCookie = await fx.sessions.commit(session);
        return setCookie.length + (session.isNew ? 1 : 0);
      },
      check: async () => {
        const session = await fx.sessions.load(cookieHeader);
        if (session.isNew) throw new Error('latchkey session: the prepared cookie did not load');
        const roundTrip: unknown = JSON.parse(JSON.stringify(session.data)); // before set() changes it
        session.set('visits', 7);
        const setCookie = await fx.sessions.commit(session);
        if (setCookie.length === 0) throw new Error('latchkey session: commit wrote nothing');
        const reloaded = await fx.sessions.load(cookieHeaderFrom(setCookie));
        if (reloaded.get('visits') !== 7) throw new Error('latchkey session: the new cookie did not load');
        return { roundTrip, sealedChars: sealedLength(cookieHeader) };
      },
    },
    {
      id: 'iron-session',
      label: 'iron-session sealData+unsealData',
      kind: 'async',
      mark: '',
      op: async () => {
        const sealed = await sealData(payload, { password: fx.ironPassword });
        const opened = await unsealData<Record<string, unknown>>(sealed, { password: fx.ironPassword });
        return sealed.length + (opened === null ? 1 : 0);
      },
      check: async () => {
        const sealed = await sealData(payload, { password: fx.ironPassword });
        const roundTrip = await unsealData(sealed, { password: fx.ironPassword });
        return { roundTrip, sealedChars: sealed.length };
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Timing: ops are counted in batches, and the clock is read once per batch, so the cost of reading it
// is negligible for every contender. Async ops are awaited one at a time, like one request.

const BATCH = 16;

interface Sample {
  readonly ops: number;
  readonly ms: number;
  /** CPU time of the whole process (every thread, so also libuv's pool for WebCrypto), µs. */
  readonly cpuUs: number;
  /** Sum of what the ops returned: their results are used, so none of the work is dead code. */
  readonly checksum: number;
}

/** The clock and CPU readings around one timed run of `ms`; `sample` closes it. */
function timing(ms: number) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  return {
    end: start + ms,
    sample(ops: number, now: number, checksum: number): Sample {
      const { user, system } = process.cpuUsage(cpu);
      return { ops, ms: now - start, cpuUs: user + system, checksum };
    },
  };
}

// The two loops differ only in the `await`: a sync op is never awaited, which would cost it a microtask.
function runSync(op: () => number, ms: number): Sample {
  let acc = 0;
  let ops = 0;
  const clock = timing(ms);
  let now: number;
  do {
    for (let i = 0; i < BATCH; i++) acc += op();
    ops += BATCH;
    now = performance.now();
  } while (now < clock.end);
  return clock.sample(ops, now, acc);
}

async function runAsync(op: () => Promise<number>, ms: number): Promise<Sample> {
  let acc = 0;
  let ops = 0;
  const clock = timing(ms);
  let now: number;
  do {
    for (let i = 0; i < BATCH; i++) acc += await op();
    ops += BATCH;
    now = performance.now();
  } while (now < clock.end);
  return clock.sample(ops, now, acc);
}

function run(contender: Contender, ms: number): Promise<Sample> | Sample {
  return contender.kind === 'sync' ? runSync(contender.op, ms) : runAsync(contender.op, ms);
}

interface ContenderResult {
  readonly id: string;
  readonly label: string;
  readonly headline: boolean;
  readonly mark: Mark;
  readonly sealedChars: number;
  readonly medianOpsPerSec: number;
  readonly minOpsPerSec: number;
  readonly maxOpsPerSec: number;
  readonly roundsOpsPerSec: readonly number[];
  /** Median over rounds of process CPU time per op; above 1e6 / ops/s when other threads help. */
  readonly cpuMicrosPerOp: number;
}

interface Ratio {
  /** Ratio of the two medians: the headline number. */
  readonly value: number;
  /** The same ratio taken within each round (both sides timed moments apart), min and max. */
  readonly perRoundMin: number;
  readonly perRoundMax: number;
}

interface PayloadResult {
  readonly name: string;
  readonly bytes: number;
  readonly contenders: readonly ContenderResult[];
  readonly latchkeyVsRaw: Ratio;
  readonly latchkeyVsIron: Ratio;
  /** Latchkey's WebCrypto backend against raw WebCrypto AES-256-GCM. */
  readonly latchkeyWebVsRawWeb: Ratio;
  /** Informational, not a target: against the floor with pooled IVs. */
  readonly latchkeyVsRawPooledIv: Ratio;
}

function ratio(a: readonly number[], b: readonly number[]): Ratio {
  const perRound = a.map((value, i) => value / b[i]!);
  return {
    value: median(a) / median(b),
    perRoundMin: Math.min(...perRound),
    perRoundMax: Math.max(...perRound),
  };
}

async function benchPayload(
  name: string,
  payload: Record<string, unknown>,
  fx: Fixtures,
  config: Config,
): Promise<PayloadResult> {
  const bytes = utf8.encode(JSON.stringify(payload)).length;
  const contenders = await contendersFor(payload, fx);

  // Every contender must round-trip the payload before its speed means anything.
  const sealedChars = new Map<string, number>();
  for (const contender of contenders) {
    const { roundTrip, sealedChars: chars } = await contender.check();
    // Through JSON once more: the session path hands back null-prototype objects (checklist #47).
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(roundTrip)), payload)) {
      throw new Error(`${contender.label}: the payload did not survive seal+open`);
    }
    sealedChars.set(contender.id, chars);
  }

  for (const contender of contenders) await run(contender, config.warmupMs);

  const perRound = new Map<string, number[]>(contenders.map((c) => [c.id, []]));
  const cpuPerOp = new Map<string, number[]>(contenders.map((c) => [c.id, []]));
  for (let round = 0; round < config.rounds; round++) {
    // Round-robin: each round starts one contender later, so no contender always follows the same one
    // and slow drift (thermal, other tenants) lands on all of them alike.
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(round + k) % contenders.length]!;
      const sample = await run(contender, config.roundMs);
      perRound.get(contender.id)!.push((sample.ops * 1000) / sample.ms);
      cpuPerOp.get(contender.id)!.push(sample.cpuUs / sample.ops);
    }
    if (!config.json && process.stderr.isTTY) {
      process.stderr.write(`\r  ${name}: round ${round + 1}/${config.rounds}`);
    }
  }
  if (!config.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');

  const results = contenders.map((c): ContenderResult => {
    const rounds = perRound.get(c.id)!;
    return {
      id: c.id,
      label: c.label,
      headline: c.mark === '',
      mark: c.mark,
      sealedChars: sealedChars.get(c.id)!,
      medianOpsPerSec: median(rounds),
      minOpsPerSec: Math.min(...rounds),
      maxOpsPerSec: Math.max(...rounds),
      roundsOpsPerSec: rounds,
      cpuMicrosPerOp: median(cpuPerOp.get(c.id)!),
    };
  });
  const rounds = (id: string) => perRound.get(id)!;
  return {
    name,
    bytes,
    contenders: results,
    latchkeyVsRaw: ratio(rounds('latchkey'), rounds('raw')),
    latchkeyVsIron: ratio(rounds('latchkey'), rounds('iron-session')),
    latchkeyWebVsRawWeb: ratio(rounds('latchkey-webcrypto'), rounds('raw-webcrypto')),
    latchkeyVsRawPooledIv: ratio(rounds('latchkey'), rounds('raw-pooled-iv')),
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

function table(rows: readonly (readonly string[])[], rightAligned: readonly boolean[]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, col) => (rightAligned[col] ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

function printPayload(result: PayloadResult): void {
  console.log(`\nPayload "${result.name}": ${result.bytes} bytes of JSON`);
  const rows: string[][] = [
    ['contender', 'ops/s (median)', 'spread (min–max)', '±', 'µs/op', 'cpu µs/op', 'sealed chars'],
  ];
  for (const c of result.contenders) {
    const halfRange = ((c.maxOpsPerSec - c.minOpsPerSec) / 2 / c.medianOpsPerSec) * 100;
    rows.push([
      c.mark === '' ? c.label : `${c.label} ${c.mark}`,
      int(c.medianOpsPerSec),
      `${int(c.minOpsPerSec)}–${int(c.maxOpsPerSec)}`,
      `${halfRange.toFixed(1)}%`,
      (1e6 / c.medianOpsPerSec).toFixed(1),
      c.cpuMicrosPerOp.toFixed(1),
      String(c.sealedChars),
    ]);
  }
  console.log(table(rows, [false, true, true, true, true, true, true]));
  const line = (label: string, r: Ratio) =>
    `  ${`${label}:`.padEnd(29)}${times(r.value).padStart(7)}   (per round ${times(r.perRoundMin)}–${times(r.perRoundMax)})`;
  console.log(line('latchkey / raw', result.latchkeyVsRaw));
  console.log(line('latchkey / iron-session', result.latchkeyVsIron));
  console.log(line('WebCrypto: latchkey / raw', result.latchkeyWebVsRawWeb));
  console.log(line('latchkey / raw, pooled IV †', result.latchkeyVsRawPooledIv));
}

interface Target {
  readonly label: string;
  readonly threshold: number;
  readonly value: number;
  readonly pass: boolean;
}

async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2));
  const { date, ...facts } = machine();
  const env = { ...facts, ironSession: packageVersion('iron-session'), date };
  const method = {
    rounds: config.rounds,
    roundMs: config.roundMs,
    warmupMs: config.warmupMs,
    batch: BATCH,
    quick: config.quick,
  };
  if (!config.json) {
    console.log('Latchkey seal+open benchmark (bench/seal.ts)');
    console.log(machineLine(env));
    console.log(`  iron-session ${env.ironSession}`);
    console.log(
      `  ${config.rounds} interleaved rounds × ~${config.roundMs} ms per contender, after ~${config.warmupMs} ms ` +
        'of warm-up each;\n  one op = seal + open of the payload, JSON in and JSON out; async ops awaited one at a time',
    );
    if (config.quick) console.log('  --quick: a smoke run; do not quote these numbers');
  }

  const fx = await makeFixtures();
  const results: PayloadResult[] = [];
  for (const [name, payload] of [
    ['session ~200 B', smallPayload()],
    ['user + cart ~2 KB', largePayload()],
  ] as const) {
    const result = await benchPayload(name, payload, fx, config);
    results.push(result);
    if (!config.json) printPayload(result);
  }

  const small = results[0]!;
  const targets: Target[] = [
    { label: 'Latchkey ≥ 0.75× raw AES-256-GCM', threshold: 0.75, value: small.latchkeyVsRaw.value },
    { label: 'Latchkey ≥ 10× iron-session', threshold: 10, value: small.latchkeyVsIron.value },
  ].map((t) => ({ ...t, pass: t.value >= t.threshold }));

  if (config.json) {
    console.log(JSON.stringify({ env, method, payloads: results, targets }, null, 2));
    return;
  }
  console.log(
    '\n  * not in the headline ratios: load+commit also parses the Cookie header, checks the clocks, detects' +
      '\n    the change and builds Set-Cookie; its sealed payload carries the session clocks too (longer value).' +
      '\n  † informational: raw AES-256-GCM with IVs cut from a 4 KB randomFillSync block, as Latchkey cuts its' +
      '\n    nonces; the gap to the raw row is what one randomBytes(12) call per seal costs.' +
      '\n  µs/op = 1e6 / median ops/s; cpu µs/op = process CPU time (all threads) per op, median over rounds.',
  );
  console.log(`\nTargets (issue), on the ${small.bytes}-byte payload; informational, never a failure:`);
  for (const t of targets) {
    const verdict = t.pass ? 'PASS' : 'MISS';
    console.log(`  ${verdict}  ${`Target: ${t.label}`.padEnd(44)}(measured ${times(t.value)})`);
  }
}

await main();
