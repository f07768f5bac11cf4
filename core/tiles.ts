// C2SP tlog-tiles: tile arithmetic, paths, a HashReader over tiles, appending leaves to a tiled
// tree, and entry bundles.
//
// A tile at level T holds up to 256 consecutive hashes of tree level 8T; hash i of tile n is
// MTH(D[(n*256 + i) * 256^T : (n*256 + i + 1) * 256^T]). Tree levels 8T+1..8T+7 are not stored:
// they are hashed up from the tile's row. Only full tiles feed the level above.

import { TrustlogError } from "./errors.js";
import { Lru } from "./lru.js";
import {
  EMPTY_ROOT,
  foldRight,
  HASH_SIZE,
  type HashReader,
  isSize,
  type NodeId,
  nodeHash,
  pow2,
} from "./merkle.js";

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE;
/** The highest level a tile path may name (C2SP: L is 0..63). */
export const MAX_TILE_LEVEL = 63;
/** The largest entry an entry bundle can hold (uint16 length prefix). */
export const MAX_ENTRY_BYTES = 0xffff;

/** A hash tile: `width` hashes (1..256; 256 = full) of tile `index` at tile level `level`. */
export interface TileId {
  readonly level: number;
  readonly index: number;
  readonly width: number;
}

export type TilePath =
  | { kind: "hash"; level: number; index: number; width: number }
  | { kind: "entries"; index: number; width: number };

function checkTileId(t: TileId): void {
  if (!Number.isInteger(t.level) || t.level < 0 || t.level > MAX_TILE_LEVEL) {
    throw new TrustlogError("BAD_TILE_PATH", `tile level ${t.level} is not in 0..${MAX_TILE_LEVEL}`);
  }
  checkIndexWidth(t.index, t.width);
}

function checkIndexWidth(index: number, width: number): void {
  if (!isSize(index)) throw new TrustlogError("BAD_TILE_PATH", `bad tile index ${index}`);
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new TrustlogError("BAD_TILE_PATH", `tile width ${width} is not in 1..${TILE_WIDTH}`);
  }
}

/** A tile index in zero-padded groups of three digits, all but the last prefixed `x`. */
export function formatTileIndex(n: number): string {
  if (!isSize(n)) throw new TrustlogError("BAD_TILE_PATH", `bad tile index ${n}`);
  let digits = String(n);
  digits = digits.padStart(Math.ceil(digits.length / 3) * 3, "0");
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 3) groups.push(digits.slice(i, i + 3));
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
}

const widthSuffix = (width: number): string => (width === TILE_WIDTH ? "" : `.p/${width}`);

/** `tile/<L>/<N>[.p/<W>]`. */
export function tilePath(t: TileId): string {
  checkTileId(t);
  return `tile/${t.level}/${formatTileIndex(t.index)}${widthSuffix(t.width)}`;
}

/** `tile/entries/<N>[.p/<W>]`. */
export function entriesPath(index: number, width: number): string {
  checkIndexWidth(index, width);
  return `tile/entries/${formatTileIndex(index)}${widthSuffix(width)}`;
}

// The longest valid path is well under 64 characters (16 digits of index in 6 groups).
const MAX_PATH_LENGTH = 96;
const TILE_PATH_RE = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses a tile or entry bundle path (attacker-controlled: it comes from a request URL). Strict:
 * exactly the text tilePath/entriesPath would produce, so equal tiles have one name. Throws
 * BAD_TILE_PATH.
 */
export function parseTilePath(path: string): TilePath {
  const fail = (why: string): never => {
    throw new TrustlogError("BAD_TILE_PATH", `bad tile path: ${why}`);
  };
  if (typeof path !== "string" || path.length > MAX_PATH_LENGTH) fail("too long");
  const m = TILE_PATH_RE.exec(path);
  if (m === null) fail("not tile/<L>/<N>[.p/<W>]");
  const [, levelText, indexText, widthText] = m!;
  const index = Number(indexText!.replaceAll("x", "").replaceAll("/", ""));
  if (!isSize(index)) fail("index too large");
  const width = widthText === undefined ? TILE_WIDTH : Number(widthText);
  if (widthText !== undefined && width >= TILE_WIDTH) fail("partial width must be 1..255");
  // Rejects leading all-zero groups such as x000/005, which the encoder never writes.
  if (formatTileIndex(index) !== indexText) fail("index is not in canonical groups");
  if (levelText === "entries") return { kind: "entries", index, width };
  const level = Number(levelText);
  if (level > MAX_TILE_LEVEL) fail(`level above ${MAX_TILE_LEVEL}`);
  return { kind: "hash", level, index, width };
}

/** Every hash tile of the tree of `size` leaves, level by level, each level's partial tile last. */
export function tilesForSize(size: number): TileId[] {
  if (!isSize(size)) throw new TrustlogError("BAD_RANGE", `not a tree size: ${size}`);
  const tiles: TileId[] = [];
  for (let level = 0; level <= MAX_TILE_LEVEL; level++) {
    const row = Math.floor(size / pow2(TILE_HEIGHT * level));
    if (row === 0) break;
    const full = Math.floor(row / TILE_WIDTH);
    for (let index = 0; index < full; index++) tiles.push({ level, index, width: TILE_WIDTH });
    const partial = row % TILE_WIDTH;
    if (partial > 0) tiles.push({ level, index: full, width: partial });
  }
  return tiles;
}

interface NodeInTile {
  tile: TileId;
  /** The node's tree level above the tile's row (0..7). */
  rise: number;
  /** The node's index among the nodes at that rise within the tile. */
  offset: number;
}

function locate(node: NodeId, size: number): NodeInTile {
  const { level, index } = node;
  if (!Number.isInteger(level) || level < 0 || !isSize(index) || (index + 1) * pow2(level) > size) {
    throw new TrustlogError(
      "NODE_NOT_FOUND",
      `node (${level}, ${index}) is not complete in a tree of ${size}`,
    );
  }
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const rise = level % TILE_HEIGHT;
  const perTile = pow2(TILE_HEIGHT - rise);
  const tileIndex = Math.floor(index / perTile);
  const row = Math.floor(size / pow2(TILE_HEIGHT * tileLevel));
  const width = Math.min(TILE_WIDTH, row - tileIndex * TILE_WIDTH);
  return { tile: { level: tileLevel, index: tileIndex, width }, rise, offset: index - tileIndex * perTile };
}

/** The tile, as it is at tree size `size`, from which the hash of `node` is computed. */
export function tileForNode(node: NodeId, size: number): TileId {
  if (!isSize(size)) throw new TrustlogError("BAD_RANGE", `not a tree size: ${size}`);
  return locate(node, size).tile;
}

/** Hashes up a perfect subtree of `count` (a power of two) hashes of a tile row. */
function hashRow(row: Uint8Array, start: number, count: number): Uint8Array {
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

function checkTileData(t: TileId, data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array) || data.length !== t.width * HASH_SIZE) {
    throw new TrustlogError("BAD_TILE", `tile ${tilePath(t)} is not ${t.width * HASH_SIZE} bytes`);
  }
}

/**
 * A tile's row and the tree levels above it within the tile (rises 1..7), each level computed
 * in full the first time a node on it is asked for: an inclusion proof needs nearly every
 * interior node of its tiles anyway, and flat rows are cheaper than a memo of single nodes.
 */
class TileInterior {
  private readonly rises: Uint8Array[];
  constructor(row: Uint8Array) {
    this.rises = [row];
  }

  node(rise: number, offset: number): Uint8Array {
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
    return this.rises[rise]!.slice(offset * HASH_SIZE, (offset + 1) * HASH_SIZE);
  }
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
      const located = nodes.map((n) => locate(n, size));
      const byTile = new Map<string, { tile: TileId; interior?: TileInterior }>();
      const keys = located.map(({ tile }) => {
        const key = tilePath(tile);
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

/** An entry bundle: each entry as a big-endian uint16 length then its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length < 1 || entries.length > TILE_WIDTH) {
    throw new TrustlogError(
      "BAD_ENTRY_BUNDLE",
      `a bundle holds 1..${TILE_WIDTH} entries, not ${entries.length}`,
    );
  }
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) {
      throw new TrustlogError("ENTRY_TOO_LARGE", `an entry of ${e.length} bytes does not fit a bundle`);
    }
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const e of entries) {
    out[o] = e.length >>> 8;
    out[o + 1] = e.length & 0xff;
    out.set(e, o + 2);
    o += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle (attacker-controlled when read from a mirror or CDN). Strict: no
 * trailing bytes, 1..256 entries, and exactly `expectedCount` when given (the tile's width).
 * Throws BAD_ENTRY_BUNDLE.
 */
export function decodeEntryBundle(data: Uint8Array, expectedCount?: number): Uint8Array[] {
  const fail = (why: string): never => {
    throw new TrustlogError("BAD_ENTRY_BUNDLE", `bad entry bundle: ${why}`);
  };
  if (!(data instanceof Uint8Array)) fail("not bytes");
  const entries: Uint8Array[] = [];
  let o = 0;
  while (o < data.length) {
    if (entries.length === TILE_WIDTH) fail(`more than ${TILE_WIDTH} entries`);
    if (o + 2 > data.length) fail("truncated length");
    const len = (data[o]! << 8) | data[o + 1]!;
    if (o + 2 + len > data.length) fail("truncated entry");
    entries.push(data.slice(o + 2, o + 2 + len));
    o += 2 + len;
  }
  if (entries.length === 0) fail("empty");
  if (expectedCount !== undefined && entries.length !== expectedCount) {
    fail(`${entries.length} entries where ${expectedCount} were expected`);
  }
  return entries;
}
