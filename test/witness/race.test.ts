// Concurrent add-checkpoint requests for one log: a test-only hook holds every request between
// its read of the state and its conditional update, so all of them verify against the same old
// checkpoint. Exactly one may win; the others must get 409 with the winner's size, and two
// forks of one size must never both be cosigned.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

describe("concurrent add-checkpoint (PostgreSQL)", () => {
  let db: TestDatabase;
  let w: RunningWitness;
  const log = new TestLog("example.com/race", 1).append(4);
  const log2 = new TestLog("example.com/race2", 2).append(4);
  let gate: { waiting: number; expected: number; release?: () => void; opened: Promise<void> } | undefined;

  beforeAll(async () => {
    db = await createTestDatabase("witness_race");
    const cfg = witnessConfig({
      dir: tempDir(),
      key: witnessKey("w", 5),
      logs: [
        { origin: log.origin, vkeys: [log.vkey] },
        { origin: log2.origin, vkeys: [log2.vkey] },
      ],
      databaseUrl: db.url,
    });
    w = await startWitness(parseWitnessConfig(cfg), {
      hooks: {
        // Holds each request after its read until `expected` requests have all read.
        async beforeUpdate() {
          if (!gate) return;
          gate.waiting++;
          if (gate.waiting === gate.expected) gate.release?.();
          await gate.opened;
        },
      },
    });
  });

  afterAll(async () => {
    await w?.close();
    await db?.drop();
  });

  function armGate(expected: number) {
    let release!: () => void;
    const opened = new Promise<void>((r) => {
      release = r;
    });
    gate = { waiting: 0, expected, release, opened };
  }

  const post = async (body: string) => {
    const res = await fetch(`${w.url}/add-checkpoint`, { method: "POST", body });
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
  };

  it("exactly one of eight forks of the same size is cosigned, the others get 409", async () => {
    expect((await post(formatAddCheckpoint(0, [], await log.note()))).status).toBe(200);
    const forks = Array.from({ length: 8 }, (_, i) => log.fork().append(3, `fork${i}`));
    const bodies = await Promise.all(
      forks.map(async (f) => formatAddCheckpoint(4, await f.proof(4), await f.note())),
    );
    armGate(8);
    const results = await Promise.all(bodies.map(post));
    gate = undefined;
    const wins = results.filter((r) => r.status === 200);
    const losses = results.filter((r) => r.status === 409);
    expect(wins).toHaveLength(1);
    expect(losses).toHaveLength(7);
    for (const r of losses) {
      expect(r.type).toBe("text/x.tlog.size");
      expect(r.text).toBe("7\n");
    }
    const state = await w.store.get(log.origin);
    expect(state?.size).toBe(7);
    const winner = forks[results.findIndex((r) => r.status === 200)]!;
    expect(Buffer.from(state!.root).equals(Buffer.from(await winner.root()))).toBe(true);
    // The losers proved the log forked: the witness keeps that and refuses the log from now on.
    const evidence = await w.store.listEvidence();
    expect(evidence.length).toBeGreaterThanOrEqual(1);
    expect(evidence.every((e) => e.kind === "same-size" && e.origin === log.origin)).toBe(true);
    const next = winner.append(1);
    expect((await post(formatAddCheckpoint(7, await next.proof(7), await next.note()))).status).toBe(403);
  });

  it("the same checkpoint sent six times at once (a retrying log) is recorded once; retries from the new size succeed", async () => {
    expect((await post(formatAddCheckpoint(0, [], await log2.note(4)))).status).toBe(200);
    const next = log2.append(6);
    const body = formatAddCheckpoint(4, await next.proof(4), await next.note());
    armGate(6);
    const results = await Promise.all(Array.from({ length: 6 }, () => post(body)));
    gate = undefined;
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409 && r.text === "10\n")).toHaveLength(5);
    const again = await post(formatAddCheckpoint(10, [], await next.note()));
    expect(again.status).toBe(200);
    expect((await w.store.get(log2.origin))?.size).toBe(10);
  });
});
