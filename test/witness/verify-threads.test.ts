// The witness verifies log signatures on worker threads (node/verify-pool.ts): the answers must
// be the ones the workers gave, for exactly the signatures sent, with the same outcome as
// verifying on the event loop. Real witnesses on PGlite, over HTTP.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseNote } from "../../core/note.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { loadWitnessConfig, parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, type StartOptions, startWitness } from "../../witness/main.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

describe("log signatures verified off the event loop", () => {
  let w: RunningWitness | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  async function start(log: TestLog, verifyThreads: number, opts: StartOptions = {}) {
    const cfg = witnessConfig({
      dir: tempDir(),
      key: witnessKey("w.test", 7),
      logs: [{ origin: log.origin, vkeys: [log.vkey] }],
    });
    w = await startWitness(parseWitnessConfig({ ...cfg, verifyThreads }), opts);
    return w;
  }

  const post = async (w: RunningWitness, body: string) => {
    const res = await fetch(`${w.url}/add-checkpoint`, { method: "POST", body });
    return { status: res.status, text: await res.text() };
  };

  /** The log's note with one character of its signature changed: a signature that fails. */
  function forge(note: string): string {
    const parsed = parseNote(note);
    const line = parsed.signatures[0]!.line;
    const at = line.length - 6;
    const flipped = line.slice(0, at) + (line[at] === "A" ? "B" : "A") + line.slice(at + 1);
    return `${parsed.body}\n${flipped}\n`;
  }

  it("cosigns a validly signed checkpoint and refuses a forged one, both verified by a worker", async () => {
    const log = new TestLog("example.com/threads", 1).append(3);
    const witness = await start(log, 1);
    const forged = await post(witness, formatAddCheckpoint(0, [], forge(await log.note())));
    expect(forged.status).toBe(403);
    expect(forged.text).toMatch(/^LOG_SIGNATURE_INVALID/);
    expect((await post(witness, formatAddCheckpoint(0, [], await log.note()))).status).toBe(200);
    expect(witness.verifier?.answeredByWorkers).toBeGreaterThanOrEqual(2);
    expect((await witness.store.get(log.origin))?.size).toBe(3);
  });

  it("goes by what the verifier answered for the signatures it was sent", async () => {
    const log = new TestLog("example.com/verdicts", 2).append(3);
    const sent: number[] = [];
    // A verifier that finds every signature bad: a validly signed checkpoint must be refused,
    // so the witness did not verify it again some other way.
    const witness = await start(log, 0, {
      signatures: {
        async verifySignatures(jobs) {
          for (const j of jobs) sent.push(j.sigs.length);
          return jobs.map(() => 0);
        },
      },
    });
    const refused = await post(witness, formatAddCheckpoint(0, [], await log.note()));
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/^LOG_SIGNATURE_INVALID/);
    expect(sent).toEqual([1]);
    expect((await witness.store.get(log.origin))?.size).toBe(0);
  });

  it("without threads, verifies on the event loop with the same answers", async () => {
    const log = new TestLog("example.com/inline", 3).append(2);
    const witness = await start(log, 0);
    expect(witness.verifier).toBeUndefined();
    expect((await post(witness, formatAddCheckpoint(0, [], forge(await log.note())))).status).toBe(403);
    expect((await post(witness, formatAddCheckpoint(0, [], await log.note()))).status).toBe(200);
  });

  it("takes verifyThreads from the file or TRUSTLOG_WITNESS_VERIFY_THREADS (default 1) and refuses a negative count", () => {
    const dir = tempDir();
    const log = new TestLog("example.com/config", 4);
    const cfg = witnessConfig({
      dir,
      key: witnessKey("w.test", 8),
      logs: [{ origin: log.origin, vkeys: [log.vkey] }],
    });
    const file = join(dir, "witness.json");
    writeFileSync(file, JSON.stringify(cfg));
    expect(loadWitnessConfig(file, {}).verifyThreads).toBe(1);
    expect(loadWitnessConfig(file, { TRUSTLOG_WITNESS_VERIFY_THREADS: "0" }).verifyThreads).toBe(0);
    writeFileSync(file, JSON.stringify({ ...cfg, verifyThreads: 3 }));
    expect(loadWitnessConfig(file, {}).verifyThreads).toBe(3);
    expect(() => parseWitnessConfig({ ...cfg, verifyThreads: -1 })).toThrow(/verifyThreads/);
  });
});
