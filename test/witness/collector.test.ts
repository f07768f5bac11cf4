// The log side (server/witnessing.ts) against real witnesses on loopback: it learns each
// witness's size, proves consistency from it, recovers from a lost state through the 409
// text/x.tlog.size answer, keeps only cosignatures that verify, and caps the note at 16 lines.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateSignerKey,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from "../../core/note.js";
import { createLogger } from "../../node/log.js";
import { WitnessCollector } from "../../server/witnessing.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { seed, TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

const logger = createLogger({ name: "collector-test", level: "silent" });

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

  const collector = (extra: { name: string; vkey: string; url: string }[] = []) =>
    new WitnessCollector({
      witnesses: [
        { name: "w1.example", vkey: k1.vkey, url: w1.url },
        { name: "w2.example", vkey: k2.vkey, url: `${w2.url}/` },
        ...extra,
      ],
      hashReader: (size) => log.reader(size),
      logger,
    });

  it("collects a quorum for the first checkpoint and the next, proving consistency from each witness's size", async () => {
    const c = collector([
      { name: "w3.example", vkey: witnessKey("w3.example", 13).vkey, url: w1.url }, // answers with another key
      { name: "w4.example", vkey: witnessKey("w4.example", 14).vkey, url: "http://127.0.0.1:1" }, // down
    ]);
    log.append(3);
    await c.submit(await log.note(), 3);
    expect(c.quorumMet(2)).toBe(true);
    expect(c.quorumMet(3)).toBe(false);
    log.append(4);
    await c.submit(await log.note(), 7);
    const status = c.status();
    expect(status.map((s) => s.cosignedSize)).toEqual([7, 7, undefined, undefined]);
    expect(status[2]!.lastError).toMatch(/NOTE_UNVERIFIED|no signature/);
    expect(status[3]!.lastError).toBeDefined();
    const note = c.cosignedNote()!;
    const opened = openNote(note, [
      parseVerifierKey(log.vkey),
      parseVerifierKey(k1.vkey),
      parseVerifierKey(k2.vkey),
    ]);
    expect(opened.verified).toHaveLength(3);
    expect(opened.body).toBe(await log.checkpointBody(7));
    expect((await w1.store.get(log.origin))?.size).toBe(7);
  });

  it("a collector that lost its state learns the witness's size from 409 and retries with a proof", async () => {
    const c = collector();
    log.append(2);
    await c.submit(await log.note(), 9);
    expect(c.quorumMet(2)).toBe(true);
    expect(c.status().every((s) => s.size === 9 && s.lastError === undefined)).toBe(true);
  });

  it("refresh() re-submits the latest checkpoint for fresh cosignatures", async () => {
    const c = collector();
    await c.submit(await log.note(), 9);
    const first = c.cosignedNote();
    await new Promise((r) => setTimeout(r, 1100));
    await c.refresh();
    const second = c.cosignedNote();
    expect(second).not.toBe(first);
    expect(parseNote(second!).body).toBe(parseNote(first!).body);
    expect(c.quorumMet(2)).toBe(true);
  });

  it("keeps at most 16 signatures on the published note", async () => {
    const c = collector();
    const extraKeys = Array.from({ length: 14 }, (_, i) =>
      parseSignerKey(generateSignerKey(`other${i}`, seed(40 + i)).skey),
    );
    const note = signNote(await log.checkpointBody(9), [parseSignerKey(log.skey), ...extraKeys]);
    await c.submit(note, 9);
    const published = parseNote(c.cosignedNote()!);
    expect(published.signatures).toHaveLength(16);
    expect(c.quorumMet(2)).toBe(true);
  });
});
