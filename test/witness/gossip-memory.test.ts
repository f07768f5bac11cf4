// Gossip remembers the pairs of checkpoints it has shown consistent, so a quiet log costs no
// tile fetches round after round. Every new checkpoint a peer shows makes a new pair, so that
// memory must be bounded: here 200 distinct settled pairs go through a gossip that keeps 32, the
// memory never holds more, the latest pairs are still answered from it, and a forgotten pair is
// simply proved again from the log's tiles.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../node/log.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { Gossip } from "../../witness/gossip.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { type FixtureLog, startFixtureLog } from "./fixture-log.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

const log = new TestLog("example.com/gossip-memory", 3).append(260);
let db: TestDatabase;
let w: RunningWitness;
let fixture: FixtureLog;

beforeAll(async () => {
  db = await createTestDatabase("witness_gossip_memory");
  fixture = await startFixtureLog(log);
  w = await startWitness(
    parseWitnessConfig(
      witnessConfig({
        dir: tempDir(),
        key: witnessKey("gossip-memory", 31),
        logs: [{ origin: log.origin, vkeys: [log.vkey], url: fixture.url }],
        databaseUrl: db.url,
      }),
    ),
  );
  // What this witness cosigned: the checkpoint of size 1, so every later size makes a new pair.
  await w.witness.add({ oldSize: 0, proof: [], note: await log.note(1) }, "test");
});

afterAll(async () => {
  await w?.close();
  await fixture?.close();
  await db?.drop();
});

describe("the gossip memory of settled pairs", () => {
  it("stays bounded however many distinct pairs settle", async () => {
    const gossip = new Gossip({
      witness: w.witness,
      peers: [],
      logUrls: new Map([[log.origin, fixture.url]]),
      logger: createLogger({ name: "gossip-memory", level: "silent" }),
      metrics: w.metrics,
      timeoutMs: 30_000,
      maxSettledPairs: 32,
    });
    for (let size = 2; size <= 201; size++) {
      expect(await gossip.compare(log.origin, await log.note(size), "peer")).toBe("consistent");
      expect(gossip.settledPairs).toBeLessThanOrEqual(32);
    }
    expect(gossip.settledPairs).toBe(32);

    // The latest pair is still known: no fetch at all.
    fixture.requests.length = 0;
    expect(await gossip.compare(log.origin, await log.note(201), "peer")).toBe("consistent");
    expect(fixture.requests).toEqual([]);
    // The oldest was forgotten: proved again from the log's tiles, still consistent.
    expect(await gossip.compare(log.origin, await log.note(2), "peer")).toBe("consistent");
    expect(fixture.requests.some((p) => p.startsWith("/tile/"))).toBe(true);
    expect(gossip.settledPairs).toBe(32);
  });
});
