import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createProgress } from './progress.ts';

function sink(isTTY: boolean) {
  const written: string[] = [];
  return { written, sink: { write: (t: string) => written.push(t), isTTY, columns: 100 } };
}

describe('CLI progress', () => {
  test('on a terminal: one bar redrawn in place with total, percent, rate and ETA', () => {
    let clock = 0;
    const { written, sink: tty } = sink(true);
    const progress = createProgress(tty, 'purge', () => clock);
    for (let done = 1; done <= 50_000; done++) {
      if (done % 500 === 0) clock += 100; // 5,000 a second
      progress.update(done, 50_000, 'scanned');
    }
    progress.finish();
    assert.ok(written.length > 10 && written.length < 200, `${written.length} redraws`);
    assert.ok(
      written.every((t) => t.startsWith('\r')),
      'every redraw returns to the line start',
    );
    const middle = written[Math.floor(written.length / 2)]!;
    assert.match(middle, /\[#+\.+\] [\d,]+\/50,000 \d+\.\d% scanned, [\d,]+\/s, ETA \d+s/);
    const end = written.at(-1)!;
    assert.match(end, /\[#+\] 50,000\/50,000 100% scanned, 5,000\/s, ETA 0s/);
    assert.ok(end.endsWith('\n'), 'the last state stays on screen');
  });

  test('piped: a plain line every tenth of the way, not one per update', () => {
    let clock = 0;
    const { written, sink: pipe } = sink(false);
    const progress = createProgress(pipe, 'purge', () => clock);
    for (let done = 1; done <= 47_000; done += 7) {
      clock += 1;
      progress.update(done, 47_000, 'scanned');
    }
    progress.update(47_000, 47_000, 'scanned');
    progress.finish();
    assert.ok(written.length >= 10 && written.length <= 12, `${written.length} lines`);
    assert.ok(written.every((t) => t.endsWith('\n') && !t.includes('\r') && !t.includes('\u001b')));
    assert.match(written.at(-1)!, /^purge 47,000\/47,000 100% scanned/);
  });

  test('an unknown total shows the count and rate, without a bar or ETA', () => {
    const { written, sink: pipe } = sink(false);
    const progress = createProgress(pipe, 'purge', () => 1000);
    progress.update(12, undefined, 'purged');
    progress.finish();
    assert.equal(written.length, 1);
    assert.doesNotMatch(written[0]!, /ETA|%/);
    assert.match(written[0]!, /^purge 12, purged/);
  });
});
