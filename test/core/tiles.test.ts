import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { equalBytes } from "../../core/bytes.js";
import { decodeEntryBundle, encodeEntryBundle } from "../../core/entry-bundle.js";
import { isTrustlogError } from "../../core/errors.js";
import { memoryHashReader, type NodeId, rangeNodes, rootHash, rootHashSync } from "../../core/merkle.js";
import { consistencyProofNodes, proveConsistency, proveInclusion } from "../../core/proof.js";
import { appendLeaves } from "../../core/tile-append.js";
import {
  entriesPath,
  formatTileIndex,
  parseTilePath,
  type TileId,
  tileForNode,
  tilePath,
  tilesForSize,
} from "../../core/tile-paths.js";
import { TileCache, tileHashReader, tileRootHash } from "../../core/tile-reader.js";
import { naiveRoot, naiveTile, testLeaves } from "./naive-merkle.js";

/**
 * The naive tlog-tiles definition over a fixed leaf list, remembering each tile hash it computes
 * (many tests ask for the same hashes at growing widths).
 */
function naiveTiles(
  leaves: readonly Uint8Array[],
): (level: number, index: number, width: number) => Uint8Array {
  const memo = new Map<string, Uint8Array>();
  return (level, index, width) => {
    const out = new Uint8Array(width * 32);
    for (let i = 0; i < width; i++) {
      const k = index * 256 + i;
      const key = `${level}/${k}`;
      let h = memo.get(key);
      if (h === undefined) {
        h = naiveRoot(leaves.slice(k * 256 ** level, (k + 1) * 256 ** level));
        memo.set(key, h);
      }
      out.set(h, i * 32);
    }
    return out;
  };
}

const widths = (tiles: TileId[], level: number) => tiles.filter((t) => t.level === level).map((t) => t.width);

describe("which tiles a tree has", () => {
  it("matches the spec's example: size 70,000", () => {
    const tiles = tilesForSize(70_000);
    const level0 = widths(tiles, 0);
    expect(level0).toHaveLength(274);
    expect(level0.slice(0, 273).every((w) => w === 256)).toBe(true);
    expect(level0[273]).toBe(112);
    expect(tiles.filter((t) => t.level === 0).at(-1)).toEqual({ level: 0, index: 273, width: 112 });
    expect(widths(tiles, 1)).toEqual([256, 17]);
    expect(tiles.filter((t) => t.level === 2)).toEqual([{ level: 2, index: 0, width: 1 }]);
    expect(tiles.filter((t) => t.level > 2)).toEqual([]);
  });

  it("matches the spec's other example: size 256 is a full level-0 tile and a level-1 tile of width 1", () => {
    expect(tilesForSize(256)).toEqual([
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
    expect(tilesForSize(0)).toEqual([]);
    expect(tilesForSize(1)).toEqual([{ level: 0, index: 0, width: 1 }]);
  });

  it("puts each perfect subtree in tile level floor(level / 8), at the width the tree has", () => {
    expect(tileForNode({ level: 0, index: 69_999 }, 70_000)).toEqual({ level: 0, index: 273, width: 112 });
    expect(tileForNode({ level: 3, index: 5 }, 70_000)).toEqual({ level: 0, index: 0, width: 256 });
    expect(tileForNode({ level: 8, index: 272 }, 70_000)).toEqual({ level: 1, index: 1, width: 17 });
    expect(tileForNode({ level: 15, index: 1 }, 70_000)).toEqual({ level: 1, index: 0, width: 256 });
    expect(tileForNode({ level: 16, index: 0 }, 70_000)).toEqual({ level: 2, index: 0, width: 1 });
    // Above 2^32: the last leaf of a tree of 2^40 + 1 leaves.
    expect(tileForNode({ level: 0, index: 2 ** 40 }, 2 ** 40 + 1)).toEqual({
      level: 0,
      index: 2 ** 32,
      width: 1,
    });
    expect(() => tileForNode({ level: 1, index: 34_999 }, 69_999)).toThrow(
      expect.objectContaining({ code: "NODE_NOT_FOUND" }),
    );
  });
});

describe("tile paths", () => {
  it("writes indices in x-prefixed groups of three digits, as the spec's examples", () => {
    expect(formatTileIndex(1_234_067)).toBe("x001/x234/067");
    expect(formatTileIndex(5)).toBe("005");
    expect(formatTileIndex(0)).toBe("000");
    expect(formatTileIndex(1000)).toBe("x001/000");
    expect(formatTileIndex(Number.MAX_SAFE_INTEGER)).toBe("x009/x007/x199/x254/x740/991");
    expect(tilePath({ level: 0, index: 1_234_067, width: 256 })).toBe("tile/0/x001/x234/067");
    expect(tilePath({ level: 2, index: 5, width: 17 })).toBe("tile/2/005.p/17");
    expect(entriesPath(273, 112)).toBe("tile/entries/273.p/112");
    expect(entriesPath(1000, 256)).toBe("tile/entries/x001/000");
  });

  it("parses what it writes, and re-encodes to the same text (property)", () => {
    const tile = fc.record({
      level: fc.integer({ min: 0, max: 63 }),
      index: fc.oneof(fc.nat({ max: 5000 }), fc.maxSafeNat()),
      width: fc.integer({ min: 1, max: 256 }),
    });
    fc.assert(
      fc.property(tile, fc.boolean(), (t, entries) => {
        const path = entries ? entriesPath(t.index, t.width) : tilePath(t);
        const parsed = parseTilePath(path);
        expect(parsed).toEqual(
          entries ? { kind: "entries", index: t.index, width: t.width } : { kind: "hash", ...t },
        );
        const again = parsed.kind === "entries" ? entriesPath(parsed.index, parsed.width) : tilePath(parsed);
        expect(again).toBe(path);
      }),
    );
  });

  it("refuses every other spelling, since two names for one tile would split caches", () => {
    const bad = [
      "tile/0/005.p/256", // full tiles have no suffix
      "tile/0/005.p/0",
      "tile/0/005.p/007", // leading zeros in W
      "tile/0/005.p/",
      "tile/01/005", // leading zeros in L
      "tile/64/000", // L above 63
      "tile/100/000",
      "tile/0/5", // groups are three digits
      "tile/0/0005",
      "tile/0/x000/005", // a leading zero group
      "tile/0/x001",
      "tile/0/001/002", // missing x
      "tile/0/x001/x002", // last group has no x
      "tile/0/X001/002",
      "/tile/0/000",
      "tile/0/000/",
      "tile/0/000 ",
      "tile//000",
      "tile/-1/000",
      "tile/entries/5",
      "tile/entries/005.p/256",
      "tile/data/005",
      "tile/8/0/000", // sumdb-style height
      "tile/0/x010/x000/x000/x000/x000/x000/000", // beyond 2^53
      `tile/0/${"x001/".repeat(40)}000`,
      "",
    ];
    for (const path of bad) {
      expect(() => parseTilePath(path), path).toThrow(expect.objectContaining({ code: "BAD_TILE_PATH" }));
    }
    expect(() => tilePath({ level: 64, index: 0, width: 1 })).toThrow(/level/);
    expect(() => tilePath({ level: 0, index: 0, width: 0 })).toThrow(/width/);
    expect(() => tilePath({ level: 0, index: 0, width: 257 })).toThrow(/width/);
  });
});

/** A tile store filled only by appendLeaves, as the server's would be. */
class TileStore {
  readonly tiles = new Map<string, Uint8Array>();
  size = 0;
  root: Uint8Array | undefined;

  append(leaves: readonly Uint8Array[]) {
    const result = appendLeaves(this.size, (t) => this.tiles.get(tilePath(t)), leaves);
    for (const { tile, data } of result.tiles) this.tiles.set(tilePath(tile), data);
    this.size = result.size;
    this.root = result.root;
    return result;
  }
}

describe("appending leaves to a tiled tree", () => {
  it("gives the same tiles and root as the naive definition, whatever the batch sizes (property)", () => {
    const all = testLeaves(12 * 900, 3);
    const tileOf = naiveTiles(all);
    // Roots at every step from the in-memory tree (merkle.test.ts holds it to the naive MTH), and
    // at the end of each run from the naive MTH itself.
    const memory = memoryHashReader(all);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 200, max: 900 })), {
          minLength: 1,
          maxLength: 12,
        }),
        (batches) => {
          const store = new TileStore();
          for (const n of batches) {
            const before = new Set(tilesForSize(store.size).map(tilePath));
            const leaves = all.slice(store.size, store.size + n);
            const { tiles, size, root } = store.append(leaves);
            expect(size).toBe(store.size);
            expect(root).toEqual(rootHashSync(size, memory));
            // Exactly the tiles the new size has and the old one did not: a tile that changes
            // always changes its name, since its width grows.
            const expected = tilesForSize(size)
              .map(tilePath)
              .filter((p) => !before.has(p));
            expect(tiles.map(({ tile }) => tilePath(tile))).toEqual(expected);
            for (const { tile, data } of tiles) {
              // equalBytes: vitest's deep equality is slow on thousands of 8 KiB arrays.
              expect(equalBytes(data, tileOf(tile.level, tile.index, tile.width)), tilePath(tile)).toBe(true);
            }
          }
          expect(store.root).toEqual(naiveRoot(all.slice(0, store.size)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("builds a 70,000-leaf tree in batches of 1,000: every tile of tilesForSize is present and right", () => {
    const all = testLeaves(70_000, 4);
    const store = new TileStore();
    for (let i = 0; i < all.length; i += 1000) store.append(all.slice(i, i + 1000));
    expect(store.root).toEqual(naiveRoot(all));
    for (const t of tilesForSize(70_000)) {
      const data = store.tiles.get(tilePath(t));
      expect(data, tilePath(t)).toBeDefined();
      expect(equalBytes(data!, naiveTile(all, t.level, t.index, t.width)), tilePath(t)).toBe(true);
    }
    const full = store.tiles.get("tile/1/000")!;
    expect(full).toHaveLength(8192);
    // A full level-1 tile's root is hash 0 of the level-2 tile.
    expect(tileRootHash(full)).toEqual(store.tiles.get("tile/2/000.p/1"));
  });

  it("an empty batch changes nothing and keeps the root", () => {
    const store = new TileStore();
    expect(store.append([]).root).toEqual(naiveRoot([]));
    store.append(testLeaves(300));
    const { tiles, root, size } = store.append([]);
    expect([tiles, size, root]).toEqual([[], 300, naiveRoot(testLeaves(300))]);
  });

  it("refuses to append without the current edge tiles, or with an edge tile of the wrong size", () => {
    const leaves = testLeaves(10);
    expect(() => appendLeaves(5, () => undefined, leaves)).toThrow(
      expect.objectContaining({ code: "TILE_MISSING" }),
    );
    expect(() => appendLeaves(5, () => new Uint8Array(32 * 4), leaves)).toThrow(
      expect.objectContaining({ code: "BAD_TILE" }),
    );
    expect(() => appendLeaves(0, () => undefined, [new Uint8Array(31)])).toThrow(
      expect.objectContaining({ code: "BAD_HASH" }),
    );
    expect(() => appendLeaves(-1, () => undefined, leaves)).toThrow(
      expect.objectContaining({ code: "BAD_RANGE" }),
    );
  });

  it("asks for edge tiles only at levels that have one", () => {
    const asked: string[] = [];
    const store = new TileStore();
    store.append(testLeaves(256 * 3));
    appendLeaves(
      store.size,
      (t) => {
        asked.push(tilePath(t));
        return store.tiles.get(tilePath(t));
      },
      testLeaves(1),
    );
    // Level 0 is a whole number of tiles at size 768; only the level-1 edge is read.
    expect(asked).toEqual(["tile/1/000.p/3"]);
  });
});

describe("a hash reader over tiles", () => {
  const all = testLeaves(70_100, 5);
  const memory = memoryHashReader(all);
  const tileOf = naiveTiles(all);
  const readNaive = (t: TileId): Uint8Array => tileOf(t.level, t.index, t.width);

  function countingReader(size: number, cache?: TileCache) {
    const fetched: string[] = [];
    const reader = tileHashReader(
      async (t) => {
        fetched.push(tilePath(t));
        return readNaive(t);
      },
      size,
      cache,
    );
    return { reader, fetched };
  }

  it("gives the same proofs and roots as the in-memory tree (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 65_000, max: 70_100 })),
        fc.nat(),
        fc.nat(),
        async (size, i, j) => {
          const { reader } = countingReader(size);
          expect(await rootHash(size, reader)).toEqual(await rootHash(size, memory));
          const index = i % size;
          expect(await proveInclusion(index, size, reader)).toEqual(
            await proveInclusion(index, size, memory),
          );
          const old = j % (size + 1);
          expect(await proveConsistency(old, size, reader)).toEqual(
            await proveConsistency(old, size, memory),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it("fetches each tile once per call, and only the tiles the nodes live in", async () => {
    const size = 70_000;
    const nodes: NodeId[] = [
      ...consistencyProofNodes(1234, size),
      ...rangeNodes(0, size),
      { level: 0, index: 1300 },
    ];
    const { reader, fetched } = countingReader(size);
    const hashes = await reader.readHashes(nodes);
    expect(hashes).toEqual(await memory.readHashes(nodes));
    expect(new Set(fetched).size).toBe(fetched.length);
    const needed = new Set(nodes.map((n) => tilePath(tileForNode(n, size))));
    expect(new Set(fetched)).toEqual(needed);
  });

  it("with a shared cache, answers repeated proofs without fetching or hashing tiles again", async () => {
    const cache = new TileCache(8);
    const size = 70_000;
    const first = countingReader(size, cache);
    const proof = await proveInclusion(12_345, size, first.reader);
    expect(first.fetched.length).toBeGreaterThan(0);
    const second = countingReader(size, cache);
    expect(await proveInclusion(12_345, size, second.reader)).toEqual(proof);
    expect(second.fetched).toEqual([]);
    expect(proof).toEqual(await proveInclusion(12_345, size, memory));
    // Least recently used tiles make room: the cache never holds more than asked.
    for (let i = 0; i < 20; i++) await proveInclusion(i * 3000, size, countingReader(size, cache).reader);
    expect(cache.size).toBe(8);
    expect(await proveInclusion(69_999, size, countingReader(size, cache).reader)).toEqual(
      await proveInclusion(69_999, size, memory),
    );
  });

  it("with one cache shared as the tree grows, a partial tile is never taken for a wider one (property)", async () => {
    // The server keeps one cache for every size it serves: the partial tile at the right edge
    // has the same level and index at every size, and only its width tells its versions apart.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 1_500 }), { minLength: 2, maxLength: 6 }),
        fc.nat(),
        async (steps, i) => {
          const cache = new TileCache(64);
          let size = 60_000;
          for (const step of steps) {
            size += step;
            const index = (i + size) % size;
            const { reader } = countingReader(size, cache);
            expect(await proveInclusion(index, size, reader)).toEqual(
              await proveInclusion(index, size, memory),
            );
            expect(await rootHash(size, reader)).toEqual(await rootHash(size, memory));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("refuses a tile of the wrong length and nodes beyond the tree", async () => {
    const short = tileHashReader(async (t) => new Uint8Array(t.width * 32 - 1), 300);
    await expect(short.readHashes([{ level: 0, index: 0 }])).rejects.toSatisfy((e) =>
      isTrustlogError(e, "BAD_TILE"),
    );
    const { reader } = countingReader(300);
    await expect(reader.readHashes([{ level: 0, index: 300 }])).rejects.toSatisfy((e) =>
      isTrustlogError(e, "NODE_NOT_FOUND"),
    );
    await expect(reader.readHashes([{ level: 9, index: 0 }])).rejects.toSatisfy((e) =>
      isTrustlogError(e, "NODE_NOT_FOUND"),
    );
  });
});

describe("entry bundles", () => {
  it("round-trip any 1..256 entries of up to 65,535 bytes (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 256 }),
        (entries) => {
          const bundle = encodeEntryBundle(entries);
          expect(decodeEntryBundle(bundle)).toEqual(entries);
          expect(decodeEntryBundle(bundle, entries.length)).toEqual(entries);
        },
      ),
      { numRuns: 100 },
    );
    const big = new Uint8Array(65_535).fill(7);
    expect(decodeEntryBundle(encodeEntryBundle([big, new Uint8Array(0)]))).toEqual([big, new Uint8Array(0)]);
  });

  it("are big-endian uint16 length-prefixed", () => {
    const bundle = encodeEntryBundle([new Uint8Array([0xaa]), new Uint8Array(0x0102)]);
    expect([...bundle.subarray(0, 3)]).toEqual([0x00, 0x01, 0xaa]);
    expect([...bundle.subarray(3, 5)]).toEqual([0x01, 0x02]);
    expect(bundle).toHaveLength(3 + 2 + 0x0102);
  });

  it("refuse entries over 65,535 bytes, and bundles of no entries or more than a tile", () => {
    expect(() => encodeEntryBundle([new Uint8Array(65_536)])).toThrow(
      expect.objectContaining({ code: "ENTRY_TOO_LARGE" }),
    );
    expect(() => encodeEntryBundle([])).toThrow(expect.objectContaining({ code: "BAD_ENTRY_BUNDLE" }));
    expect(() => encodeEntryBundle(Array.from({ length: 257 }, () => new Uint8Array(1)))).toThrow(
      expect.objectContaining({ code: "BAD_ENTRY_BUNDLE" }),
    );
  });

  it("refuse truncated, padded, empty, oversized or miscounted bundles when decoding (property on truncation)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        (entries, cut) => {
          const bundle = encodeEntryBundle(entries);
          const at = cut % bundle.length;
          // Any strict prefix is either refused or decodes to fewer entries than were written.
          let decoded: Uint8Array[] | undefined;
          try {
            decoded = decodeEntryBundle(bundle.subarray(0, at), entries.length);
          } catch (e) {
            expect(isTrustlogError(e, "BAD_ENTRY_BUNDLE")).toBe(true);
          }
          expect(decoded).toBeUndefined();
        },
      ),
    );
    const bad = [
      new Uint8Array(0),
      new Uint8Array([0]),
      new Uint8Array([0, 2, 1]),
      new Uint8Array([0, 1, 1, 0]),
    ];
    for (const data of bad) {
      expect(() => decodeEntryBundle(data)).toThrow(expect.objectContaining({ code: "BAD_ENTRY_BUNDLE" }));
    }
    const tooMany = new Uint8Array(257 * 2);
    expect(() => decodeEntryBundle(tooMany)).toThrow(expect.objectContaining({ code: "BAD_ENTRY_BUNDLE" }));
    const two = encodeEntryBundle([new Uint8Array(1), new Uint8Array(1)]);
    expect(() => decodeEntryBundle(two, 3)).toThrow(expect.objectContaining({ code: "BAD_ENTRY_BUNDLE" }));
  });
});
