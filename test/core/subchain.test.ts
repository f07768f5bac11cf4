// Sub-chains (core/subchain.ts) and the policy's rule for a partial org chain
// (ApplyContext.orgChainVouched): the digest depends on every event and its order; a vouched
// org chain may skip seqs but never step back, and must link to a predecessor it was given.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../core/bytes.js";
import { decodeSubchain, encodeSubchain } from "../../core/chain-index.js";
import { isTrustlogError } from "../../core/errors.js";
import { MemoryState } from "../../core/memory-state.js";
import { extendSubchain, foldSubchain } from "../../core/subchain.js";
import { admin, History, testKey } from "../helpers/events.js";

const hash = (n: number) => new Uint8Array(32).fill(n);

describe("sub-chain digests", () => {
  it("a fixed vector: one and two events", () => {
    const one = extendSubchain(undefined, 7, hash(1));
    expect(one).toMatchObject({ count: 1, index: 7 });
    const two = extendSubchain(one, 9, hash(2));
    expect(two).toMatchObject({ count: 2, index: 9 });
    expect(
      foldSubchain([
        { index: 7, leafHash: hash(1) },
        { index: 9, leafHash: hash(2) },
      ]),
    ).toEqual(two);
    expect(foldSubchain([])).toBeUndefined();
    // The trie value round-trips.
    expect(decodeSubchain(encodeSubchain(two))).toEqual(two);
    expect(encodeSubchain(two)).toHaveLength(48);
  });

  it("differs when any event is left out, added, changed or moved", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(255), { minLength: 2, maxLength: 8 }), fc.nat(), (bytes, k) => {
        const events = bytes.map((b, i) => ({ index: i * 2, leafHash: hash(b) }));
        const whole = foldSubchain(events)!;
        const at = k % events.length;
        const without = events.filter((_, i) => i !== at);
        expect(foldSubchain(without)?.digest).not.toBe(whole.digest);
        const changed = events.map((e, i) =>
          i === at ? { ...e, leafHash: hash((bytes[at]! + 1) % 256) } : e,
        );
        expect(foldSubchain(changed)!.digest).not.toBe(whole.digest);
        if (bytes[0] !== bytes[1]) {
          const swapped = [events[1]!, events[0]!, ...events.slice(2)];
          expect(foldSubchain(swapped)!.digest).not.toBe(whole.digest);
        }
      }),
    );
  });
});

describe("a vouched (partial) org chain", () => {
  const root = testKey("vouched-root");
  const bridge = testKey("vouched-bridge");
  function org() {
    const h = new History();
    const create = h.append(h.orgCreate("acme", { admins: [root] }));
    const g1 = h.append(
      h.grantIssue("acme", { id: "g1", delegate: bridge, ops: ["account.invite"] }, admin(root)),
    );
    const g2 = h.append(
      h.grantIssue("acme", { id: "g2", delegate: bridge, ops: ["account.invite"] }, admin(root)),
    );
    const g3 = h.append(
      h.grantIssue("acme", { id: "g3", delegate: bridge, ops: ["account.invite"] }, admin(root)),
    );
    return { create, g1, g2, g3 };
  }
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (isTrustlogError(e)) return e.code;
      throw e;
    }
    return "ACCEPTED";
  };

  it("may skip seqs, only when vouched", () => {
    const { create, g2 } = org();
    const apply = (vouched: boolean) => {
      const s = new MemoryState();
      s.apply(create.envelope, { index: create.index, leafHash: create.leafHash });
      return code(() =>
        s.apply(g2.envelope, { index: g2.index, leafHash: g2.leafHash, orgChainVouched: vouched }),
      );
    };
    expect(apply(false)).toBe("CHAIN_CONFLICT");
    expect(apply(true)).toBe("ACCEPTED");
  });

  it("never steps back, and links to a predecessor it was given", () => {
    const { create, g1, g2, g3 } = org();
    const s = new MemoryState();
    const ctx = (e: typeof g1) => ({ index: e.index, leafHash: e.leafHash, orgChainVouched: true });
    s.apply(create.envelope, { index: create.index, leafHash: create.leafHash });
    s.apply(g2.envelope, ctx(g2));
    // g1 comes before g2 in the org chain: a step back, whatever its index.
    expect(code(() => s.apply(g1.envelope, { ...ctx(g1), index: 99 }))).toBe("CHAIN_CONFLICT");
    // g3 follows g2 directly, so its prev must be g2's leaf hash: shown under another leaf hash
    // for g2 (a substituted predecessor), it is refused.
    const t = new MemoryState();
    t.apply(create.envelope, { index: create.index, leafHash: create.leafHash });
    t.apply(g2.envelope, { ...ctx(g2), leafHash: hash(9) });
    expect(code(() => t.apply(g3.envelope, ctx(g3)))).toBe("CHAIN_CONFLICT");
    expect(code(() => s.apply(g3.envelope, ctx(g3)))).toBe("ACCEPTED");
    expect(toBase64(g3.leafHash)).toBe(s.org("acme")!.head.leafHash);
  });
});
