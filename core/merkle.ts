// RFC 6962 / RFC 9162 Merkle tree hashing over an abstract store of perfect-subtree hashes.
//
// Every hash a proof or a root needs is the hash of a perfect subtree (a NodeId), or a fold of a
// few of them. Callers hand us a HashReader that fetches a batch of NodeIds at once, so the same
// code runs over PostgreSQL (one round trip), over HTTP tiles (one fetch per tile) or in memory.
//
// Sizes and indices are JS numbers up to 2^53. Bitwise operators truncate to 32 bits, so the
// arithmetic on sizes below uses division, modulo and powers of two instead.

import { TrustlogError } from "./errors.js";
import { sha256 } from "./sha256.js";

export const HASH_SIZE = 32;

/** The root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** RFC 6962 leaf hash: SHA-256(0x00 || entry). */
export function leafHash(entry: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + entry.length);
  buf.set(entry, 1);
  return sha256(buf);
}

// One scratch buffer for interior nodes: nodeHash is on every hot path (tree building, tiles,
// proof checking) and is synchronous, so sharing it is safe and saves an allocation per hash.
const nodeScratch = new Uint8Array(1 + 2 * HASH_SIZE);
nodeScratch[0] = 0x01;

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). Both inputs are 32 bytes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new TrustlogError("BAD_HASH", "a node hash is computed over two 32-byte hashes");
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return sha256(nodeScratch);
}

/** The perfect subtree over leaves [index * 2^level, (index + 1) * 2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/**
 * A store of perfect-subtree hashes. `readHashes` answers in the order asked, one hash per
 * NodeId, and throws when it does not hold one. Implementations may do one round trip per call,
 * so callers batch everything a computation needs into one call.
 */
export interface HashReader {
  readHashes(nodes: readonly NodeId[]): Promise<Uint8Array[]>;
}

/** The synchronous form, for hashes already in memory. */
export interface SyncHashReader {
  readHashesSync(nodes: readonly NodeId[]): Uint8Array[];
}

// A table, not `2 ** e`: V8 computes a variable power through its general pow routine, and
// pow2 runs for every node of every proof and tile lookup (10% of a proof's CPU time).
const POW2 = Array.from({ length: 64 }, (_, e) => 2 ** e);

/** 2^e for 0 <= e <= 63, exact (powers of two are exact doubles). */
export function pow2(e: number): number {
  return POW2[e] ?? 2 ** e;
}

/** Whether n is a safe integer in [min, max]. */
export function isSize(n: number, min = 0, max = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isSafeInteger(n) && n >= min && n <= max;
}

/** floor(log2(n)) for a safe integer n >= 1, exact above 2^32. */
export function log2Floor(n: number): number {
  if (n < 0x1_0000_0000) return 31 - Math.clz32(n);
  return 32 + 31 - Math.clz32(Math.floor(n / 0x1_0000_0000));
}

/** The largest power of two strictly below n (n >= 2): RFC 6962's split point k. */
export function splitPoint(n: number): number {
  return pow2(log2Floor(n - 1));
}

/** The number of trailing zero bits of n >= 1. */
function trailingZeros(n: number): number {
  let z = 0;
  while (n % 2 === 0) {
    n /= 2;
    z++;
  }
  return z;
}

function checkRange(lo: number, hi: number): void {
  if (!isSize(lo) || !isSize(hi) || lo >= hi) {
    throw new TrustlogError("BAD_RANGE", `not a non-empty range of leaves: [${lo}, ${hi})`);
  }
}

/**
 * The perfect subtrees that exactly cover leaves [lo, hi), left to right, each as large as its
 * alignment allows. When lo is a multiple of a power of two >= hi - lo (every range that occurs
 * in an RFC 6962 tree or proof), folding their hashes right to left gives MTH(D[lo:hi]).
 */
export function rangeNodes(lo: number, hi: number): NodeId[] {
  checkRange(lo, hi);
  const nodes: NodeId[] = [];
  while (lo < hi) {
    const align = lo === 0 ? 53 : trailingZeros(lo);
    const level = Math.min(align, log2Floor(hi - lo));
    const width = pow2(level);
    nodes.push({ level, index: lo / width });
    lo += width;
  }
  return nodes;
}

/** Folds subtree hashes right to left, as MTH nests them. */
export function foldRight(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) throw new TrustlogError("BAD_RANGE", "nothing to fold");
  let h = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i]!, h);
  return h;
}

function checkAnswer(asked: readonly NodeId[], got: readonly Uint8Array[]): void {
  if (got.length !== asked.length) {
    throw new TrustlogError("BAD_HASH", `hash reader answered ${got.length} hashes for ${asked.length}`);
  }
  for (const h of got) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new TrustlogError("BAD_HASH", "hash reader returned a hash that is not 32 bytes");
    }
  }
}

/** A list of leaf ranges [lo, hi) to hash, each answered by one fold. */
export type LeafRange = readonly [lo: number, hi: number];

/** Plans a batch of ranges: one flat node list and where each range's nodes start in it. */
function planRanges(ranges: readonly LeafRange[]): { nodes: NodeId[]; starts: number[] } {
  const nodes: NodeId[] = [];
  const starts: number[] = [];
  for (const [lo, hi] of ranges) {
    starts.push(nodes.length);
    for (const n of rangeNodes(lo, hi)) nodes.push(n);
  }
  starts.push(nodes.length);
  return { nodes, starts };
}

function foldPlanned(starts: readonly number[], hashes: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let r = 0; r + 1 < starts.length; r++) out.push(foldRight(hashes.slice(starts[r], starts[r + 1])));
  return out;
}

/** Hashes several leaf ranges with a single readHashes call. */
export async function subtreeHashes(ranges: readonly LeafRange[], reader: HashReader): Promise<Uint8Array[]> {
  const { nodes, starts } = planRanges(ranges);
  if (nodes.length === 0) return [];
  const hashes = await reader.readHashes(nodes);
  checkAnswer(nodes, hashes);
  return foldPlanned(starts, hashes);
}

/** Synchronous subtreeHashes. */
export function subtreeHashesSync(ranges: readonly LeafRange[], reader: SyncHashReader): Uint8Array[] {
  const { nodes, starts } = planRanges(ranges);
  if (nodes.length === 0) return [];
  const hashes = reader.readHashesSync(nodes);
  checkAnswer(nodes, hashes);
  return foldPlanned(starts, hashes);
}

/** MTH(D[lo:hi]) (see rangeNodes for which ranges that is exact for). One readHashes call. */
export async function subtreeHash(lo: number, hi: number, reader: HashReader): Promise<Uint8Array> {
  return (await subtreeHashes([[lo, hi]], reader))[0]!;
}

/** The root hash of the tree of the first `size` leaves. */
export async function rootHash(size: number, reader: HashReader): Promise<Uint8Array> {
  if (!isSize(size)) throw new TrustlogError("BAD_RANGE", `not a tree size: ${size}`);
  if (size === 0) return EMPTY_ROOT;
  return subtreeHash(0, size, reader);
}

/** Synchronous rootHash. */
export function rootHashSync(size: number, reader: SyncHashReader): Uint8Array {
  if (!isSize(size)) throw new TrustlogError("BAD_RANGE", `not a tree size: ${size}`);
  if (size === 0) return EMPTY_ROOT;
  return subtreeHashesSync([[0, size]], reader)[0]!;
}

/** A tree held in memory, with every perfect-subtree hash precomputed. */
export interface MemoryTree extends HashReader, SyncHashReader {
  readonly size: number;
}

/**
 * An in-memory tree over the given leaf hashes (for tests, benchmarks and small trees). Stores
 * each level as one flat buffer (2n hashes in all), so a million leaves cost about 64 MiB.
 */
export function memoryHashReader(leafHashes: readonly Uint8Array[]): MemoryTree {
  const size = leafHashes.length;
  const levels: Uint8Array[] = [];
  const bottom = new Uint8Array(size * HASH_SIZE);
  leafHashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new TrustlogError("BAD_HASH", `leaf hash ${i} is not 32 bytes`);
    }
    bottom.set(h, i * HASH_SIZE);
  });
  levels.push(bottom);
  for (let below = bottom, n = size; n >= 2; ) {
    const m = Math.floor(n / 2);
    const row = new Uint8Array(m * HASH_SIZE);
    for (let i = 0; i < m; i++) {
      const l = below.subarray(2 * i * HASH_SIZE, (2 * i + 1) * HASH_SIZE);
      const r = below.subarray((2 * i + 1) * HASH_SIZE, (2 * i + 2) * HASH_SIZE);
      row.set(nodeHash(l, r), i * HASH_SIZE);
    }
    levels.push(row);
    below = row;
    n = m;
  }
  const readHashesSync = (nodes: readonly NodeId[]): Uint8Array[] =>
    nodes.map(({ level, index }) => {
      const row = levels[level];
      if (row === undefined || !isSize(index) || (index + 1) * HASH_SIZE > row.length) {
        throw new TrustlogError(
          "NODE_NOT_FOUND",
          `no hash for node (${level}, ${index}) in a tree of ${size}`,
        );
      }
      return row.slice(index * HASH_SIZE, (index + 1) * HASH_SIZE);
    });
  return {
    size,
    readHashesSync,
    readHashes: async (nodes) => readHashesSync(nodes),
  };
}
