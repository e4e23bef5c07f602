/**
 * Signals (checklist #62): events that flag a session worth a second look. A signal only: nothing is
 * refused because of one (a User-Agent and an address are whatever the client and its network say).
 *
 * - `user-agent-changed` (store mode): the request's browser or system family ("Firefox on Linux",
 *   src/core/user-agent.ts) differs from the one the session was created with. Version bumps are no
 *   change.
 * - `network-changed` (store mode): the request comes from another network than the session's previous
 *   request, at a configurable prefix length (default /24 for IPv4, /48 for IPv6). The network is sealed
 *   with the record as a 48-bit digest of the prefix, never as an address.
 * - `burst`: one client network presented `count` invalid or revoked tokens within `within` (a token
 *   guessing run, a replay of stolen cookies). Counters are kept for at most `clients` networks.
 */
import { ConfigError } from '../errors.ts';
import type { SessionEvent } from './events.ts';
import { type NetworkPrefix, networkOf } from './network.ts';
import { type Duration, parseDuration } from './policy.ts';
import { deviceLabel } from './user-agent.ts';

export interface SignalsOptions {
  /** Store mode: a `user-agent-changed` event when the browser or system family changes. */
  userAgent?: boolean | undefined;
  /**
   * Store mode: a `network-changed` event when a request comes from another network than the one
   * before. `true` for /24 (IPv4) and /48 (IPv6), or the prefix lengths to compare.
   */
  network?: boolean | { ipv4?: number | undefined; ipv6?: number | undefined } | undefined;
  /**
   * A `burst` event when one client network presents `count` invalid or revoked tokens within
   * `within`; counters for at most `clients` networks at once (default 10,000; the oldest goes first).
   */
  invalidBurst?: { count: number; within: Duration; clients?: number | undefined } | undefined;
}

type Bits = { ipv4: number; ipv6: number };

export interface ResolvedSignals {
  readonly userAgent: boolean;
  readonly network: Bits | undefined;
  readonly burst: { count: number; within: number; clients: number } | undefined;
  /** Prefix lengths that name a client for the burst counters. */
  readonly clientBits: Bits;
}

/** The sealed record field holding the network digest (src/core/store-mode.ts keeps it). */
export const NETWORK_FIELD = 'w';
const DEFAULT_BITS: Bits = { ipv4: 24, ipv6: 48 };

function checkKeys(value: object, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new ConfigError(`unknown ${name} option '${key}'`);
  }
}

function wholeNumber(value: unknown, name: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value as number;
}

function resolveBits(value: SignalsOptions['network']): Bits | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_BITS;
  if (value === null || typeof value !== 'object') {
    throw new ConfigError('signals.network must be true, false or { ipv4, ipv6 } prefix lengths');
  }
  checkKeys(value, ['ipv4', 'ipv6'], 'signals.network');
  return {
    ipv4: value.ipv4 === undefined ? 24 : wholeNumber(value.ipv4, 'signals.network.ipv4', 1, 32),
    ipv6: value.ipv6 === undefined ? 48 : wholeNumber(value.ipv6, 'signals.network.ipv6', 1, 128),
  };
}

/** Check `signals` at start-up: a coded ConfigError for anything off; undefined when none is asked for. */
export function resolveSignals(value: unknown, storeMode: boolean): ResolvedSignals | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') throw new ConfigError('signals must be an object');
  const options = value as SignalsOptions;
  checkKeys(options, ['userAgent', 'network', 'invalidBurst'], 'signals');
  if (options.userAgent !== undefined && typeof options.userAgent !== 'boolean') {
    throw new ConfigError('signals.userAgent must be true or false');
  }
  const network = resolveBits(options.network);
  if (!storeMode && (options.userAgent === true || network !== undefined)) {
    // Cookie mode seals no device label or network to compare with: the option would do nothing.
    throw new ConfigError('signals.userAgent and signals.network need store mode (a store)');
  }
  let burst: ResolvedSignals['burst'];
  const asked = options.invalidBurst;
  if (asked !== undefined) {
    if (asked === null || typeof asked !== 'object') {
      throw new ConfigError(
        "signals.invalidBurst must be { count, within } such as { count: 100, within: '1m' }",
      );
    }
    checkKeys(asked, ['count', 'within', 'clients'], 'signals.invalidBurst');
    burst = {
      count: wholeNumber(asked.count, 'signals.invalidBurst.count', 1, 1_000_000),
      within: parseDuration(asked.within, 'signals.invalidBurst.within'),
      clients:
        asked.clients === undefined
          ? 10_000
          : wholeNumber(asked.clients, 'signals.invalidBurst.clients', 1, 1_000_000),
    };
    if (burst.within < 1000) throw new ConfigError('signals.invalidBurst.within must be at least 1 s');
  }
  if (options.userAgent !== true && network === undefined && burst === undefined) return undefined;
  return { userAgent: options.userAgent === true, network, burst, clientBits: network ?? DEFAULT_BITS };
}

/** What a loaded session's request says, against what the session remembers. */
export interface Sighting {
  /** The session's device label (from the User-Agent it was created with). */
  readonly label: string | undefined;
  readonly userAgent: string | undefined;
  /** The network digest sealed with the record, if any. */
  readonly network: number | undefined;
  readonly clientAddress: string | undefined;
}

export class Signals {
  readonly #options: ResolvedSignals;
  readonly #emit: (event: SessionEvent) => void;
  /** Per client network: when its window began and how many rejections it holds (insertion order = age). */
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(options: ResolvedSignals, emit: (event: SessionEvent) => void) {
    this.#options = options;
    this.#emit = emit;
  }

  /** A request presented an invalid or revoked token: count it for its client's network. */
  rejected(clientAddress: string | undefined, now: number): void {
    const burst = this.#options.burst;
    if (burst === undefined) return;
    const network = networkOf(clientAddress, this.#options.clientBits)?.text;
    const key = network ?? 'unknown';
    let window = this.#windows.get(key);
    if (window === undefined || now - window.start >= burst.within) {
      if (window !== undefined) this.#windows.delete(key); // re-inserted as the newest
      // Bounded memory: the oldest window goes first when a new network arrives at the cap.
      while (this.#windows.size >= burst.clients) {
        const oldest = this.#windows.keys().next().value as string;
        this.#windows.delete(oldest);
      }
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    window.count += 1;
    // Once per window, when the count is reached.
    if (window.count === burst.count) {
      this.#emit({ type: 'burst', count: window.count, within: burst.within, network });
    }
  }

  /** How many client networks have counters now (for tests of the bound). */
  get trackedClients(): number {
    return this.#windows.size;
  }

  /** The network digest a new record starts with (undefined when the network signal is off). */
  networkId(clientAddress: string | undefined): number | undefined {
    const bits = this.#options.network;
    return bits === undefined ? undefined : networkOf(clientAddress, bits)?.id;
  }

  /**
   * Compare a loaded session's request with the session: emits the change events, and returns the
   * network digest to seal with the record when it differs from the one sealed (undefined: keep).
   */
  sighted(seen: Sighting): number | undefined {
    const options = this.#options;
    if (options.userAgent && seen.label !== undefined) {
      const label = deviceLabel(seen.userAgent);
      if (label !== undefined && label !== seen.label) {
        this.#emit({ type: 'user-agent-changed', from: seen.label, to: label });
      }
    }
    if (options.network === undefined) return undefined;
    const network: NetworkPrefix | undefined = networkOf(seen.clientAddress, options.network);
    if (network === undefined || network.id === seen.network) return undefined;
    // The first sighting only records the network; a change after that is the signal.
    if (seen.network !== undefined) this.#emit({ type: 'network-changed', network: network.text });
    return network.id;
  }
}
