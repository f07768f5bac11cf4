// Scenarios for POST /add-checkpoint (C2SP tlog-witness): every status the spec defines, on
// real PostgreSQL and on PGlite, against a real witness listening on a loopback port.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64 } from "../../core/bytes.js";
import { formatCheckpoint } from "../../core/checkpoint.js";
import { cosignatureTimestamp } from "../../core/cosignature.js";
import { openNote, parseNote, signNote } from "../../core/note.js";
import { parseSignerKey, parseVerifierKey } from "../../core/note-keys.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { originHash } from "../../witness/app.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { checkEvidence, evidenceFromJson } from "../../witness/evidence.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

const backends = ["postgres", "pglite"] as const;

describe.each(backends)("add-checkpoint on %s", (backend) => {
  let db: TestDatabase | undefined;
  let w: RunningWitness;
  const key = witnessKey("witness.test", 9);
  const logA = new TestLog("example.com/a", 1);
  const logB = new TestLog("example.com/b", 2);
  const stranger = new TestLog("example.com/a", 3); // same origin, untrusted key

  beforeAll(async () => {
    if (backend === "postgres") db = await createTestDatabase("witness_add");
    const cfg = witnessConfig({
      dir: tempDir(),
      key,
      logs: [
        { origin: logA.origin, vkeys: [logA.vkey] },
        { origin: logB.origin, vkeys: [logB.vkey] },
      ],
      ...(db ? { databaseUrl: db.url } : {}),
    });
    w = await startWitness(parseWitnessConfig(cfg));
  });

  afterAll(async () => {
    await w?.close();
    await db?.drop();
  });

  const post = (body: string | Uint8Array) =>
    fetch(`${w.url}/add-checkpoint`, {
      method: "POST",
      body: typeof body === "string" ? body : Buffer.from(body),
    });

  const add = async (log: TestLog, oldSize: number, size = log.size, proof?: Uint8Array[]) =>
    post(formatAddCheckpoint(oldSize, proof ?? (await log.proof(oldSize, size)), await log.note(size)));

  it("answers 404 for an origin it does not witness", async () => {
    const other = new TestLog("example.com/unknown", 4).append(2);
    const res = await add(other, 0);
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/^UNKNOWN_ORIGIN/);
  });

  it("answers 403 when no trusted log key signed, or a trusted key's signature is bad", async () => {
    stranger.append(3);
    expect((await add(stranger, 0)).status).toBe(403);
    logA.append(3);
    const note = await logA.note();
    const parsed = parseNote(note);
    const sig = parsed.signatures[0]!;
    const flipped = sig.line.slice(0, -6) + (sig.line.slice(-6, -5) === "A" ? "B" : "A") + sig.line.slice(-5);
    const forged = `${parsed.body}\n${flipped}\n`;
    const res = await post(formatAddCheckpoint(0, [], forged));
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/^LOG_SIGNATURE_INVALID/);
  });

  it("answers 400 for malformed bodies and for old > new", async () => {
    const note = await logA.note(3);
    const cases = [
      `old 0\n${note}`, // no empty line
      `old 00\n\n${note}`,
      `old -1\n\n${note}`,
      `new 0\n\n${note}`,
      `old 0\nnot base64!\n\n${note}`,
      `old 0\n${toBase64(new Uint8Array(31))}\n\n${note}`,
      `old 0\n${`${toBase64(new Uint8Array(32))}\n`.repeat(64)}\n${note}`,
      `old 0\n\nexample.com/a\n3\n`, // note without signatures
      `old 5\n\n${note}`, // old > checkpoint size
    ];
    for (const body of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body.slice(0, 40))).toBe(400);
    }
    expect((await post(new Uint8Array([0x6f, 0x6c, 0x64, 0x20, 0x30, 0x0a, 0x0a, 0xff, 0xfe]))).status).toBe(
      400,
    );
  });

  it("answers 409 text/x.tlog.size with its recorded size when old differs", async () => {
    const res = await add(logA, 2, 3);
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toBe("text/x.tlog.size");
    expect(await res.text()).toBe("0\n");
  });

  it("answers 422 for a non-empty proof from 0, and a size-0 checkpoint with a non-empty root", async () => {
    const res = await add(logA, 0, 3, [new Uint8Array(32)]);
    expect(res.status).toBe(422);
    const badEmpty = signNote(
      formatCheckpoint({ origin: logA.origin, size: 0, root: new Uint8Array(32), extensions: [] }),
      [parseSignerKey(logA.skey)],
    );
    expect((await post(formatAddCheckpoint(0, [], badEmpty))).status).toBe(422);
  });

  it("cosigns a first checkpoint: 200 with a valid cosignature line over the re-encoded body", async () => {
    const res = await add(logA, 0, 3);
    expect(res.status).toBe(200);
    const lines = await res.text();
    expect(lines).toMatch(/^— witness\.test [A-Za-z0-9+/=]+\n$/);
    const cosigned = `${await logA.checkpointBody(3)}\n${lines}`;
    const opened = openNote(cosigned, [parseVerifierKey(key.vkey)]);
    expect(opened.verified).toHaveLength(1);
    const ts = cosignatureTimestamp(opened.signatures[0]!.payload.slice(0));
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(60);
    const state = await w.store.get(logA.origin);
    expect(state?.size).toBe(3);
  });

  it("answers 409 with the new size to a stale client, then cosigns its retry", async () => {
    logA.append(5);
    const stale = await add(logA, 0);
    expect(stale.status).toBe(409);
    expect(await stale.text()).toBe("3\n");
    expect((await add(logA, 3)).status).toBe(200);
    expect((await w.store.get(logA.origin))?.size).toBe(8);
  });

  it("answers 422 for proofs for the wrong sizes or that do not verify", async () => {
    logA.append(4); // 12
    const note = await logA.note(12);
    const wrongSizes = await logA.proof(5, 12);
    expect((await post(formatAddCheckpoint(8, wrongSizes, note))).status).toBe(422);
    const garbage = (await logA.proof(8, 12)).map(() => new Uint8Array(32).fill(7));
    expect((await post(formatAddCheckpoint(8, garbage, note))).status).toBe(422);
    expect((await post(formatAddCheckpoint(8, [], note))).status).toBe(422);
    expect((await w.store.get(logA.origin))?.size).toBe(8);
  });

  it("cosigns the same checkpoint again with a fresh signature and no state change", async () => {
    const before = await w.store.get(logA.origin);
    const res = await add(logA, 8, 8);
    expect(res.status).toBe(200);
    const after = await w.store.get(logA.origin);
    expect(after).toEqual(before);
    // A non-empty proof between equal sizes is not a valid proof.
    expect((await add(logA, 8, 8, [new Uint8Array(32)])).status).toBe(422);
  });

  it("serves the latest cosigned checkpoint at the monitoring GET and the gossip path", async () => {
    for (const path of [
      `/${originHash(logA.origin)}/checkpoint`,
      `/v1/logs/${encodeURIComponent(logA.origin)}/checkpoint`,
    ]) {
      const res = await fetch(`${w.url}${path}`);
      expect(res.status).toBe(200);
      const note = await res.text();
      const opened = openNote(note, [parseVerifierKey(logA.vkey), parseVerifierKey(key.vkey)]);
      expect(opened.verified).toHaveLength(2);
      expect(opened.body).toBe(await logA.checkpointBody(8));
    }
    expect((await fetch(`${w.url}/${originHash(logB.origin)}/checkpoint`)).status).toBe(404);
  });

  it("answers 413 to an enormous body", async () => {
    const res = await post(new Uint8Array(2 << 20).fill(0x41));
    expect(res.status).toBe(413);
  });

  it("answers 409 to the same size with another root, keeps the evidence and refuses the log (403)", async () => {
    logB.append(4);
    expect((await add(logB, 0)).status).toBe(200);
    const fork = logB.fork();
    fork.leaves.length = 3;
    fork.append(1, "evil");
    const res = await add(fork, 4, 4);
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).not.toBe("text/x.tlog.size");
    const list = (await (await fetch(`${w.url}/v1/evidence`)).json()) as unknown[];
    expect(list).toHaveLength(1);
    const e = evidenceFromJson(list[0]);
    expect(e.kind).toBe("same-size");
    expect(() => checkEvidence(e, parseVerifierKey(logB.vkey))).not.toThrow();
    // From now on, even the honest branch is refused.
    logB.append(2);
    const refused = await add(logB, 4);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/^LOG_EQUIVOCATED/);
    const metrics = await (await fetch(`${w.url}/metrics`)).text();
    expect(metrics).toMatch(
      /witness_equivocation_evidence_total\{origin="example.com\/b",kind="same-size"\} 1/,
    );
  });
});
