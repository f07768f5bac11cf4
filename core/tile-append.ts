// C2SP tlog-tiles, writing: appending leaves to a tiled tree, given its edge tiles, gives the
// tiles that changed, the new size and the new root.

import { TrustlogError } from "./errors.js";
import { EMPTY_ROOT, foldRight, HASH_SIZE, isSize, pow2 } from "./merkle.js";
import { MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, type TileId, tilePath } from "./tile-paths.js";
import { checkTileData, hashRow } from "./tile-reader.js";

export interface AppendResult {
  size: number;
  root: Uint8Array;
  /** Every tile that changed, with its full new content; partial tiles at the new width. */
  tiles: { tile: TileId; data: Uint8Array }[];
}

/**
 * Appends leaf hashes to a tiled tree of `oldSize` leaves. `readEdgeTile(t)` must return the
 * current content of the partial tile `t` (the right-most tile of level t.level at `oldSize`), or
 * undefined if there is none; it is asked only for tiles that exist. Work is linear in the batch,
 * plus hashing the partial tiles (at most 255 hashes per level) for the new root.
 */
export function appendLeaves(
  oldSize: number,
  readEdgeTile: (t: TileId) => Uint8Array | undefined,
  newLeafHashes: readonly Uint8Array[],
): AppendResult {
  if (!isSize(oldSize)) throw new TrustlogError("BAD_RANGE", `not a tree size: ${oldSize}`);
  const newSize = oldSize + newLeafHashes.length;
  if (!isSize(newSize)) throw new TrustlogError("BAD_RANGE", "the tree would outgrow 2^53 leaves");

  let incoming = new Uint8Array(newLeafHashes.length * HASH_SIZE);
  newLeafHashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new TrustlogError("BAD_HASH", `leaf hash ${i} is not 32 bytes`);
    }
    incoming.set(h, i * HASH_SIZE);
  });
  let incomingCount = newLeafHashes.length;

  const readEdge = (t: TileId): Uint8Array => {
    const data = readEdgeTile(t);
    if (data === undefined) throw new TrustlogError("TILE_MISSING", `edge tile ${tilePath(t)} is missing`);
    checkTileData(t, data);
    return data;
  };

  const tiles: AppendResult["tiles"] = [];
  // The partial tile of each level at the new size, top level last.
  const partials: Uint8Array[] = [];
  for (let level = 0; level <= MAX_TILE_LEVEL; level++) {
    const unit = pow2(TILE_HEIGHT * level);
    const oldRow = Math.floor(oldSize / unit);
    const newRow = Math.floor(newSize / unit);
    if (newRow === 0) break;
    if (incomingCount === 0) {
      // Nothing reached this level: its partial tile is unchanged and only feeds the root.
      const width = newRow % TILE_WIDTH;
      if (width > 0) partials.push(readEdge({ level, index: Math.floor(newRow / TILE_WIDTH), width }));
      continue;
    }
    const firstTile = Math.floor(oldRow / TILE_WIDTH);
    const oldWidth = oldRow % TILE_WIDTH;
    const total = oldWidth + incomingCount;
    const row = new Uint8Array(total * HASH_SIZE);
    if (oldWidth > 0) row.set(readEdge({ level, index: firstTile, width: oldWidth }));
    row.set(incoming, oldWidth * HASH_SIZE);

    const fullRoots: Uint8Array[] = [];
    for (let start = 0; start < total; start += TILE_WIDTH) {
      const width = Math.min(TILE_WIDTH, total - start);
      const data = row.slice(start * HASH_SIZE, (start + width) * HASH_SIZE);
      tiles.push({ tile: { level, index: firstTile + start / TILE_WIDTH, width }, data });
      if (width === TILE_WIDTH) fullRoots.push(hashRow(data, 0, TILE_WIDTH));
      else partials.push(data);
    }
    incoming = new Uint8Array(fullRoots.length * HASH_SIZE);
    for (let i = 0; i < fullRoots.length; i++) incoming.set(fullRoots[i]!, i * HASH_SIZE);
    incomingCount = fullRoots.length;
  }

  return { size: newSize, root: rootFromPartials(newSize, partials), tiles };
}

/**
 * The root of a tree from its partial tiles: the perfect subtrees that cover [0, size) are the
 * power-of-two runs of each partial tile's row, the highest level's on the left.
 */
function rootFromPartials(size: number, partials: readonly Uint8Array[]): Uint8Array {
  if (size === 0) return EMPTY_ROOT.slice();
  const subtrees: Uint8Array[] = [];
  for (let level = partials.length - 1; level >= 0; level--) {
    const row = partials[level]!;
    const width = row.length / HASH_SIZE;
    let start = 0;
    for (let run = TILE_WIDTH / 2; run >= 1; run /= 2) {
      if (width - start >= run) {
        subtrees.push(hashRow(row, start, run));
        start += run;
      }
    }
  }
  return foldRight(subtrees);
}
