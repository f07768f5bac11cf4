import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../core/bytes.js";
import { isTrustlogError } from "../../core/errors.js";
import {
  EMPTY_ROOT,
  type HashReader,
  leafHash,
  log2Floor,
  memoryHashReader,
  type NodeId,
  nodeHash,
  rangeNodes,
  rootHash,
  rootHashSync,
  splitPoint,
  subtreeHash,
} from "../../core/merkle.js";
import {
  naiveLeafHash,
  naiveNodeHash,
  naiveRoot,
  RFC_LEAVES,
  RFC_ROOTS,
  testLeaves,
} from "./naive-merkle.js";

/** Wraps a reader to record every batch it is asked for. */
function counting(reader: HashReader): HashReader & { calls: NodeId[][] } {
  const calls: NodeId[][] = [];
  return {
    calls,
    readHashes(nodes) {
      calls.push([...nodes]);
      return reader.readHashes(nodes);
    },
  };
}

describe("RFC 6962 hashing", () => {
  it("hashes leaves with 0x00 and nodes with 0x01, as an independent reference does", () => {
    for (const entry of RFC_LEAVES) expect(leafHash(entry)).toEqual(naiveLeafHash(entry));
    const [a, b] = [leafHash(RFC_LEAVES[1]!), leafHash(RFC_LEAVES[2]!)];
    expect(nodeHash(a, b)).toEqual(naiveNodeHash(a, b));
  });

  it("gives the empty tree the root SHA-256('')", async () => {
    expect(toHex(EMPTY_ROOT)).toBe(RFC_ROOTS[0]);
    expect(toHex(await rootHash(0, memoryHashReader([])))).toBe(RFC_ROOTS[0]);
  });

  it("reproduces the published roots of the RFC 6962 reference tree for sizes 0..8", async () => {
    const tree = memoryHashReader(RFC_LEAVES.map(leafHash));
    for (let size = 0; size <= 8; size++) {
      expect(toHex(await rootHash(size, tree)), `size ${size}`).toBe(RFC_ROOTS[size]);
      expect(toHex(rootHashSync(size, tree))).toBe(RFC_ROOTS[size]);
    }
  });

  it("refuses to hash a node over inputs that are not 32-byte hashes", () => {
    expect(() => nodeHash(new Uint8Array(31), new Uint8Array(32))).toThrowError(/32-byte/);
  });
});

describe("subtree decomposition", () => {
  it("covers any range exactly with aligned perfect subtrees, largest first where alignment allows", () => {
    fc.assert(
      fc.property(fc.nat({ max: 1 << 20 }), fc.integer({ min: 1, max: 1 << 20 }), (lo, len) => {
        const nodes = rangeNodes(lo, lo + len);
        let at = lo;
        for (const { level, index } of nodes) {
          const width = 2 ** level;
          expect(index * width).toBe(at);
          at += width;
        }
        expect(at).toBe(lo + len);
        expect(nodes.length).toBeLessThanOrEqual(2 * 21);
      }),
    );
  });

  it("decomposes [0, n) into one subtree per set bit of n, even above 2^32", () => {
    const n = 2 ** 40 + 2 ** 33 + 5;
    expect(rangeNodes(0, n)).toEqual([
      { level: 40, index: 0 },
      { level: 33, index: 2 ** 7 },
      { level: 2, index: (2 ** 40 + 2 ** 33) / 4 },
      { level: 0, index: 2 ** 40 + 2 ** 33 + 4 },
    ]);
  });

  it("computes floor(log2 n) and the RFC split point exactly across the 2^32 boundary", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 2n, max: 2n ** 53n - 1n }), (big) => {
        const n = Number(big);
        expect(log2Floor(n)).toBe(big.toString(2).length - 1);
        let k = 1n;
        while (k * 2n < big) k *= 2n;
        expect(splitPoint(n)).toBe(Number(k));
      }),
    );
    for (const n of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1]) {
      expect(2 ** log2Floor(n) <= n && n < 2 ** (log2Floor(n) + 1)).toBe(true);
    }
  });

  it("rejects empty, reversed and non-integer ranges", () => {
    for (const [lo, hi] of [
      [3, 3],
      [4, 2],
      [-1, 2],
      [0.5, 2],
      [0, 2 ** 53],
    ] as const) {
      expect(() => rangeNodes(lo, hi)).toThrow(expect.objectContaining({ code: "BAD_RANGE" }));
    }
  });
});

describe("root and subtree hashes over a hash reader", () => {
  it("equal the naive recursive MTH for every tree size up to 300 and random sizes up to 2,000", async () => {
    const leaves = testLeaves(2000);
    const tree = memoryHashReader(leaves);
    for (let size = 0; size <= 300; size++)
      expect(await rootHash(size, tree)).toEqual(naiveRoot(leaves.slice(0, size)));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), async (size) => {
        expect(await rootHash(size, tree)).toEqual(naiveRoot(leaves.slice(0, size)));
      }),
      { numRuns: 50 },
    );
  });

  it("hash any subtree that RFC 6962 trees contain (lo aligned to a power of two covering the range)", async () => {
    const leaves = testLeaves(1024);
    const tree = memoryHashReader(leaves);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 10 }),
        fc.nat(),
        fc.integer({ min: 1, max: 1024 }),
        async (e, i, l) => {
          const span = 2 ** e;
          const lo = (i % (1024 / span)) * span;
          const len = 1 + (l % span);
          expect(await subtreeHash(lo, lo + len, tree)).toEqual(naiveRoot(leaves.slice(lo, lo + len)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("ask the reader for everything in one batch (one database round trip)", async () => {
    const tree = counting(memoryHashReader(testLeaves(1000)));
    await rootHash(1000, tree);
    expect(tree.calls).toHaveLength(1);
    expect(tree.calls[0]).toHaveLength(6); // 1000 = 512 + 256 + 128 + 64 + 32 + 8
  });

  it("fail when the reader answers the wrong number of hashes or hashes of the wrong size", async () => {
    const short: HashReader = { readHashes: async (nodes) => nodes.slice(1).map(() => new Uint8Array(32)) };
    await expect(rootHash(3, short)).rejects.toMatchObject({ code: "BAD_HASH" });
    const bad: HashReader = { readHashes: async (nodes) => nodes.map(() => new Uint8Array(31)) };
    await expect(rootHash(3, bad)).rejects.toMatchObject({ code: "BAD_HASH" });
  });

  it("a memory tree refuses nodes it does not hold instead of inventing them", async () => {
    const tree = memoryHashReader(testLeaves(5));
    await expect(tree.readHashes([{ level: 3, index: 0 }])).rejects.toSatisfy((e) =>
      isTrustlogError(e, "NODE_NOT_FOUND"),
    );
    await expect(tree.readHashes([{ level: 0, index: 5 }])).rejects.toSatisfy((e) =>
      isTrustlogError(e, "NODE_NOT_FOUND"),
    );
    expect(() => memoryHashReader([new Uint8Array(33)])).toThrow(
      expect.objectContaining({ code: "BAD_HASH" }),
    );
  });
});
