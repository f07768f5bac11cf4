// Progress of the CLI's long operations (`trustlog audit`, `trustlog fsck`), on stderr so that
// stdout keeps only the result: a live bar (cli-progress) on a terminal, a plain line at most
// every few seconds otherwise (a log file or CI keeps a readable trace, not carriage returns),
// or nothing when asked to be quiet.

import { SingleBar } from "cli-progress";

export interface Progress {
  /** `done` of `total` units so far; the last call has done === total. */
  update(done: number, total: number): void;
  /** Ends the bar (also after a failure, so the terminal line is left clean). */
  stop(): void;
}

export interface ProgressOptions {
  /** What runs, first on each line ("audit", "fsck"). */
  label: string;
  /** What is counted, plural ("entries"). */
  unit: string;
  /** false: print nothing. */
  enabled?: boolean;
  /** Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Least time between two plain lines (default 5 s); the final count is always printed. */
  intervalMs?: number;
}

export function progress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.enabled === false) return { update() {}, stop() {} };
  const started = performance.now();
  const rate = (done: number) => Math.round(done / Math.max((performance.now() - started) / 1000, 1e-3));

  if (stream.isTTY) {
    const bar = new SingleBar({
      format: `${opts.label} [{bar}] {value}/{total} ${opts.unit} | {rate} ${opts.unit}/s`,
      stream,
    });
    let running = false;
    return {
      update(done, total) {
        if (!running) {
          bar.start(total, 0, { rate: 0 });
          running = true;
        }
        bar.update(done, { rate: rate(done) });
      },
      stop() {
        if (running) bar.stop();
        running = false;
      },
    };
  }

  const interval = opts.intervalMs ?? 5_000;
  let last = Number.NEGATIVE_INFINITY;
  return {
    update(done, total) {
      const now = performance.now();
      if (done !== total && now - last < interval) return;
      last = now;
      stream.write(`${opts.label}: ${done}/${total} ${opts.unit} (${rate(done)} ${opts.unit}/s)\n`);
    },
    stop() {},
  };
}
