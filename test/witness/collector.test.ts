// The log side (server/witnessing.ts) against real witnesses on loopback: it learns each
// witness's size, proves consistency from it, recovers from a lost state through the 409
// text/x.tlog.size answer, and hands over only cosignatures that verify, through the callback
// the server stores them with (server/publication.ts; the cap of 16 signatures on a served
// note is the store's: test/server/store.test.ts).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { createLogger } from "../../node/log.js";
import { WitnessCollector } from "../../server/witnessing.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

const logger = createLogger({ name: "collector-test", level: "silent" });

type Cosigned = { size: number; witness: string; lines: string[] };

describe("WitnessCollector", () => {
  const log = new TestLog("example.com/collected", 1);
  const k1 = witnessKey("w1.example", 11);
  const k2 = witnessKey("w2.example", 12);
  let w1: RunningWitness;
  let w2: RunningWitness;

  beforeAll(async () => {
    const logs = [{ origin: log.origin, vkeys: [log.vkey] }];
    w1 = await startWitness(parseWitnessConfig(witnessConfig({ dir: tempDir(), key: k1, logs })));
    w2 = await startWitness(parseWitnessConfig(witnessConfig({ dir: tempDir(), key: k2, logs })));
  });

  afterAll(async () => {
    await w1?.close();
    await w2?.close();
  });

  const collector = (extra: { name: string; vkey: string; url: string }[] = []) => {
    const got: Cosigned[] = [];
    const c = new WitnessCollector({
      witnesses: [
        { name: "w1.example", vkey: k1.vkey, url: w1.url },
        { name: "w2.example", vkey: k2.vkey, url: `${w2.url}/` },
        ...extra,
      ],
      hashReader: (size) => log.reader(size),
      logger,
      onCosignatures: (ev) => got.push(ev),
    });
    return { c, got };
  };

  /** The checkpoint of `size` with the lines handed over for it, opened with every key. */
  const cosignedBy = async (got: Cosigned[], size: number) => {
    const lines = got.filter((g) => g.size === size).flatMap((g) => g.lines);
    const note = `${await log.note()}${lines.map((l) => `${l}\n`).join("")}`;
    return openNote(note, [parseVerifierKey(log.vkey), parseVerifierKey(k1.vkey), parseVerifierKey(k2.vkey)]);
  };

  it("collects cosignatures for the first checkpoint and the next, proving consistency from each witness's size", async () => {
    const { c, got } = collector([
      { name: "w3.example", vkey: witnessKey("w3.example", 13).vkey, url: w1.url }, // answers with another key
      { name: "w4.example", vkey: witnessKey("w4.example", 14).vkey, url: "http://127.0.0.1:1" }, // down
    ]);
    log.append(3);
    await c.submit(await log.note(), 3);
    expect(got.map((g) => g.witness).sort()).toEqual(["w1.example", "w2.example"]);
    log.append(4);
    await c.submit(await log.note(), 7);
    // The witness answering with another key and the one that is down hand over nothing.
    expect(
      got
        .filter((g) => g.size === 7)
        .map((g) => g.witness)
        .sort(),
    ).toEqual(["w1.example", "w2.example"]);
    const opened = await cosignedBy(got, 7);
    expect(opened.verified).toHaveLength(3);
    expect(opened.body).toBe(await log.checkpointBody(7));
    expect((await w1.store.get(log.origin))?.size).toBe(7);
    expect((await w2.store.get(log.origin))?.size).toBe(7);
  });

  it("a collector that lost its state learns the witness's size from 409 and retries with a proof", async () => {
    const { c, got } = collector();
    log.append(2);
    await c.submit(await log.note(), 9);
    expect(got.map((g) => [g.witness, g.size]).sort()).toEqual([
      ["w1.example", 9],
      ["w2.example", 9],
    ]);
    expect((await w1.store.get(log.origin))?.size).toBe(9);
  });

  it("refresh() re-submits the latest checkpoint for fresh cosignatures", async () => {
    const { c, got } = collector();
    await c.submit(await log.note(), 9);
    const first = got.map((g) => g.lines.join(""));
    // Cosignature timestamps have a one-second resolution.
    await new Promise((r) => setTimeout(r, 1100));
    await c.refresh();
    const second = got.slice(first.length);
    expect(second).toHaveLength(2);
    for (const g of second) expect(first).not.toContain(g.lines.join(""));
    expect((await cosignedBy(second, 9)).verified).toHaveLength(3);
  });
});
