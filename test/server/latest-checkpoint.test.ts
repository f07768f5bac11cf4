// LatestCheckpoint (server/app.ts): the published checkpoint, read at most once per TTL. peek()
// answers what get() would, without waiting, only while that value is loaded and fresh: the
// proof fast path answers from it, so a stale or failed read must never be peeked.

import { describe, expect, it } from "vitest";
import { LatestCheckpoint } from "../../server/app.js";
import type { StoredCheckpoint } from "../../server/storage/log-store.js";

const checkpoint = (size: number): StoredCheckpoint => ({
  size,
  root: new Uint8Array(32),
  note: `example.org/log\n${size}\n`,
  cosignatures: [],
});

describe("LatestCheckpoint.peek", () => {
  it("answers only what get() loaded, while it is fresh", async () => {
    let size = 7;
    let loads = 0;
    const latest = new LatestCheckpoint(async () => {
      loads++;
      return checkpoint(size);
    }, 50);
    expect(latest.peek()).toBeUndefined();
    const pending = latest.get();
    expect(latest.peek()).toBeUndefined(); // not loaded yet
    await pending;
    expect(latest.peek()?.checkpoint?.size).toBe(7);
    size = 8;
    latest.invalidate();
    expect(latest.peek()).toBeUndefined();
    expect((await latest.get())?.size).toBe(8);
    expect(latest.peek()?.checkpoint?.size).toBe(8);
    const start = performance.now();
    while (performance.now() - start < 60) await new Promise((r) => setTimeout(r, 10));
    expect(latest.peek()).toBeUndefined(); // older than the TTL
    expect(loads).toBe(2);
  });

  it("never peeks a failed read", async () => {
    let fail = true;
    const latest = new LatestCheckpoint(async () => {
      if (fail) throw new Error("database down");
      return undefined;
    });
    await expect(latest.get()).rejects.toThrow("database down");
    expect(latest.peek()).toBeUndefined();
    fail = false;
    expect(await latest.get()).toBeUndefined();
    // An empty log loaded: peeked as loaded, with no checkpoint.
    expect(latest.peek()).toEqual({ checkpoint: undefined });
  });
});
