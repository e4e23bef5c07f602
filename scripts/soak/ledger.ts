/**
 * What a soak run saw: every request's status and latency, the outage windows, and the findings that
 * fail the run (lost writes, lost sessions, resurrected tokens, 5xx outside the windows, app crashes).
 * Times are milliseconds since the run started.
 */
import { performance } from 'node:perf_hooks';

export interface Reply {
  /** 0 when the request never got an answer (connection refused or reset, timeout). */
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
  readonly setCookie: readonly string[];
  readonly sentAt: number;
  readonly doneAt: number;
}

export interface Window {
  readonly what: string;
  readonly start: number;
  /** The fault's end plus the recovery allowance; Infinity while it lasts. */
  end: number;
}

export type FindingKind =
  | 'lost-write'
  | 'lost-session'
  | 'wrong-user'
  | 'resurrected'
  | '5xx-outside-window'
  | 'no-answer'
  | 'app-exit';

export interface Finding {
  readonly kind: FindingKind;
  readonly at: number;
  readonly detail: string;
}

interface Sample {
  readonly kind: string;
  readonly status: number;
  readonly sentAt: number;
  readonly doneAt: number;
}

export class Ledger {
  readonly started = performance.now();
  readonly windows: Window[] = [];
  readonly findings: Finding[] = [];
  private readonly samples: Sample[] = [];

  now(): number {
    return performance.now() - this.started;
  }

  record(kind: string, reply: Reply): void {
    this.samples.push({ kind, status: reply.status, sentAt: reply.sentAt, doneAt: reply.doneAt });
  }

  find(kind: FindingKind, detail: string): void {
    this.findings.push({ kind, at: this.now(), detail });
  }

  /** Did [from, to] overlap an outage window? */
  inWindow(from: number, to: number): boolean {
    return this.windows.some((window) => from <= window.end && to >= window.start);
  }

  /**
   * Classify the answers once the windows are known: a 503 (or no answer) that overlaps a window is the
   * outage working as documented; any other 5xx, and any 5xx or missing answer outside, is a finding.
   */
  settle(): void {
    for (const sample of this.samples) {
      const inside = this.inWindow(sample.sentAt, sample.doneAt);
      const at = `${sample.kind} sent at ${(sample.sentAt / 1000).toFixed(1)} s`;
      if (sample.status === 0 && !inside) this.find('no-answer', at);
      else if (sample.status >= 500 && !(inside && sample.status === 503))
        this.find('5xx-outside-window', `${sample.status} for ${at}`);
    }
  }

  summary() {
    const outside = this.samples.filter((s) => !this.inWindow(s.sentAt, s.doneAt));
    const statuses: Record<string, number> = {};
    for (const sample of this.samples) {
      const key = sample.status === 0 ? 'none' : String(sample.status);
      statuses[key] = (statuses[key] ?? 0) + 1;
    }
    const kinds = [...new Set(this.samples.map((s) => s.kind))].sort();
    const byKind = Object.fromEntries(
      kinds.map((kind) => [kind, latencies(outside.filter((s) => s.kind === kind))]),
    );
    const inside = this.samples.filter((s) => this.inWindow(s.sentAt, s.doneAt));
    return {
      requests: this.samples.length,
      statuses,
      insideWindows: {
        requests: inside.length,
        served: inside.filter((s) => s.status > 0 && s.status < 500).length,
        unavailable: inside.filter((s) => s.status === 503).length,
      },
      latencyOutsideWindows: { all: latencies(outside), ...byKind },
    };
  }

  /** The first answer below 500 sent after `at`: when service came back. */
  firstServedAfter(at: number, kinds: readonly string[]): number | undefined {
    let first: number | undefined;
    for (const s of this.samples) {
      if (s.sentAt < at || s.status === 0 || s.status >= 500 || !kinds.includes(s.kind)) continue;
      if (first === undefined || s.doneAt < first) first = s.doneAt;
    }
    return first;
  }
}

export interface Latencies {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function latencies(samples: readonly Sample[]): Latencies {
  const ms = samples.map((s) => s.doneAt - s.sentAt).sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0;
  return { count: ms.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(ms.at(-1) ?? 0) };
}

const round = (ms: number) => Math.round(ms * 10) / 10;
