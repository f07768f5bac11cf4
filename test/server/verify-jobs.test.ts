// The verifier pool's jobs carry only the signed bytes, keys and signatures (issue 13): the
// signed bytes are sliced from the leaf the route made, not re-encoded. The slice must be
// exactly core eventSigningBytes for every envelope, tricky contents included, and the verdicts
// exactly core checkSignatures's, whichever side (worker or event loop) computes them and however
// requests are gathered into one job.

import { afterAll, describe, expect, it } from "vitest";
import { isTrustlogError } from "../../core/errors.js";
import { checkSignatures, type Envelope, eventSigningBytes, parseEnvelope } from "../../core/event.js";
import { inlineVerifier, signedBytes, VerifyPool } from "../../node/verify-pool.js";
import { admin, History, testKey } from "../helpers/events.js";

const pool = new VerifyPool(2);
afterAll(() => pool.close());

function flipSig(env: Envelope, which = 0): Envelope {
  const copy = structuredClone(env);
  const s = copy.sigs[which]!.sig;
  copy.sigs[which]!.sig = (s[0] === "A" ? "B" : "A") + s.slice(1);
  return copy;
}

/** What core says about an envelope: undefined, or the error's code and message. */
function coreVerdict(env: Envelope): { code: string; message: string } | undefined {
  try {
    checkSignatures(env);
    return undefined;
  } catch (e) {
    if (!isTrustlogError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

function envelopes(): Envelope[] {
  const h = new History();
  const root = testKey("jobs-root");
  const out: Envelope[] = [];
  // An org name holding the very sequence the slice looks for, quotes and all.
  const org = h.append(h.orgCreate("acme", { admins: [root], name: 'x,"sigs":[{"key":"y"}]' })).envelope;
  out.push(org, flipSig(org));
  for (let i = 0; i < 12; i++) {
    const inv = h.invite("acme", `u${i}`, admin(root));
    out.push(i % 4 === 0 ? flipSig(inv) : inv);
    if (i % 3 === 0) {
      h.append(inv);
      const k = testKey(`jobs-k${i}`);
      // key.add carries two signatures: break each in turn.
      const add = h.keyAdd("acme", `u${i}`, k);
      out.push(add, flipSig(add, 0), flipSig(add, 1));
    }
  }
  return out;
}

describe("signature jobs without a second parse", () => {
  const envs = envelopes();
  const parsed = envs.map((e) => parseEnvelope(e));

  it("slices exactly the signed bytes out of the leaf", () => {
    for (const p of parsed) expect(signedBytes(p)).toEqual(eventSigningBytes(p.envelope.event));
  });

  it("gives core's verdicts, inline and on the workers, one request or many gathered", async () => {
    const want = envs.map(coreVerdict);
    expect(want.filter((v) => v?.code === "SIG_INVALID").length).toBeGreaterThan(4);
    const show = (xs: ({ code: string; message: string } | undefined)[]) =>
      xs.map((x) => (x ? `${x.code}: ${x.message}` : "ok"));
    const inline = await inlineVerifier.verifyParsed(parsed);
    expect(show(inline)).toEqual(show(want));
    const before = pool.answeredByWorkers;
    // Requests made in one turn are gathered into one job per worker; each gets its own answers.
    const split = await Promise.all(parsed.map((p) => pool.verifyParsed([p])));
    expect(show(split.flat())).toEqual(show(want));
    const whole = await pool.verifyParsed(parsed);
    expect(show(whole)).toEqual(show(want));
    expect(pool.answeredByWorkers).toBeGreaterThan(before);
  });
});
