// Inclusion and consistency proofs (RFC 6962 §2.1.1-2.1.2 to make them, RFC 9162 §2.1.3.2 and
// §2.1.4.2 to check them).
//
// A proof is a list of subtree hashes. The planners below say which leaf ranges those are, so a
// caller can fetch every hash of a proof in one HashReader call. The checkers follow the RFC 9162
// algorithms step by step; the proof, the sizes and the hashes they take are attacker-controlled.

import { equalBytes } from "./bytes.js";
import { type ErrorCode, TrustlogError } from "./errors.js";
import {
  EMPTY_ROOT,
  HASH_SIZE,
  type HashReader,
  isSize,
  type LeafRange,
  type NodeId,
  nodeHash,
  rangeNodes,
  type SyncHashReader,
  splitPoint,
  subtreeHashes,
  subtreeHashesSync,
} from "./merkle.js";

// A tree of at most 2^53 leaves has proofs of at most 53 (+1 prepended) hashes; anything
// longer is refused before any hashing.
const MAX_PROOF_HASHES = 64;

const half = (n: number): number => Math.floor(n / 2);
const isOdd = (n: number): boolean => n % 2 === 1;

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/**
 * The leaf ranges whose hashes form PATH(index, D[0:size]), leaf's sibling first, the root's
 * child last. Throws BAD_RANGE unless 0 <= index < size.
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  if (!isSize(size, 1) || !isSize(index) || index >= size) {
    throw new TrustlogError("BAD_RANGE", `no leaf ${index} in a tree of size ${size}`);
  }
  const ranges: LeafRange[] = [];
  let lo = 0;
  let hi = size;
  // Walks PATH's recursion from the root down; PATH lists the hashes bottom-up.
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      ranges.push([lo + k, hi]);
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]);
      lo += k;
    }
  }
  return ranges.reverse();
}

/**
 * The leaf ranges whose hashes form PROOF(oldSize, D[0:newSize]). Empty when oldSize is 0 or
 * equal to newSize (RFC 9162: nothing to prove). Throws BAD_RANGE unless 0 <= old <= new.
 */
export function consistencyProofRanges(oldSize: number, newSize: number): LeafRange[] {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) {
    throw new TrustlogError("BAD_RANGE", `no consistency proof from size ${oldSize} to ${newSize}`);
  }
  if (oldSize === 0 || oldSize === newSize) return [];
  const ranges: LeafRange[] = [];
  let lo = 0;
  let hi = newSize;
  let m = oldSize;
  // SUBPROOF's flag b: true while the old tree is still a prefix of the left-most path, so that
  // its root need not be sent (the verifier has it).
  let onLeftEdge = true;
  for (;;) {
    if (m === hi - lo) {
      if (!onLeftEdge) ranges.push([lo, hi]);
      break;
    }
    const k = splitPoint(hi - lo);
    if (m <= k) {
      ranges.push([lo + k, hi]);
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]);
      lo += k;
      m -= k;
      onLeftEdge = false;
    }
  }
  return ranges.reverse();
}

function flatten(ranges: readonly LeafRange[]): NodeId[] {
  return ranges.flatMap(([lo, hi]) => rangeNodes(lo, hi));
}

/** Every perfect-subtree hash an inclusion proof needs, for callers that prefetch. */
export function inclusionProofNodes(index: number, size: number): NodeId[] {
  return flatten(inclusionProofRanges(index, size));
}

/** Every perfect-subtree hash a consistency proof needs, for callers that prefetch. */
export function consistencyProofNodes(oldSize: number, newSize: number): NodeId[] {
  return flatten(consistencyProofRanges(oldSize, newSize));
}

/** The inclusion proof of leaf `index` in the tree of `size` leaves (one readHashes call). */
export async function proveInclusion(index: number, size: number, reader: HashReader): Promise<Uint8Array[]> {
  return subtreeHashes(inclusionProofRanges(index, size), reader);
}

/**
 * Inclusion proofs of many leaves in one tree, in one readHashes call. Leaves appended together
 * sit side by side at the right edge, so their proofs share most ranges: each distinct range is
 * hashed once, keeping the work linear in the number of leaves. Proofs share hash objects.
 */
export async function proveInclusions(
  indices: readonly number[],
  size: number,
  reader: HashReader,
): Promise<Map<number, Uint8Array[]>> {
  const proofs = new Map<number, Uint8Array[]>();
  const wanted = [...new Set(indices)];
  if (wanted.length === 0) return proofs;
  const perIndex = wanted.map((i) => inclusionProofRanges(i, size));
  const unique = new Map<string, LeafRange>();
  for (const ranges of perIndex) for (const r of ranges) unique.set(`${r[0]}:${r[1]}`, r);
  const list = [...unique.values()];
  const hashes = await subtreeHashes(list, reader);
  const memo = new Map<string, Uint8Array>();
  for (let k = 0; k < list.length; k++) memo.set(`${list[k]![0]}:${list[k]![1]}`, hashes[k]!);
  wanted.forEach((index, k) => {
    proofs.set(
      index,
      perIndex[k]!.map((r) => memo.get(`${r[0]}:${r[1]}`)!),
    );
  });
  return proofs;
}

/** Synchronous proveInclusion. */
export function proveInclusionSync(index: number, size: number, reader: SyncHashReader): Uint8Array[] {
  return subtreeHashesSync(inclusionProofRanges(index, size), reader);
}

/** The consistency proof from `oldSize` to `newSize` (one readHashes call). */
export async function proveConsistency(
  oldSize: number,
  newSize: number,
  reader: HashReader,
): Promise<Uint8Array[]> {
  return subtreeHashes(consistencyProofRanges(oldSize, newSize), reader);
}

/** Synchronous proveConsistency. */
export function proveConsistencySync(oldSize: number, newSize: number, reader: SyncHashReader): Uint8Array[] {
  return subtreeHashesSync(consistencyProofRanges(oldSize, newSize), reader);
}

function checkHashes(code: ErrorCode, what: string, hashes: readonly unknown[]): void {
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new TrustlogError(code, `${what} is not a 32-byte hash`);
    }
  }
}

/**
 * Checks that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`
 * (RFC 9162 §2.1.3.2). Throws INCLUSION_INVALID otherwise.
 */
export function checkInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const code = "INCLUSION_INVALID";
  const fail = (message: string): never => {
    throw new TrustlogError(code, message, { index, size });
  };
  if (!isSize(size) || !isSize(index)) fail("index and size must be non-negative safe integers");
  if (index >= size) fail(`leaf index ${index} is not below tree size ${size}`);
  if (!Array.isArray(proof) || proof.length > MAX_PROOF_HASHES) fail("proof is too long");
  checkHashes(code, "the leaf hash", [leafHash]);
  checkHashes(code, "the root", [root]);
  checkHashes(code, "a proof element", proof);

  // Step 2-3: fn is the leaf's index and sn the last index, at the current level.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  // Step 4.
  for (const p of proof) {
    if (sn === 0) fail("proof is too long");
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      // The node was the right-most at its level and has no sibling on the levels skipped here.
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  if (sn !== 0) fail("proof is too short");
  if (!equalBytes(r, root)) fail("proof does not lead to the root");
}

/**
 * Checks that the tree of `newSize` leaves with root `newRoot` extends the tree of `oldSize`
 * leaves with root `oldRoot` (RFC 9162 §2.1.4.2). Throws CONSISTENCY_PROOF_INVALID otherwise.
 *
 * Edge cases, decided before the RFC algorithm (which needs 0 < oldSize < newSize):
 * - oldSize == newSize: the proof must be empty and the roots equal;
 * - oldSize == 0: the proof must be empty and oldRoot must be the empty tree's root; any newRoot
 *   is consistent with the empty tree.
 */
export function checkConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  const code = "CONSISTENCY_PROOF_INVALID";
  const fail = (message: string): never => {
    throw new TrustlogError(code, message, { oldSize, newSize });
  };
  if (!isSize(oldSize) || !isSize(newSize)) fail("sizes must be non-negative safe integers");
  if (oldSize > newSize) fail(`old size ${oldSize} is above new size ${newSize}`);
  if (!Array.isArray(proof) || proof.length > MAX_PROOF_HASHES) fail("proof is too long");
  checkHashes(code, "the old root", [oldRoot]);
  checkHashes(code, "the new root", [newRoot]);
  checkHashes(code, "a proof element", proof);

  if (oldSize === 0 && !equalBytes(oldRoot, EMPTY_ROOT)) fail('the root of the empty tree is SHA-256("")');
  if (oldSize === newSize) {
    if (proof.length !== 0) fail("the proof between equal sizes must be empty");
    if (!equalBytes(oldRoot, newRoot)) fail("equal sizes with different roots");
    return;
  }
  if (oldSize === 0) {
    if (proof.length !== 0) fail("the proof from the empty tree must be empty");
    return;
  }

  // Step 1.
  if (proof.length === 0) fail("proof is empty");
  // Step 2: when the old tree is a perfect subtree, its root is the path's first node.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  // Step 3-4.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // Step 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) fail("proof is too long");
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // Step 7.
  if (sn !== 0) fail("proof is too short");
  if (!equalBytes(fr, oldRoot)) fail("proof does not lead to the old root");
  if (!equalBytes(sr, newRoot)) fail("proof does not lead to the new root");
}
