// The compact range (core/compact-range.ts) against the naive RFC 6962 reference: the root of the
// tree after every push, and the right edge that replay snapshots persist and restore.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../core/bytes.js";
import { CompactRange } from "../../core/compact-range.js";
import { isTrustlogError } from "../../core/errors.js";
import { naiveLeafHash, naiveRoot, RFC_LEAVES, RFC_ROOTS, testLeaves } from "./naive-merkle.js";

describe("compact range", () => {
  it("gives the RFC 6962 reference roots for sizes 0..8", () => {
    const range = CompactRange.empty();
    expect(toHex(range.root())).toBe(RFC_ROOTS[0]);
    RFC_LEAVES.forEach((leaf, i) => {
      range.push(naiveLeafHash(leaf));
      expect(range.size).toBe(i + 1);
      expect(toHex(range.root())).toBe(RFC_ROOTS[i + 1]);
    });
  });

  it("has the naive root at every size up to 300, with one edge hash per set bit of the size", () => {
    const leaves = testLeaves(300);
    const range = CompactRange.empty();
    for (let n = 1; n <= leaves.length; n++) {
      range.push(leaves[n - 1]!);
      expect(toHex(range.root()), `size ${n}`).toBe(toHex(naiveRoot(leaves.slice(0, n))));
      expect(range.edge()).toHaveLength(n.toString(2).replaceAll("0", "").length);
    }
  });

  it("round-trips through its edge at any size, and goes on as if never restored", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 40 }), (cut, more) => {
        const leaves = testLeaves(cut + more, cut);
        const range = CompactRange.empty();
        for (const l of leaves.slice(0, cut)) range.push(l);
        const restored = CompactRange.fromHashes(cut, range.edge());
        expect(restored.size).toBe(cut);
        expect(toHex(restored.root())).toBe(toHex(range.root()));
        for (const l of leaves.slice(cut)) restored.push(l);
        expect(toHex(restored.root())).toBe(toHex(naiveRoot(leaves)));
      }),
      { numRuns: 60 },
    );
  });

  it("hands out copies: changing what edge() gave or a clone leaves the range alone", () => {
    const leaves = testLeaves(7);
    const range = CompactRange.empty();
    for (const l of leaves) range.push(l);
    const root = toHex(range.root());
    range.edge()[0]!.fill(0);
    const clone = range.clone();
    clone.push(leaves[0]!);
    expect(toHex(range.root())).toBe(root);
    expect(range.size).toBe(7);
    expect(toHex(clone.root())).toBe(toHex(naiveRoot([...leaves, leaves[0]!])));
  });

  it("refuses an edge that does not fit the size", () => {
    const edge = (n: number) => {
      const r = CompactRange.empty();
      for (const l of testLeaves(n)) r.push(l);
      return r.edge();
    };
    const cases: [number, Uint8Array[]][] = [
      [6, edge(7)], // 7 has three set bits, 6 two
      [8, edge(7)],
      [0, edge(1)],
      [7, [...edge(7).slice(0, 2), new Uint8Array(31)]],
    ];
    for (const [size, hashes] of cases) {
      let err: unknown;
      try {
        CompactRange.fromHashes(size, hashes);
      } catch (e) {
        err = e;
      }
      expect(isTrustlogError(err, "BAD_ARGUMENT"), `size ${size}`).toBe(true);
    }
  });
});
