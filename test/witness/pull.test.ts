// Pull mode against a tiny HTTP log (test/witness/fixture-log.ts): the witness fetches the
// checkpoint and the tiles it needs, proves consistency from its own recorded size, cosigns
// through the same add-checkpoint logic, and turns a log whose tiles contradict what it
// cosigned into portable evidence.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseVerifierKey } from "../../core/note-keys.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { checkEvidence } from "../../witness/evidence.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { type FixtureLog, startFixtureLog } from "./fixture-log.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

describe("pull mode", () => {
  let db: TestDatabase;
  let w: RunningWitness;
  let fixture: FixtureLog;
  const log = new TestLog("example.com/pulled", 1).append(300);

  beforeAll(async () => {
    db = await createTestDatabase("witness_pull");
    fixture = await startFixtureLog(log, 300);
    const cfg = witnessConfig({
      dir: tempDir(),
      key: witnessKey("puller", 7),
      logs: [{ origin: log.origin, vkeys: [log.vkey], url: fixture.url }],
      databaseUrl: db.url,
    });
    w = await startWitness(parseWitnessConfig(cfg));
  });

  afterAll(async () => {
    await w?.close();
    await fixture?.close();
    await db?.drop();
  });

  it("cosigns a log that never pushes, then follows it with proofs built from tiles", async () => {
    expect(await w.puller.pull(log.origin)).toBe("cosigned");
    expect((await w.store.get(log.origin))?.size).toBe(300);
    expect(await w.puller.pull(log.origin)).toBe("unchanged");
    log.append(400);
    fixture.current.size = 700;
    fixture.requests.length = 0;
    expect(await w.puller.pull(log.origin)).toBe("cosigned");
    expect((await w.store.get(log.origin))?.size).toBe(700);
    expect(fixture.requests.some((p) => p.startsWith("/tile/0/"))).toBe(true);
  });

  it("a log showing an older, consistent checkpoint is just behind", async () => {
    fixture.current.size = 500;
    expect(await w.puller.pull(log.origin)).toBe("behind");
    fixture.current.size = 700;
  });

  it("a log whose new tree does not extend the cosigned one yields checkable evidence and is refused", async () => {
    const forked = log.fork();
    forked.leaves.length = 650;
    forked.append(150, "rewritten");
    fixture.current = { log: forked, size: 800 };
    expect(await w.puller.pull(log.origin)).toBe("evidence");
    const [e] = await w.store.listEvidence();
    expect(e?.kind).toBe("inconsistent");
    const { a, b } = checkEvidence(e!, parseVerifierKey(log.vkey));
    expect([a.size, b.size]).toEqual([700, 800]);
    expect((await w.store.get(log.origin))?.refused).toBe(true);
    expect(await w.puller.pull(log.origin)).toBe("refused");
  });
});

describe("pull mode runs on its own", () => {
  it("a witness with a pull interval catches up with the log without any request", async () => {
    const log = new TestLog("example.com/timer", 2).append(20);
    const fixture = await startFixtureLog(log);
    const cfg = witnessConfig({
      dir: tempDir(),
      key: witnessKey("timer", 8),
      logs: [{ origin: log.origin, vkeys: [log.vkey], url: fixture.url }],
    });
    const w = await startWitness(parseWitnessConfig({ ...cfg, pullIntervalSeconds: 0.2 }));
    try {
      const deadline = Date.now() + 10_000;
      while ((await w.store.get(log.origin))?.size !== 20 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await w.store.get(log.origin))?.size).toBe(20);
    } finally {
      await w.close();
      await fixture.close();
    }
  });
});
