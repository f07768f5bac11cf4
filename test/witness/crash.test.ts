// A witness process is SIGKILLed while requests are in flight, then restarted on the same
// database. Every cosignature a client received must be covered by the state found after the
// restart (the witness persists before it answers), the state must be a checkpoint the log
// really signed, and the log must be able to carry on from it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { equalBytes } from "../../core/bytes.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { checkpointOfNote } from "../../witness/pull.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { freePort, spawnWitness, type WitnessProcess } from "../helpers/process.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

describe("a witness killed during requests", () => {
  let db: TestDatabase;
  let w: WitnessProcess | undefined;
  const log = new TestLog("example.com/crash", 1);
  const key = witnessKey("crashy", 31);
  let cfg: ReturnType<typeof witnessConfig>;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase("witness_crash");
    dir = tempDir();
    cfg = witnessConfig({
      dir,
      key,
      logs: [{ origin: log.origin, vkeys: [log.vkey] }],
      databaseUrl: db.url,
      port: await freePort(),
    });
    w = await spawnWitness(dir, cfg);
  });

  afterAll(async () => {
    await w?.stop("SIGKILL");
    await db?.drop();
  });

  it("keeps every cosigned checkpoint across SIGKILL and restart", async () => {
    const url = w!.url;
    // Pre-sign notes so the client loop is fast and the kill lands mid-request.
    log.append(1);
    const notes: string[] = [];
    const proofs: Uint8Array[][] = [];
    for (let n = 1; n <= 400; n++) {
      if (log.size < n) log.append(1);
      notes.push(await log.note(n));
      proofs.push(n === 1 ? [] : await log.proof(n - 1, n));
    }
    let cosignedMax = 0;
    let inFlight = 0;
    let failures = 0;
    const client = (async () => {
      for (let n = 1; n <= 400; n++) {
        inFlight = n;
        try {
          const res = await fetch(`${url}/add-checkpoint`, {
            method: "POST",
            body: formatAddCheckpoint(n - 1, proofs[n - 1]!, notes[n - 1]!),
          });
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          await res.text();
          cosignedMax = n;
        } catch {
          failures++;
          return;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    await w!.stop("SIGKILL");
    await client;
    expect(failures).toBe(1); // the request in flight when the process died
    expect(cosignedMax).toBeGreaterThan(0);
    expect(cosignedMax).toBeLessThan(400);

    w = await spawnWitness(dir, cfg);
    const res = await fetch(`${w.url}/v1/logs/${encodeURIComponent(log.origin)}/checkpoint`);
    expect(res.status).toBe(200);
    const note = await res.text();
    const opened = openNote(note, [parseVerifierKey(log.vkey), parseVerifierKey(key.vkey)]);
    expect(opened.verified).toHaveLength(2);
    const cp = checkpointOfNote(note);
    // Persisted before answering: nothing a client got is lost; at most the one in flight is ahead.
    expect(cp.size).toBeGreaterThanOrEqual(cosignedMax);
    expect(cp.size).toBeLessThanOrEqual(inFlight);
    expect(equalBytes(cp.root, await log.root(cp.size))).toBe(true);
    // The log carries on from the recovered state.
    const stale = await fetch(`${w.url}/add-checkpoint`, {
      method: "POST",
      body: formatAddCheckpoint(0, [], notes[399]!),
    });
    expect(stale.status).toBe(409);
    expect(await stale.text()).toBe(`${cp.size}\n`);
    const next = await fetch(`${w.url}/add-checkpoint`, {
      method: "POST",
      body: formatAddCheckpoint(cp.size, await log.proof(cp.size, 400), notes[399]!),
    });
    expect(next.status).toBe(200);
  });
});
