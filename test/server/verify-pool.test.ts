// Signatures are checked off the event loop by a worker thread before events are queued. The
// worker must reach the same verdicts as the event loop (same core parse and checks, native
// Ed25519), for valid envelopes, bad signatures and garbage alike.

import { afterAll, describe, expect, it } from "vitest";
import { utf8 } from "../../core/bytes.js";
import { ed25519 } from "../../core/ed25519.js";
import { type Envelope, parseEnvelope } from "../../core/event.js";
import { inlineVerifier, type SigJob, VerifyPool, verifySignaturesInline } from "../../node/verify-pool.js";
import { admin, History, testKey } from "../helpers/events.js";

const pool = new VerifyPool(2);
afterAll(() => pool.close());

function flipSig(env: Envelope): Envelope {
  const copy = structuredClone(env);
  const s = copy.sigs[0]!.sig;
  copy.sigs[0]!.sig = (s[0] === "A" ? "B" : "A") + s.slice(1);
  return copy;
}

describe("the signature-verifying worker pool", () => {
  it("gives the event loop's verdicts, computed on its worker threads", async () => {
    const h = new History();
    const root = testKey("pool-root");
    const leaves: Uint8Array[] = [];
    const org = h.append(h.orgCreate("acme", { admins: [root] })).envelope;
    leaves.push(parseEnvelope(org).leaf, parseEnvelope(flipSig(org)).leaf);
    for (let i = 0; i < 40; i++) {
      const inv = h.invite("acme", `u${i}`, admin(root));
      leaves.push(parseEnvelope(i % 5 === 0 ? flipSig(inv) : inv).leaf);
    }
    leaves.push(utf8("not an envelope"));

    const before = pool.answeredByWorkers;
    const fromPool = await pool.verify(leaves);
    expect(pool.answeredByWorkers).toBeGreaterThan(before);
    const inline = await inlineVerifier.verify(leaves);
    expect(fromPool.map((e) => e?.code)).toEqual(inline.map((e) => e?.code));
    expect(fromPool[0]).toBeUndefined();
    expect(fromPool[1]?.code).toBe("SIG_INVALID");
    expect(fromPool.filter((e) => e?.code === "SIG_INVALID")).toHaveLength(1 + 8);
    expect(fromPool.at(-1)?.code).toBe("MALFORMED");
  });

  it("verifies bare (message, key, signature) jobs with the event loop's answers: the witness's log signatures", async () => {
    const e = ed25519();
    const seeds = [1, 2, 3].map((n) => new Uint8Array(32).fill(n));
    const jobs: SigJob[] = [];
    for (let i = 0; i < 30; i++) {
      const message = utf8(`checkpoint ${i}\n`);
      const signers = seeds.slice(0, 1 + (i % 3));
      const sigs = signers.map((s) => e.sign(message, s));
      if (i % 4 === 1) sigs[sigs.length - 1]![5]! ^= 1; // the last signature fails
      if (i % 7 === 2) sigs[0] = e.sign(utf8("another message"), signers[0]!); // the first fails
      jobs.push({ message, keys: signers.map((s) => e.publicKey(s)), sigs });
    }
    const before = pool.answeredByWorkers;
    const fromPool = await pool.verifySignatures(jobs);
    expect(pool.answeredByWorkers).toBeGreaterThan(before);
    expect(fromPool).toEqual(verifySignaturesInline(jobs));
    expect(fromPool[0]).toBe(-1);
    expect(fromPool[1]).toBe(1); // two signers, the second's signature flipped
    expect(fromPool[2]).toBe(0);
    // Sizes the wire format cannot carry are answered on the event loop, as failing.
    const odd = [{ message: utf8("x"), keys: [new Uint8Array(31)], sigs: [new Uint8Array(64)] }];
    expect(await pool.verifySignatures(odd)).toEqual([0]);
  });
});
