// Signatures are checked off the event loop by a worker thread before events are queued. The
// worker must reach the same verdicts as the event loop (same core parse and checks, native
// Ed25519), for valid envelopes, bad signatures and garbage alike.

import { afterAll, describe, expect, it } from "vitest";
import { utf8 } from "../../core/bytes.js";
import { type Envelope, parseEnvelope } from "../../core/event.js";
import { inlineVerifier, VerifyPool } from "../../server/verify-pool.js";
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
});
