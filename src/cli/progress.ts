/**
 * Progress for long CLI commands (`sessions purge`): on a terminal, one bar redrawn in place with the
 * total, percent, rate and ETA; piped or logged, a plain line at every tenth of the way (or every
 * 50,000 items when the total is unknown), so a log holds a dozen lines, not hundreds.
 */
export interface ProgressSink {
  /** Write text as is (no newline added). */
  write(text: string): void;
  /** True when the sink is a terminal that understands a carriage return. */
  readonly isTTY: boolean;
  /** The terminal's width, when known. */
  readonly columns?: number | undefined;
}

export interface Progress {
  /** `done` of `total` (undefined when unknown), with `detail` such as 'purged 12'. */
  update(done: number, total: number | undefined, detail: string): void;
  /** The last state, ended with a newline. */
  finish(): void;
}

const count = (n: number) => n.toLocaleString('en-US');

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function createProgress(
  sink: ProgressSink,
  label: string,
  now: () => number = () => performance.now(),
): Progress {
  const startedAt = now();
  let last: { done: number; total: number | undefined; detail: string } | undefined;
  let drawnAt = Number.NEGATIVE_INFINITY;
  let nextStep = 0;
  let drawnDone = -1;

  const describe = (done: number, total: number | undefined, detail: string) => {
    const seconds = (now() - startedAt) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const rateText = `${count(Math.round(rate))}/s`;
    if (total === undefined || total === 0) {
      return { text: `${count(done)}, ${detail}, ${rateText}` };
    }
    const fraction = Math.min(1, done / total);
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    const percent = `${(fraction * 100).toFixed(fraction < 1 ? 1 : 0)}%`;
    return {
      fraction,
      text: `${count(done)}/${count(total)} ${percent} ${detail}, ${rateText}, ETA ${duration(eta)}`,
    };
  };

  const draw = (final: boolean) => {
    if (!last) return;
    const { done, total, detail } = last;
    const { text, fraction } = describe(done, total, detail) as { text: string; fraction?: number };
    if (sink.isTTY) {
      const width = Math.max(10, Math.min(40, (sink.columns ?? 80) - text.length - label.length - 5));
      const bar =
        fraction === undefined ? '' : `[${'#'.repeat(Math.round(fraction * width)).padEnd(width, '.')}] `;
      // \r and erase-to-end: the bar is redrawn in place.
      sink.write(`\r${label} ${bar}${text}\u001b[K${final ? '\n' : ''}`);
    } else {
      sink.write(`${label} ${text}\n`);
    }
  };

  return {
    update(done, total, detail) {
      last = { done, total, detail };
      if (sink.isTTY) {
        // Redraw at most ten times a second.
        if (now() - drawnAt < 100) return;
        drawnAt = now();
        draw(false);
        return;
      }
      const step = total === undefined || total === 0 ? 50_000 : Math.max(1, Math.ceil(total / 10));
      if (done >= nextStep) {
        nextStep = (Math.floor(done / step) + 1) * step;
        drawnDone = done;
        draw(false);
      }
    },
    finish() {
      if (!last) return;
      if (sink.isTTY || last.done !== drawnDone) draw(true);
    },
  };
}
