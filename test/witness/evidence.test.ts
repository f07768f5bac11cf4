// checkEvidence is what anyone runs on evidence received from a witness: it must accept real
// contradictions and refuse everything else, since a peer's evidence makes a witness refuse a
// log for good.

import { describe, expect, it } from "vitest";
import { toBase64 } from "../../core/bytes.js";
import { isTrustlogError } from "../../core/errors.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import {
  checkEvidence,
  type Evidence,
  evidenceFingerprint,
  proveInconsistency,
  sameSizeEvidence,
} from "../../witness/evidence.js";
import { checkpointOfNote } from "../../witness/pull.js";
import { TestLog } from "./helpers.js";

function rejects(e: Evidence, vkey: string): void {
  let err: unknown;
  try {
    checkEvidence(e, parseVerifierKey(vkey));
  } catch (x) {
    err = x;
  }
  expect(isTrustlogError(err, "EVIDENCE_INVALID")).toBe(true);
}

describe("checkEvidence", () => {
  const a = new TestLog("example.com/ev", 1).append(6, "a");
  const b = new TestLog("example.com/ev", 1).append(6, "b");
  const other = new TestLog("example.com/ev", 2).append(6, "b"); // another key

  it("accepts two same-size checkpoints with different roots, and the fingerprint ignores order", async () => {
    const e = sameSizeEvidence(a.origin, await a.note(), await b.note());
    const { a: x, b: y } = checkEvidence(e, parseVerifierKey(a.vkey));
    expect(x.size).toBe(6);
    expect(y.size).toBe(6);
    const swapped = sameSizeEvidence(a.origin, await b.note(), await a.note());
    expect(evidenceFingerprint(swapped)).toBe(evidenceFingerprint(e));
  });

  it("refuses agreement, another key, another origin, and junk", async () => {
    const vk = a.vkey;
    rejects(sameSizeEvidence(a.origin, await a.note(), await a.note()), vk);
    rejects(sameSizeEvidence(a.origin, await a.note(), await other.note()), vk);
    rejects(sameSizeEvidence("example.com/else", await a.note(), await b.note()), vk);
    rejects(sameSizeEvidence(a.origin, await a.note(5), await b.note(6)), vk);
    rejects({ origin: a.origin, kind: "nonsense" as never, notes: [await a.note(), await b.note()] }, vk);
    rejects({ origin: a.origin, kind: "same-size", notes: ["x", "y"] }, vk);
    rejects(null as unknown as Evidence, vk);
  });

  it("accepts a tiles-proven inconsistency and refuses it once tampered with", async () => {
    const small = { note: await a.note(4), checkpoint: checkpointOfNote(await a.note(4)) };
    const big = { note: await b.note(6), checkpoint: checkpointOfNote(await b.note(6)) };
    const e = (await proveInconsistency(a.origin, small, big, b.reader(6)))!;
    expect(e.kind).toBe("inconsistent");
    expect(() => checkEvidence(e, parseVerifierKey(a.vkey))).not.toThrow();
    // The proven root is the smaller checkpoint's own root: no contradiction shown.
    rejects({ ...e, provenRoot: toBase64(small.checkpoint.root) }, a.vkey);
    rejects({ ...e, proof: e.proof!.map(() => toBase64(new Uint8Array(32))) }, a.vkey);
    rejects({ ...e, proof: undefined }, a.vkey);
    rejects({ ...e, notes: [e.notes[1], e.notes[0]] }, a.vkey);
    // Consistent checkpoints give no evidence at all.
    const fine = { note: await a.note(6), checkpoint: checkpointOfNote(await a.note(6)) };
    const smallA = { note: await a.note(3), checkpoint: checkpointOfNote(await a.note(3)) };
    expect(await proveInconsistency(a.origin, smallA, fine, a.reader(6))).toBeUndefined();
  });
});
