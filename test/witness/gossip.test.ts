// Two witness processes gossip. A log shows one history to the first witness and another to
// the second; as soon as they exchange their latest cosigned checkpoints, both hold checkable
// evidence (the second one by re-verifying what the first one found, or finding it itself),
// serve it, count it, and refuse to cosign that log again.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseVerifierKey } from "../../core/note-keys.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { checkEvidence, evidenceFromJson } from "../../witness/evidence.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { freePort, spawnWitness, type WitnessProcess } from "../helpers/process.js";
import { type FixtureLog, startFixtureLog } from "./fixture-log.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("gossip between two witness processes", () => {
  const dbs: TestDatabase[] = [];
  const procs: WitnessProcess[] = [];
  let fixture: FixtureLog;
  // Same origin, same key, two histories of the same size.
  const honest = new TestLog("example.com/split", 1).append(5, "honest");
  const evil = new TestLog("example.com/split", 1).append(5, "evil");
  // Another log: the first witness saw size 5, the second size 8 of a tree that rewrote leaf 3.
  const m1 = new TestLog("example.com/moved", 2).append(5, "m");
  const m2 = new TestLog("example.com/moved", 2).append(3, "m").append(5, "rewritten");
  const k1 = witnessKey("w1.example", 21);
  const k2 = witnessKey("w2.example", 22);

  beforeAll(async () => {
    fixture = await startFixtureLog(m2, 8);
    dbs.push(await createTestDatabase("witness_gossip1"), await createTestDatabase("witness_gossip2"));
    const ports = [await freePort(), await freePort()];
    const logs = [
      { origin: honest.origin, vkeys: [honest.vkey] },
      { origin: m1.origin, vkeys: [m1.vkey], url: fixture.url },
    ];
    const keys = [k1, k2];
    for (let i = 0; i < 2; i++) {
      const dir = tempDir();
      const cfg = witnessConfig({
        dir,
        key: keys[i]!,
        logs,
        peers: [{ url: `http://127.0.0.1:${ports[1 - i]}`, vkey: keys[1 - i]!.vkey }],
        databaseUrl: dbs[i]!.url,
        port: ports[i]!,
      });
      procs.push(await spawnWitness(dir, { ...cfg, gossipIntervalSeconds: 0.5, pullIntervalSeconds: 0 }));
    }
  });

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await fixture?.close();
    for (const d of dbs) await d.drop();
  });

  const post = (w: WitnessProcess, body: string) =>
    fetch(`${w.url}/add-checkpoint`, { method: "POST", body });

  it("both witnesses end with the evidence of a same-size fork and refuse the log", async () => {
    const [w1, w2] = procs as [WitnessProcess, WitnessProcess];
    expect((await post(w1, formatAddCheckpoint(0, [], await honest.note()))).status).toBe(200);
    expect((await post(w2, formatAddCheckpoint(0, [], await evil.note()))).status).toBe(200);
    for (const w of [w1, w2]) {
      const e = await until("evidence", async () => {
        const list = (await (await fetch(`${w.url}/v1/evidence`)).json()) as unknown[];
        return list.map(evidenceFromJson).find((x) => x.origin === honest.origin);
      });
      expect(e.kind).toBe("same-size");
      const { a, b } = checkEvidence(e, parseVerifierKey(honest.vkey));
      expect(a.size).toBe(5);
      expect(b.size).toBe(5);
      const next = honest.fork().append(1);
      const res = await post(w, formatAddCheckpoint(5, await next.proof(5), await next.note()));
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/^LOG_EQUIVOCATED/);
      const metrics = await (await fetch(`${w.url}/metrics`)).text();
      expect(metrics).toMatch(
        /witness_equivocation_evidence_total\{origin="example.com\/split",kind="same-size"\} 1/,
      );
    }
    // The log's other checkpoints cannot be cosigned either, whichever branch they come from.
    const evilNext = evil.fork().append(2);
    expect(
      (await post(w2, formatAddCheckpoint(5, await evilNext.proof(5), await evilNext.note()))).status,
    ).toBe(403);
  });

  it("checkpoints of different sizes that the log's own tiles contradict become evidence on both", async () => {
    const [w1, w2] = procs as [WitnessProcess, WitnessProcess];
    expect((await post(w1, formatAddCheckpoint(0, [], await m1.note()))).status).toBe(200);
    expect((await post(w2, formatAddCheckpoint(0, [], await m2.note(8)))).status).toBe(200);
    for (const w of [w1, w2]) {
      const e = await until("evidence", async () => {
        const list = (await (await fetch(`${w.url}/v1/evidence`)).json()) as unknown[];
        return list.map(evidenceFromJson).find((x) => x.origin === m1.origin);
      });
      expect(e.kind).toBe("inconsistent");
      const { a, b } = checkEvidence(e, parseVerifierKey(m1.vkey));
      expect([a.size, b.size]).toEqual([5, 8]);
    }
  });
});
