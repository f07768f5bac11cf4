// C2SP tlog-tiles, reading: a HashReader over a tree's tiles (each tile fetched once, its
// interior hashed up once), and a cache of hashed-up tiles a server shares between readers.

import { toBase64 } from "./bytes.js";
import { TrustlogError } from "./errors.js";
import { Lru } from "./lru.js";
import { HASH_SIZE, type HashReader, isSize, type NodeId, nodeHash } from "./merkle.js";
import { FULL_TILE_BYTES, locateNode, TILE_WIDTH, type TileId, tilePath } from "./tile-paths.js";

/** Hashes up a perfect subtree of `count` (a power of two) hashes of a tile row. */
export function hashRow(row: Uint8Array, start: number, count: number): Uint8Array {
  if (count === 1) return row.subarray(start * HASH_SIZE, (start + 1) * HASH_SIZE);
  const level: Uint8Array[] = [];
  for (let i = 0; i < count; i += 2) {
    const a = (start + i) * HASH_SIZE;
    level.push(nodeHash(row.subarray(a, a + HASH_SIZE), row.subarray(a + HASH_SIZE, a + 2 * HASH_SIZE)));
  }
  for (let n = level.length; n > 1; n /= 2) {
    for (let i = 0; i < n / 2; i++) level[i] = nodeHash(level[2 * i]!, level[2 * i + 1]!);
  }
  return level[0]!;
}

/** The Merkle root of a full tile: the hash it contributes to the tile level above. */
export function tileRootHash(data: Uint8Array): Uint8Array {
  if (data.length !== FULL_TILE_BYTES) throw new TrustlogError("BAD_TILE", "a full tile is 8192 bytes");
  return hashRow(data, 0, TILE_WIDTH);
}

export function checkTileData(t: TileId, data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array) || data.length !== t.width * HASH_SIZE) {
    throw new TrustlogError("BAD_TILE", `tile ${tilePath(t)} is not ${t.width * HASH_SIZE} bytes`);
  }
}

/** The lowest rise whose nodes' base64 a TileInterior keeps (at most 127 per tile, ~9 KiB). */
const MEMO_RISE = 2;

/**
 * A tile's row and the tree levels above it within the tile (rises 1..7), each level computed
 * in full the first time a node on it is asked for: an inclusion proof needs nearly every
 * interior node of its tiles anyway, and flat rows are cheaper than a memo of single nodes.
 */
class TileInterior {
  private readonly rises: Uint8Array[];
  /**
   * Base64 of the nodes asked for as text, per rise from MEMO_RISE up: those are shared by the
   * proofs of 4 to 256 leaves. A node below is in the proofs of one or two leaves; kept, the
   * text of every node would more than double a tile's memory (~72 bytes each against 32).
   */
  private readonly texts: (string | undefined)[][] = [];
  constructor(row: Uint8Array) {
    this.rises = [row];
  }

  node(rise: number, offset: number): Uint8Array {
    return this.view(rise, offset).slice();
  }

  /** The node's hash in base64 (from MEMO_RISE up, encoded once for the life of the interior). */
  nodeBase64(rise: number, offset: number): string {
    if (rise < MEMO_RISE) return toBase64(this.view(rise, offset));
    let texts = this.texts[rise];
    if (texts === undefined) {
      texts = [];
      this.texts[rise] = texts;
    }
    let text = texts[offset];
    if (text === undefined) {
      text = toBase64(this.view(rise, offset));
      texts[offset] = text;
    }
    return text;
  }

  /** The node's hash, a view into the interior (not to be handed out: callers get copies). */
  private view(rise: number, offset: number): Uint8Array {
    while (this.rises.length <= rise) {
      const below = this.rises[this.rises.length - 1]!;
      const n = Math.floor(below.length / (2 * HASH_SIZE));
      const next = new Uint8Array(n * HASH_SIZE);
      for (let i = 0; i < n; i++) {
        const a = 2 * i * HASH_SIZE;
        next.set(
          nodeHash(below.subarray(a, a + HASH_SIZE), below.subarray(a + HASH_SIZE, a + 2 * HASH_SIZE)),
          i * HASH_SIZE,
        );
      }
      this.rises.push(next);
    }
    const row = this.rises[rise]!;
    if ((offset + 1) * HASH_SIZE > row.length) {
      throw new TrustlogError("NODE_NOT_FOUND", `no node ${offset} at rise ${rise} of this tile`);
    }
    return row.subarray(offset * HASH_SIZE, (offset + 1) * HASH_SIZE);
  }
}

/** The cache key of a tile at its width: names its content like its path does, for less. */
function tileKey(tile: TileId): string {
  return `${tile.level}/${tile.index}/${tile.width}`;
}

/**
 * Remembers the hashed-up interiors of recently used tiles across calls (least recently used
 * out first), so a server answering many proofs neither re-reads nor re-hashes its hot tiles. A
 * tile path names immutable content in a well-behaved log (partial tiles have their own .p/<W>
 * paths), so entries never go stale; share a cache only between readers of one log and one
 * tile source you trust, since a cached tile is not fetched again.
 */
export class TileCache {
  private readonly entries: Lru<string, TileInterior>;
  constructor(readonly maxTiles = 1024) {
    this.entries = new Lru(maxTiles);
  }

  /** @internal */
  get(path: string): TileInterior | undefined {
    return this.entries.get(path);
  }

  /** @internal */
  set(path: string, interior: TileInterior): void {
    this.entries.set(path, interior);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The base64 of `node`'s hash in the tree of `size` leaves when its tile is cached, else
   * undefined: no fetch, no promise (a server's proof fast path; the caller falls back to a
   * tileHashReader, which fills the cache). Throws NODE_NOT_FOUND as locateNode does.
   */
  cachedNodeBase64(node: NodeId, size: number): string | undefined {
    const { tile, rise, offset } = locateNode(node, size);
    // A proof's nodes come tile by tile: one lookup for the run of nodes in the same tile. The
    // interior kept here may have been evicted since; its content is the tile's all the same.
    const last = this.last;
    if (
      last === undefined ||
      last.tile.level !== tile.level ||
      last.tile.index !== tile.index ||
      last.tile.width !== tile.width
    ) {
      const interior = this.entries.get(tileKey(tile));
      if (interior === undefined) return undefined;
      this.last = { tile, interior };
      return interior.nodeBase64(rise, offset);
    }
    return last.interior.nodeBase64(rise, offset);
  }

  /** The tile cachedNodeBase64 last found, and its interior. */
  private last: { tile: TileId; interior: TileInterior } | undefined;
}

/**
 * A HashReader for the tree of `size` leaves served as tiles. Each call fetches every tile it
 * needs once, in parallel, and hashes each tile interior node at most once (with a TileCache,
 * at most once across calls). The tiles are not authenticated here: whatever is computed from
 * them must be checked against a signed root (checkInclusion, checkConsistency, or comparing
 * rootHash with a checkpoint).
 */
export function tileHashReader(
  readTile: (t: TileId) => Promise<Uint8Array>,
  size: number,
  cache?: TileCache,
): HashReader {
  if (!isSize(size)) throw new TrustlogError("BAD_RANGE", `not a tree size: ${size}`);
  return {
    async readHashes(nodes) {
      const located = nodes.map((n) => locateNode(n, size));
      const byTile = new Map<string, { tile: TileId; interior?: TileInterior }>();
      const keys = located.map(({ tile }) => {
        // Names the tile's content like its path does (level, index and width), for less than
        // the path's zero-padded groups cost: this runs for every node of every proof.
        const key = tileKey(tile);
        if (!byTile.has(key)) byTile.set(key, { tile, interior: cache?.get(key) });
        return key;
      });
      await Promise.all(
        [...byTile].map(async ([key, entry]) => {
          if (entry.interior !== undefined) return;
          const data = await readTile(entry.tile);
          checkTileData(entry.tile, data);
          // A copy, so that a caller reusing its buffer cannot change what the cache holds.
          entry.interior = new TileInterior(data.slice());
          cache?.set(key, entry.interior);
        }),
      );
      return located.map(({ rise, offset }, i) => byTile.get(keys[i]!)!.interior!.node(rise, offset));
    },
  };
}
