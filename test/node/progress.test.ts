// node/progress.ts off a terminal: plain lines, no more often than asked, the last always.

import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { progress } from "../../node/progress.js";

function sink(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = "";
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.split("\n").filter((l) => l !== "") };
}

describe("progress off a terminal", () => {
  it("prints the first count, then at most one line per interval, and always the last", () => {
    const out = sink();
    const p = progress({ label: "fsck", unit: "entries", stream: out.stream, intervalMs: 60_000 });
    for (let done = 256; done <= 2560; done += 256) p.update(done, 2560);
    p.stop();
    const lines = out.lines();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^fsck: 256\/2560 entries \(\d+ entries\/s\)$/);
    expect(lines[1]).toMatch(/^fsck: 2560\/2560 entries/);
  });

  it("prints nothing when disabled", () => {
    const out = sink();
    const p = progress({ label: "audit", unit: "entries", stream: out.stream, enabled: false });
    p.update(1, 2);
    p.update(2, 2);
    p.stop();
    expect(out.lines()).toEqual([]);
  });
});
