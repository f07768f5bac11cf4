// C2SP tlog-tiles, the arithmetic: which tiles a tree of a given size has, their paths, and
// which tile a node's hash is computed from.
//
// A tile at level T holds up to 256 consecutive hashes of tree level 8T; hash i of tile n is
// MTH(D[(n*256 + i) * 256^T : (n*256 + i + 1) * 256^T]). Tree levels 8T+1..8T+7 are not stored:
// they are hashed up from the tile's row. Only full tiles feed the level above.

import { TrustlogError } from "./errors.js";
import { HASH_SIZE, isSize, type NodeId, pow2 } from "./merkle.js";

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE;
/** The highest level a tile path may name (C2SP: L is 0..63). */
export const MAX_TILE_LEVEL = 63;

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

export interface NodeInTile {
  tile: TileId;
  /** The node's tree level above the tile's row (0..7). */
  rise: number;
  /** The node's index among the nodes at that rise within the tile. */
  offset: number;
}

/** Where a node's hash is computed from: its tile at tree size `size`, and its place there. */
export function locateNode(node: NodeId, size: number): NodeInTile {
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
  return locateNode(node, size).tile;
}
