import { sha256 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64, toHex, u64be, utf8 } from "../../core/bytes.js";
import { type ErrorCode, isTrustlogError } from "../../core/errors.js";
import {
  EMPTY_ROOT,
  type HashReader,
  leafHash,
  memoryHashReader,
  type NodeId,
  nodeHash,
  rootHash,
  rootHashSync,
  type SyncHashReader,
} from "../../core/merkle.js";
import {
  checkConsistency,
  checkInclusion,
  consistencyProofNodes,
  inclusionProofNodes,
  proveConsistency,
  proveConsistencySync,
  proveInclusion,
  proveInclusionSync,
  proveInclusions,
} from "../../core/proof.js";
import { naiveConsistency, naivePath, naiveRoot, RFC_LEAVES, testLeaves } from "./naive-merkle.js";

const INCLUSION = "INCLUSION_INVALID";
const CONSISTENCY = "CONSISTENCY_PROOF_INVALID";

function expectCode(f: () => void, code: ErrorCode, why: string): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(isTrustlogError(error, code), `${why}: expected ${code}, got ${String(error)}`).toBe(true);
}

function flipped(proof: readonly Uint8Array[], i: number, byte: number): Uint8Array[] {
  const copy = proof.map((h) => h.slice());
  copy[i]![byte]! ^= 1 << (byte % 8);
  return copy;
}

/** n with bit `bit` flipped, without 32-bit bitwise operators (sizes go up to 2^53). */
const flipBit = (n: number, bit: number): number => (Math.floor(n / bit) % 2 === 1 ? n - bit : n + bit);

const ALL_BYTES = Array.from({ length: 32 }, (_, i) => i);
// The synthetic trees' proofs run to 53 hashes; flipping a spread of bytes keeps them fast, and
// the small trees above flip every byte.
const SOME_BYTES = [0, 7, 16, 31];

const OTHER_HASH = sha256(utf8("not in any tree"));

/** The proof of `index` in `size` is accepted, and every corruption of it is refused. */
function expectInclusionHolds(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: Uint8Array[],
  rootOf: (size: number) => Uint8Array,
  honestProof: (index: number, size: number) => Uint8Array[],
  bytes: readonly number[] = ALL_BYTES,
): void {
  const root = rootOf(size);
  checkInclusion(leaf, index, size, proof, root);

  for (let i = 0; i < proof.length; i++) {
    for (const b of bytes) {
      expectCode(
        () => checkInclusion(leaf, index, size, flipped(proof, i, b), root),
        INCLUSION,
        `flip ${i}/${b}`,
      );
    }
  }
  expectCode(() => checkInclusion(OTHER_HASH, index, size, proof, root), INCLUSION, "wrong leaf");
  expectCode(() => checkInclusion(leaf, index, size, proof, OTHER_HASH), INCLUSION, "wrong root");
  if (proof.length > 0) {
    expectCode(() => checkInclusion(leaf, index, size, proof.slice(0, -1), root), INCLUSION, "truncated");
    expectCode(() => checkInclusion(leaf, index, size, proof.slice(1), root), INCLUSION, "first dropped");
  }
  expectCode(() => checkInclusion(leaf, index, size, [...proof, root], root), INCLUSION, "extended by root");
  expectCode(() => checkInclusion(leaf, index, size, [...proof, OTHER_HASH], root), INCLUSION, "extended");
  expectCode(() => checkInclusion(leaf, index, size, [leaf, ...proof], root), INCLUSION, "leaf prepended");
  if (proof.length > 0) {
    const short = [proof[0]!.subarray(0, 31), ...proof.slice(1)];
    expectCode(() => checkInclusion(leaf, index, size, short, root), INCLUSION, "31-byte element");
  }

  const wrongIndices = [
    index - 1,
    index + 1,
    flipBit(index, 1),
    flipBit(index, 2),
    size,
    size + 1,
    Math.floor(index / 2),
  ];
  for (const j of wrongIndices) {
    if (j === index || j < 0 || !Number.isSafeInteger(j)) continue;
    expectCode(() => checkInclusion(leaf, j, size, proof, root), INCLUSION, `index ${j}`);
  }
  const wrongSizes = [size - 1, size + 1, size * 2, Math.floor(size / 2), index, index + 1];
  for (const s of wrongSizes) {
    if (s === size || s < 0 || !Number.isSafeInteger(s)) continue;
    if (index >= s) {
      expectCode(() => checkInclusion(leaf, index, s, proof, root), INCLUSION, `size ${s} without the leaf`);
      continue;
    }
    // A proof for one size is only accepted against another size's root if it is that size's
    // proof too; the checkpoint, not the proof, binds a root to its size.
    const other = honestProof(index, s);
    const same =
      other.length === proof.length && other.every((h, i) => h.every((x, k) => x === proof[i]![k]));
    if (!same) expectCode(() => checkInclusion(leaf, index, s, proof, rootOf(s)), INCLUSION, `size ${s}`);
    if (other.length !== proof.length) {
      expectCode(() => checkInclusion(leaf, index, s, proof, root), INCLUSION, `size ${s}, old root`);
    }
  }
}

/** The proof from `m` to `n` is accepted, and every corruption of it is refused. */
function expectConsistencyHolds(
  m: number,
  n: number,
  proof: Uint8Array[],
  rootOf: (size: number) => Uint8Array,
  honestProof: (m: number, n: number) => Uint8Array[],
  bytes: readonly number[] = ALL_BYTES,
): void {
  const [r1, r2] = [rootOf(m), rootOf(n)];
  checkConsistency(m, n, r1, r2, proof);
  if (proof.length === 0) return;

  for (let i = 0; i < proof.length; i++) {
    for (const b of bytes) {
      expectCode(() => checkConsistency(m, n, r1, r2, flipped(proof, i, b)), CONSISTENCY, `flip ${i}/${b}`);
    }
  }
  expectCode(() => checkConsistency(m, n, OTHER_HASH, r2, proof), CONSISTENCY, "wrong old root");
  expectCode(() => checkConsistency(m, n, r1, OTHER_HASH, proof), CONSISTENCY, "wrong new root");
  expectCode(() => checkConsistency(m, n, r2, r1, proof), CONSISTENCY, "swapped roots");
  expectCode(() => checkConsistency(m, n, r1, r2, []), CONSISTENCY, "empty");
  expectCode(() => checkConsistency(m, n, r1, r2, proof.slice(0, -1)), CONSISTENCY, "truncated");
  expectCode(() => checkConsistency(m, n, r1, r2, proof.slice(1)), CONSISTENCY, "first dropped");
  for (const extra of [r1, r2, OTHER_HASH, proof[0]!]) {
    expectCode(() => checkConsistency(m, n, r1, r2, [...proof, extra]), CONSISTENCY, "extended");
    expectCode(() => checkConsistency(m, n, r1, r2, [extra, ...proof]), CONSISTENCY, "prepended");
  }
  expectCode(() => checkConsistency(n, m, r2, r1, proof), CONSISTENCY, "sizes reversed");

  const same = (a: Uint8Array[]) =>
    a.length === proof.length && a.every((h, i) => h.every((x, k) => x === proof[i]![k]));
  for (const m2 of [m - 1, m + 1, flipBit(m, 2), m * 2, Math.floor(m / 2)]) {
    if (m2 === m || m2 < 1 || m2 >= n) continue;
    if (!same(honestProof(m2, n))) {
      expectCode(() => checkConsistency(m2, n, rootOf(m2), r2, proof), CONSISTENCY, `old size ${m2}`);
    }
  }
  for (const n2 of [n - 1, n + 1, n * 2, Math.floor(n / 2)]) {
    if (n2 === n || n2 <= m || !Number.isSafeInteger(n2)) continue;
    if (!same(honestProof(m, n2))) {
      expectCode(() => checkConsistency(m, n2, r1, rootOf(n2), proof), CONSISTENCY, `new size ${n2}`);
    }
  }
}

describe("published proof vectors", () => {
  const leaves = RFC_LEAVES.map(leafHash);
  const tree = memoryHashReader(leaves);
  const hex = (proof: Uint8Array[]) => proof.map(toHex);

  it("gives the consistency proof 3 -> 7 of specs.md byte for byte, and accepts it", async () => {
    const proof = await proveConsistency(3, 7, tree);
    expect(proof.map(toBase64)).toEqual([
      "ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=",
      "B1Bqhf2d0vEg62lPhgEeW7RmLlxBWmKRcDPUqWJEh+c=",
      "+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=",
      "g327FS6bB5AQcX6E6GXaTrwPoZioBtWdMb8VrM7yLQ4=",
    ]);
    checkConsistency(
      3,
      7,
      fromBase64("rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc="),
      fromBase64("3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw="),
      proof,
    );
  });

  // transparency-dev/merkle proof/verify_test.go (its leaf numbers are 1-based).
  const GO_INCLUSION: [index: number, size: number, proof: string[]][] = [
    [
      0,
      8,
      [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
      ],
    ],
    [
      5,
      8,
      [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ],
    ],
    [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
    [
      1,
      5,
      [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      ],
    ],
  ];
  const GO_CONSISTENCY: [m: number, n: number, proof: string[]][] = [
    [
      1,
      8,
      [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
      ],
    ],
    [
      6,
      8,
      [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ],
    ],
    [
      2,
      5,
      [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      ],
    ],
    [
      6,
      7,
      [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      ],
    ],
  ];
  const rootOf = (size: number) => naiveRoot(leaves.slice(0, size));

  it("reproduces the inclusion proofs published by transparency-dev/merkle and refuses their corruptions", async () => {
    for (const [index, size, expected] of GO_INCLUSION) {
      const proof = await proveInclusion(index, size, tree);
      expect(hex(proof), `${index} in ${size}`).toEqual(expected);
      expectInclusionHolds(leaves[index]!, index, size, proof, rootOf, (i, s) =>
        naivePath(i, leaves.slice(0, s)),
      );
    }
    // index 2 in 8, as listed in tlog-protocols.md §2.5.
    const proof = await proveInclusion(2, 8, tree);
    expect(hex(proof)[2]).toBe("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4");
    expect(proof[1]).toEqual(rootOf(2));
  });

  it("reproduces the consistency proofs published by transparency-dev/merkle and refuses their corruptions", async () => {
    for (const [m, n, expected] of GO_CONSISTENCY) {
      const proof = await proveConsistency(m, n, tree);
      expect(hex(proof), `${m} -> ${n}`).toEqual(expected);
      expectConsistencyHolds(m, n, proof, rootOf, (a, b) => naiveConsistency(a, leaves.slice(0, b)));
    }
  });
});

describe("edge cases, as RFC 9162 defines them", () => {
  const leaves = testLeaves(10);
  const tree = memoryHashReader(leaves);
  const rootOf = (size: number) => naiveRoot(leaves.slice(0, size));

  it("a one-leaf tree's root is its leaf, with an empty inclusion proof", async () => {
    expect(await proveInclusion(0, 1, tree)).toEqual([]);
    checkInclusion(leaves[0]!, 0, 1, [], leaves[0]!);
    expectCode(() => checkInclusion(leaves[0]!, 0, 1, [], leaves[1]!), INCLUSION, "other root");
    expectCode(() => checkInclusion(leaves[0]!, 0, 1, [leaves[0]!], leaves[0]!), INCLUSION, "too long");
  });

  it("no leaf is in the empty tree, and no index at or past the size is in any tree", async () => {
    expectCode(() => checkInclusion(leaves[0]!, 0, 0, [], EMPTY_ROOT), INCLUSION, "empty tree");
    expectCode(() => checkInclusion(leaves[3]!, 3, 3, [], rootOf(3)), INCLUSION, "index = size");
    expectCode(() => checkInclusion(leaves[0]!, -1, 3, [], rootOf(3)), INCLUSION, "negative");
    expectCode(() => checkInclusion(leaves[0]!, 0.5, 3, [], rootOf(3)), INCLUSION, "fractional");
    expectCode(() => checkInclusion(leaves[0]!, 0, 2 ** 53, [], rootOf(3)), INCLUSION, "unsafe size");
    await expect(proveInclusion(3, 3, tree)).rejects.toMatchObject({ code: "BAD_RANGE" });
    await expect(proveInclusion(0, 0, tree)).rejects.toMatchObject({ code: "BAD_RANGE" });
  });

  it("refuses hashes that are not 32 bytes anywhere in an inclusion check", async () => {
    const proof = await proveInclusion(2, 5, tree);
    expectCode(() => checkInclusion(leaves[2]!.subarray(1), 2, 5, proof, rootOf(5)), INCLUSION, "short leaf");
    expectCode(() => checkInclusion(leaves[2]!, 2, 5, proof, new Uint8Array(33)), INCLUSION, "long root");
    const padded = [...proof.slice(0, 2), new Uint8Array([...proof[2]!, 0])];
    expectCode(() => checkInclusion(leaves[2]!, 2, 5, padded, rootOf(5)), INCLUSION, "long element");
  });

  it("from the empty tree, every tree is consistent with an empty proof (and nothing else)", async () => {
    expect(await proveConsistency(0, 7, tree)).toEqual([]);
    checkConsistency(0, 7, EMPTY_ROOT, rootOf(7), []);
    checkConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, []);
    expectCode(() => checkConsistency(0, 7, EMPTY_ROOT, rootOf(7), [rootOf(7)]), CONSISTENCY, "non-empty");
    expectCode(
      () => checkConsistency(0, 7, rootOf(1), rootOf(7), []),
      CONSISTENCY,
      "old root not SHA-256('')",
    );
    expectCode(() => checkConsistency(0, 0, EMPTY_ROOT, rootOf(1), []), CONSISTENCY, "0 -> 0, other root");
  });

  it("equal sizes are consistent only with equal roots and an empty proof", async () => {
    expect(await proveConsistency(5, 5, tree)).toEqual([]);
    checkConsistency(5, 5, rootOf(5), rootOf(5), []);
    expectCode(() => checkConsistency(5, 5, rootOf(5), OTHER_HASH, []), CONSISTENCY, "split view");
    expectCode(() => checkConsistency(5, 5, rootOf(5), rootOf(5), [rootOf(5)]), CONSISTENCY, "non-empty");
  });

  it("a tree never shrinks, and sizes must be safe integers", async () => {
    expectCode(() => checkConsistency(6, 5, rootOf(6), rootOf(5), []), CONSISTENCY, "6 -> 5");
    expectCode(() => checkConsistency(-1, 5, rootOf(1), rootOf(5), []), CONSISTENCY, "negative");
    expectCode(() => checkConsistency(1.5, 5, rootOf(1), rootOf(5), []), CONSISTENCY, "fractional");
    expectCode(() => checkConsistency(3, 5, rootOf(3).subarray(1), rootOf(5), []), CONSISTENCY, "short root");
    await expect(proveConsistency(6, 5, tree)).rejects.toMatchObject({ code: "BAD_RANGE" });
  });

  it("refuses absurdly long proofs before hashing them", () => {
    const long = Array.from({ length: 1000 }, () => OTHER_HASH);
    expectCode(() => checkInclusion(leaves[0]!, 0, 10, long, rootOf(10)), INCLUSION, "1000 hashes");
    expectCode(() => checkConsistency(3, 10, rootOf(3), rootOf(10), long), CONSISTENCY, "1000 hashes");
  });

  it("asks the hash reader once per proof, and the planners name the nodes it asks for", async () => {
    const calls: NodeId[][] = [];
    const counting: HashReader = {
      readHashes(nodes) {
        calls.push([...nodes]);
        return tree.readHashes(nodes);
      },
    };
    await proveInclusion(6, 10, counting);
    await proveConsistency(3, 10, counting);
    expect(calls).toEqual([inclusionProofNodes(6, 10), consistencyProofNodes(3, 10)]);
    expect(proveInclusionSync(6, 10, tree)).toEqual(await proveInclusion(6, 10, tree));
    expect(proveConsistencySync(3, 10, tree)).toEqual(await proveConsistency(3, 10, tree));
  });
});

describe("proofs agree with the naive RFC 6962 reference (property)", () => {
  // Twice the largest size tested, so the corrupted sizes (up to size * 2) exist too.
  const leaves = testLeaves(4001, 7);
  const tree = memoryHashReader(leaves);
  // Roots and proofs for the corrupted sizes come from the implementation (merkle.test.ts checks
  // its roots against the reference); the proof under test is compared with the reference.
  const rootOf = (size: number) => rootHashSync(size, tree);

  it("every inclusion proof equals PATH, verifies, and no corruption of it verifies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), fc.nat(), async (size, i) => {
        const index = i % size;
        const proof = await proveInclusion(index, size, tree);
        expect(proof).toEqual(naivePath(index, leaves.slice(0, size)));
        expectInclusionHolds(leaves[index]!, index, size, proof, rootOf, (j, s) =>
          proveInclusionSync(j, s, tree),
        );
      }),
      { numRuns: 100 },
    );
  });

  it("proveInclusions gives each leaf its PATH, reading the tree once for all", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2000 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        async (size, picks) => {
          const indices = picks.map((p) => p % size);
          let reads = 0;
          const counted = {
            readHashes: (nodes: Parameters<typeof tree.readHashes>[0]) => {
              reads++;
              return tree.readHashes(nodes);
            },
          };
          const proofs = await proveInclusions(indices, size, counted);
          expect(reads).toBeLessThanOrEqual(1);
          expect([...proofs.keys()].sort((a, b) => a - b)).toEqual(
            [...new Set(indices)].sort((a, b) => a - b),
          );
          for (const i of indices) expect(proofs.get(i)).toEqual(naivePath(i, leaves.slice(0, size)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("every consistency proof equals PROOF, verifies, and no corruption of it verifies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 2000 }), fc.nat(), async (n, i) => {
        const m = 1 + (i % (n - 1));
        const proof = await proveConsistency(m, n, tree);
        expect(proof).toEqual(naiveConsistency(m, leaves.slice(0, n)));
        expectConsistencyHolds(m, n, proof, rootOf, (a, b) => proveConsistencySync(a, b, tree));
      }),
      { numRuns: 100 },
    );
  });

  it("every small tree: all inclusion and consistency proofs up to size 40", async () => {
    for (let n = 1; n <= 40; n++) {
      for (let m = 0; m < n; m++) {
        checkInclusion(leaves[m]!, m, n, await proveInclusion(m, n, tree), rootOf(n));
        checkConsistency(m, n, rootOf(m), rootOf(n), await proveConsistency(m, n, tree));
      }
    }
  });
});

/**
 * A tree of up to 2^53 leaves that never exists in memory. Nodes on the path of a chosen few
 * leaves are real RFC 6962 hashes of their children; every other node's hash is an arbitrary
 * deterministic function of (level, index). Proofs about the chosen leaves only ever hash up
 * along those paths, so they behave exactly as in a real tree of that size.
 */
function syntheticTree(
  chosen: readonly number[],
): HashReader & SyncHashReader & { hash(n: NodeId): Uint8Array } {
  const memo = new Map<string, Uint8Array>();
  const onPath = (level: number, index: number) => chosen.some((c) => Math.floor(c / 2 ** level) === index);
  const hash = ({ level, index }: NodeId): Uint8Array => {
    const key = `${level}/${index}`;
    let h = memo.get(key);
    if (h !== undefined) return h;
    if (!onPath(level, index)) h = sha256(new Uint8Array([level, ...u64be(index)]));
    else if (level === 0) h = leafHash(u64be(index));
    else
      h = nodeHash(
        hash({ level: level - 1, index: 2 * index }),
        hash({ level: level - 1, index: 2 * index + 1 }),
      );
    memo.set(key, h);
    return h;
  };
  return { hash, readHashesSync: (nodes) => nodes.map(hash), readHashes: async (nodes) => nodes.map(hash) };
}

describe("proofs in trees of 2^32 leaves and beyond (synthetic reader, property)", () => {
  const near32 = fc.integer({ min: 2 ** 32 - 3000, max: 2 ** 32 + 3000 });
  const anySize = fc.oneof(near32, fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }));

  it("inclusion proofs verify against the root the same reader gives, and corruptions fail", async () => {
    await fc.assert(
      fc.asyncProperty(anySize, fc.double({ min: 0, max: 1, noNaN: true }), async (size, f) => {
        const index = Math.min(size - 1, Math.floor(f * size));
        const tree = syntheticTree([index]);
        const rootOf = (s: number) => (s === 0 ? EMPTY_ROOT : rootHashSyncOf(tree, s));
        const proof = await proveInclusion(index, size, tree);
        expect(proof.length).toBeLessThanOrEqual(53);
        expect(await rootHash(size, tree)).toEqual(rootOf(size));
        expectInclusionHolds(
          tree.hash({ level: 0, index }),
          index,
          size,
          proof,
          rootOf,
          (i, s) => proveInclusionSync(i, s, tree),
          SOME_BYTES,
        );
      }),
      { numRuns: 50 },
    );
  });

  it("consistency proofs verify against the roots the same reader gives, and corruptions fail", async () => {
    await fc.assert(
      fc.asyncProperty(anySize, fc.double({ min: 0, max: 1, noNaN: true }), async (n, f) => {
        const m = Math.max(1, Math.min(n - 1, Math.floor(f * n)));
        // Every old size the corruptions try gets its right edge on a real path.
        const tree = syntheticTree(
          [m - 1, m - 2, m, m * 2 - 1, Math.floor(m / 2) - 1, flipBit(m, 2), flipBit(m, 2) - 1].filter(
            (x) => x >= 0,
          ),
        );
        const rootOf = (s: number) => rootHashSyncOf(tree, s);
        const proof = await proveConsistency(m, n, tree);
        expectConsistencyHolds(m, n, proof, rootOf, (a, b) => proveConsistencySync(a, b, tree), SOME_BYTES);
      }),
      { numRuns: 50 },
    );
  });

  it("a hand-checked case at exactly 2^32: the last leaf's proof is the left subtree of 2^31 and its path", async () => {
    const size = 2 ** 32;
    const tree = syntheticTree([size - 1]);
    const proof = await proveInclusion(size - 1, size, tree);
    expect(proof).toHaveLength(32);
    expect(proof[31]).toEqual(tree.hash({ level: 31, index: 0 }));
    checkInclusion(
      tree.hash({ level: 0, index: size - 1 }),
      size - 1,
      size,
      proof,
      tree.hash({ level: 32, index: 0 }),
    );
  });
});

function rootHashSyncOf(tree: SyncHashReader, size: number): Uint8Array {
  // Root by definition: fold of the set bits of size, independently of rangeNodes.
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let level = 52; level >= 0; level--) {
    if (size - start >= 2 ** level) {
      parts.push(tree.readHashesSync([{ level, index: start / 2 ** level }])[0]!);
      start += 2 ** level;
    }
  }
  let h = parts[parts.length - 1]!;
  for (let i = parts.length - 2; i >= 0; i--) h = nodeHash(parts[i]!, h);
  return h;
}
