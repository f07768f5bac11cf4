// The index of chain heads (DESIGN.md §4): a Merkle Patricia trie in the wire format of the Go
// package filippo.io/torchwood/mpt. Its tree.go package comment and its testdata vectors
// (verify.txt, treehash.txt, prefix.txt, all passing in test/core/mpt.test.ts) are the
// specification; this file restates what it needs.
//
// Keys and values are byte strings of at most 1,024 bytes. For ordering and bit tests a key is
// an infinite stream of bits: its bytes, then one 0x00 byte, then 0xFF bytes forever. So no key's
// stream is a prefix of another's, and keys of one length (trustlog's 32-byte keys) compare as
// plain bytes.
//
// The trie is a path-compressed binary trie: an inner node for the bit prefix P exists exactly
// when some key starts P‖0 and another P‖1; it records B = |P|, the bit index where its two
// children split (0 left, 1 right). N keys make N leaves and N−1 inner nodes, and the shape
// depends only on the set of keys, never on the order they were inserted in. Hashes (SHA-256):
//
//   empty trie  H("")                                   e3b0c442…7852b855
//   leaf        H(0x00 ‖ uvarint(len key) ‖ key ‖ uvarint(len value) ‖ value)
//   inner node  H(0x01 ‖ uvarint(B) ‖ left hash ‖ right hash)
//
// where uvarint is the protobuf (Go encoding/binary) varint. A proof is torchwood's "path
// proof" (its Tree.Path): the leaf where a lookup for the key ends, as uvarint-prefixed key and
// value, then one (uvarint(B), sibling hash) step per inner node from that leaf up to the root,
// with B strictly decreasing; the empty trie's path is empty. It shows the key present (the leaf
// is the key's own) or absent (the leaf is another key that agrees with the key at every B on
// the path, so a lookup for the key would reach it). torchwood's ProveLookup shortens a presence
// proof by dropping the leaf the verifier already has; the full path costs ~83 bytes more but
// decodes without knowing the claim, and mpt.ProveLookup(key, path) turns it into the short form.
//
// Memory. The log server keeps a trie of 10^6–10^7 chains, so the representation is chosen for
// bytes per entry (bench/mpt.ts measures ~240). A leaf is one JS string of one-byte characters
// holding its own hash preimage followed by its hash,
//
//   0x00 ‖ uvarint(len key) ‖ key ‖ uvarint(len value) ‖ value ‖ leaf hash
//
// which V8 stores flat with a 16-byte header (136 bytes for a trustlog entry), immutable and
// collected with the node that drops it; an inner node is an object of four fields whose hash
// is a 32-character string (104 bytes together). A Uint8Array would cost ~200 bytes of headers
// before its contents. Tries are persistent: an update copies the path from each changed leaf to
// the root and shares everything else, so an old Trie keeps answering for its own root.

import { TrustlogError } from "./errors.js";
import { sha256 } from "./sha256.js";

/** The largest key the format allows, in bytes. */
export const TRIE_MAX_KEY_SIZE = 1024;
/** The largest value the format allows, in bytes. */
export const TRIE_MAX_VALUE_SIZE = 1024;
/** Bit indexes are below this: a 1,024-byte key ending in 0x00 and its 1,023-byte prefix split at bit 8,192. */
const BIT_LIMIT = TRIE_MAX_KEY_SIZE * 8 + 1;
/** The root of the empty trie: SHA-256 of the empty string. */
export const TRIE_EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));
/** The longest encoded proof the format allows: the leaf and one step per possible bit index. */
export const TRIE_MAX_PROOF_SIZE = 2 + TRIE_MAX_KEY_SIZE + 2 + TRIE_MAX_VALUE_SIZE + BIT_LIMIT * (2 + 32);

const HASH_SIZE = 32;
const PROOF_INVALID = "INDEX_PROOF_INVALID";
const ENTRY_INVALID = "INDEX_ENTRY_INVALID";

/** The key and value of a leaf. */
export interface TrieLeaf {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** One inner node on a proof's path: its bit index and the hash of the child off the path. */
export interface TrieProofStep {
  readonly bit: number;
  readonly sibling: Uint8Array;
}

/**
 * torchwood's path proof for a lookup: `leaf` is where the lookup ends (undefined only in the
 * empty trie), `steps` the inner nodes from that leaf up to the root. The key is present iff
 * `leaf.key` is the key itself. Encoded by encodeTrieProof as
 * `uvarint(len key) ‖ key ‖ uvarint(len value) ‖ value ‖ (uvarint(bit) ‖ sibling)*`.
 */
export interface TrieProof {
  readonly leaf: TrieLeaf | undefined;
  readonly steps: readonly TrieProofStep[];
}

/** torchwood's prefix claim: `hash` is the subtree holding every key with the prefix. */
export interface TriePrefixProof {
  /** The subtree's hash; TRIE_EMPTY_ROOT when no key has the prefix. */
  readonly hash: Uint8Array;
  /** torchwood's ProvePrefix bytes: the steps above the subtree, or the full path when `hash` is empty. */
  readonly proof: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Keys as bit streams.

/** Bit n (0 = most significant bit of byte 0) of the key's stream: its bytes, 0x00, 0xFF, 0xFF, … */
function keyBit(key: Uint8Array, n: number): number {
  const i = n >>> 3;
  if (i < key.length) return (key[i]! >>> (7 - (n & 7))) & 1;
  return i === key.length ? 0 : 1;
}

/** The first bit index where two keys' streams differ, or -1 when the keys are equal. */
function firstDifference(a: Uint8Array, alen: number, b: Uint8Array, blen: number): number {
  const n = Math.min(alen, blen);
  for (let i = 0; i < n; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  if (alen === blen) return -1;
  // One key is a proper prefix of the other; the shorter one's stream goes on 0x00, 0xFF, 0xFF, …
  const long = alen > blen ? a : b;
  const llen = Math.max(alen, blen);
  if (long[n] !== 0) return n * 8 + Math.clz32(long[n]!) - 24;
  for (let i = n + 1; i < llen; i++) {
    const x = long[i]! ^ 0xff;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  // The longer key's own padding starts (0x00) where the shorter one's is still 0xFF.
  return llen * 8;
}

/** The order of keys in the trie (torchwood's Key.Compare): bytes order when lengths are equal. */
export function compareTrieKeys(a: Uint8Array, b: Uint8Array): number {
  const d = firstDifference(a, a.length, b, b.length);
  if (d < 0) return 0;
  return keyBit(b, d) === 1 ? -1 : 1;
}

/** Whether the key's stream starts with the prefix's bytes (torchwood's Key.HasPrefix). */
function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  const d = firstDifference(key, key.length, prefix, prefix.length);
  // Equal keys, or the first difference lies past the prefix's bytes (inside its padding).
  return d < 0 || d >= prefix.length * 8;
}

function checkEntry(key: Uint8Array, value: Uint8Array | undefined): void {
  if (!(key instanceof Uint8Array) || key.length > TRIE_MAX_KEY_SIZE) {
    throw new TrustlogError(
      ENTRY_INVALID,
      `a trie key is a byte string of at most ${TRIE_MAX_KEY_SIZE} bytes`,
    );
  }
  if (value !== undefined && (!(value instanceof Uint8Array) || value.length > TRIE_MAX_VALUE_SIZE)) {
    throw new TrustlogError(
      ENTRY_INVALID,
      `a trie value is a byte string of at most ${TRIE_MAX_VALUE_SIZE} bytes`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Hashing and nodes.

function putUvarint(buf: Uint8Array, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[off++] = n;
  return off;
}

/** Latin-1 string of buf[0..n): one character per byte. */
function bytesToChars(buf: Uint8Array, n: number): string {
  return String.fromCharCode.apply(null, buf.subarray(0, n) as unknown as number[]);
}

function charsToBytes(s: string, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = s.charCodeAt(i);
  return out;
}

/** A leaf: its hash preimage (0x00 ‖ uvarint ‖ key ‖ uvarint ‖ value) then its hash, one char per byte. */
type Leaf = string;

class Inner {
  readonly bit: number;
  readonly left: Node;
  readonly right: Node;
  /** 32 characters, one per byte. */
  readonly hash: string;

  constructor(bit: number, left: Node, right: Node, hash: string) {
    this.bit = bit;
    this.left = left;
    this.right = right;
    this.hash = hash;
  }
}

type Node = Leaf | Inner;

// Scratch buffers: hashing is synchronous and never re-entered, so sharing them is safe.
const leafScratch = new Uint8Array(1 + 2 + TRIE_MAX_KEY_SIZE + 2 + TRIE_MAX_VALUE_SIZE + HASH_SIZE);
const innerScratch = [
  new Uint8Array(0),
  new Uint8Array(1 + 1 + 2 * HASH_SIZE),
  new Uint8Array(1 + 2 + 2 * HASH_SIZE),
];
innerScratch[1]![0] = 0x01;
innerScratch[2]![0] = 0x01;
/** Leaf keys copied out for comparisons. */
const keyScratch = new Uint8Array(TRIE_MAX_KEY_SIZE);

// SHA-256 of a node's preimage (core/sha256.ts: native under Node). The digest is fresh, but
// callers treat it as valid only until the next call, as when it came from a shared buffer.
function hashInto(data: Uint8Array): Uint8Array {
  return sha256(data);
}

/** Writes the leaf preimage into leafScratch and returns its length. */
function writeLeafPreimage(key: Uint8Array, value: Uint8Array): number {
  leafScratch[0] = 0x00;
  let n = putUvarint(leafScratch, 1, key.length);
  leafScratch.set(key, n);
  n = putUvarint(leafScratch, n + key.length, value.length);
  leafScratch.set(value, n);
  return n + value.length;
}

function makeLeaf(key: Uint8Array, value: Uint8Array): Leaf {
  const n = writeLeafPreimage(key, value);
  leafScratch.set(hashInto(leafScratch.subarray(0, n)), n);
  return bytesToChars(leafScratch, n + HASH_SIZE);
}

/** H(0x00 ‖ uvarint(len key) ‖ key ‖ uvarint(len value) ‖ value). */
function leafHash(key: Uint8Array, value: Uint8Array): Uint8Array {
  return hashInto(leafScratch.subarray(0, writeLeafPreimage(key, value))).slice();
}

/** The scratch buffer for an inner node preimage with this bit index, the bit already written. */
function innerPreimage(bit: number): Uint8Array {
  const buf = innerScratch[bit < 0x80 ? 1 : 2]!;
  putUvarint(buf, 1, bit);
  return buf;
}

/** H(0x01 ‖ uvarint(bit) ‖ left ‖ right) over hashes given as bytes. */
function innerHash(bit: number, left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = innerPreimage(bit);
  buf.set(left, buf.length - 2 * HASH_SIZE);
  buf.set(right, buf.length - HASH_SIZE);
  return hashInto(buf).slice();
}

function writeNodeHash(node: Node, buf: Uint8Array, off: number): void {
  if (typeof node === "string") {
    const base = node.length - HASH_SIZE;
    for (let i = 0; i < HASH_SIZE; i++) buf[off + i] = node.charCodeAt(base + i);
  } else {
    const h = node.hash;
    for (let i = 0; i < HASH_SIZE; i++) buf[off + i] = h.charCodeAt(i);
  }
}

function nodeHash(node: Node): Uint8Array {
  const out = new Uint8Array(HASH_SIZE);
  writeNodeHash(node, out, 0);
  return out;
}

function makeInner(bit: number, left: Node, right: Node): Inner {
  const buf = innerPreimage(bit);
  writeNodeHash(left, buf, buf.length - 2 * HASH_SIZE);
  writeNodeHash(right, buf, buf.length - HASH_SIZE);
  return new Inner(bit, left, right, String.fromCharCode.apply(null, hashInto(buf) as unknown as number[]));
}

/** [offset, length] of a leaf's key within its string. */
function leafKeyRange(leaf: Leaf): [number, number] {
  const c = leaf.charCodeAt(1);
  return c < 0x80 ? [2, c] : [3, (c & 0x7f) | (leaf.charCodeAt(2) << 7)];
}

function leafKey(leaf: Leaf): Uint8Array {
  const [off, len] = leafKeyRange(leaf);
  return charsToBytes(leaf, off, off + len);
}

function leafValue(leaf: Leaf): Uint8Array {
  const [off, len] = leafKeyRange(leaf);
  const v = off + len;
  return charsToBytes(leaf, leaf.charCodeAt(v) < 0x80 ? v + 1 : v + 2, leaf.length - HASH_SIZE);
}

/** Copies a leaf's key into keyScratch and returns its length. */
function leafKeyToScratch(leaf: Leaf): number {
  const [off, len] = leafKeyRange(leaf);
  for (let i = 0; i < len; i++) keyScratch[i] = leaf.charCodeAt(off + i);
  return len;
}

/** The leaf a lookup for key ends at. */
function descend(root: Node, key: Uint8Array): Leaf {
  let node = root;
  while (typeof node !== "string") node = keyBit(key, node.bit) === 1 ? node.right : node.left;
  return node;
}

/**
 * Builds a trie from items in key order, each a finished subtree, given the bit where each item
 * first differs from the one before it (a Cartesian tree over those bits: the smallest splits
 * highest). Every item's own inner bits must exceed the splits next to it.
 */
class SpineBuilder {
  private readonly lefts: Node[] = [];
  private readonly bits: number[] = [];
  private last: Node | undefined;

  add(split: number, item: Node): void {
    if (this.last === undefined) {
      this.last = item;
      return;
    }
    let node = this.last;
    while (this.bits.length > 0 && this.bits[this.bits.length - 1]! > split) {
      node = makeInner(this.bits.pop()!, this.lefts.pop()!, node);
    }
    this.lefts.push(node);
    this.bits.push(split);
    this.last = item;
  }

  finish(): Node | undefined {
    let node = this.last;
    while (this.bits.length > 0) node = makeInner(this.bits.pop()!, this.lefts.pop()!, node!);
    return node;
  }
}

/** The split recorded for a batch key equal to the key of the leaf its lookup reaches. */
const SAME = BIT_LIMIT;

/** One setMany call: sorted distinct keys, and for each the split from the leaf its lookup reaches. */
class Batch {
  added = 0;

  constructor(
    private readonly keys: Uint8Array[],
    private readonly values: Uint8Array[],
    private readonly splits: number[],
  ) {}

  /** The subtree replacing `node` once keys [lo, hi), whose lookups all pass through it, are set. */
  update(node: Node, lo: number, hi: number): Node {
    const { keys, splits } = this;
    // Keys that share the node's prefix ("inside") sit together in key order; the others split
    // off above it, the smaller ones before and the larger ones after.
    const b = typeof node === "string" ? SAME : node.bit;
    let s = lo;
    while (s < hi && splits[s]! < b) s++;
    let t = s;
    while (t < hi && splits[t]! >= b) t++;
    let sub: Node = node;
    if (s < t) {
      sub = typeof node === "string" ? this.replace(node, s) : this.below(node, s, t);
    } else {
      while (s > lo && keyBit(keys[s - 1]!, splits[s - 1]!) === 1) s--;
      t = s;
    }
    if (s === lo && t === hi) return sub;

    this.added += s - lo + (hi - t);
    const spine = new SpineBuilder();
    for (let i = lo; i < s; i++) spine.add(i === lo ? 0 : this.split(i), makeLeaf(keys[i]!, this.values[i]!));
    spine.add(s === lo ? 0 : splits[s - 1]!, sub);
    for (let i = t; i < hi; i++)
      spine.add(i === t ? splits[t]! : this.split(i), makeLeaf(keys[i]!, this.values[i]!));
    return spine.finish()!;
  }

  /** The first bit where batch keys i−1 and i differ. */
  private split(i: number): number {
    const a = this.keys[i - 1]!;
    const b = this.keys[i]!;
    return firstDifference(a, a.length, b, b.length);
  }

  private replace(leaf: Leaf, i: number): Leaf {
    const value = this.values[i]!;
    const old = leafValue(leaf);
    if (old.length === value.length && old.every((x, j) => x === value[j])) return leaf;
    return makeLeaf(this.keys[i]!, value);
  }

  private below(node: Inner, s: number, t: number): Node {
    let m = s;
    while (m < t && keyBit(this.keys[m]!, node.bit) === 0) m++;
    const left = m > s ? this.update(node.left, s, m) : node.left;
    const right = t > m ? this.update(node.right, m, t) : node.right;
    return left === node.left && right === node.right ? node : makeInner(node.bit, left, right);
  }
}

// ---------------------------------------------------------------------------------------------
// The trie.

/**
 * Immutable, persistent (path-copying) trie: updates return a new Trie sharing structure, so a
 * reader can keep proving from an old root while the writer builds the next.
 */
export class Trie {
  static readonly #EMPTY = new Trie(undefined, 0);
  readonly #root: Node | undefined;
  readonly #size: number;

  private constructor(root: Node | undefined, size: number) {
    this.#root = root;
    this.#size = size;
  }

  static empty(): Trie {
    return Trie.#EMPTY;
  }

  /**
   * O(N) build from entries in increasing key order (compareTrieKeys; bytes order for keys of
   * one length); throws INDEX_ENTRY_INVALID on an unsorted or repeated key. The start-up path for
   * 10^6+ chains: each node is hashed once.
   */
  static fromSorted(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Trie {
    const spine = new SpineBuilder();
    // The previous key, copied: an iterator may reuse its buffers.
    const prev = new Uint8Array(TRIE_MAX_KEY_SIZE);
    let prevLen = 0;
    let count = 0;
    for (const [key, value] of entries) {
      checkEntry(key, value);
      let split = 0;
      if (count > 0) {
        split = firstDifference(prev, prevLen, key, key.length);
        if (split < 0)
          throw new TrustlogError(ENTRY_INVALID, `fromSorted: key ${count} repeats the key before it`);
        if (keyBit(key, split) === 0) {
          throw new TrustlogError(ENTRY_INVALID, `fromSorted: key ${count} sorts before the key before it`);
        }
      }
      spine.add(split, makeLeaf(key, value));
      prev.set(key);
      prevLen = key.length;
      count++;
    }
    return count === 0 ? Trie.#EMPTY : new Trie(spine.finish(), count);
  }

  get size(): number {
    return this.#size;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    checkEntry(key, undefined);
    if (this.#root === undefined) return undefined;
    const leaf = descend(this.#root, key);
    const len = leafKeyToScratch(leaf);
    return firstDifference(key, key.length, keyScratch, len) < 0 ? leafValue(leaf) : undefined;
  }

  /**
   * Inserts or replaces values; the last value given for a key wins. Each changed node is
   * hashed once per call, and only the paths to changed leaves are copied.
   */
  setMany(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Trie {
    const batch: (readonly [Uint8Array, Uint8Array])[] = [];
    for (const entry of entries) {
      checkEntry(entry[0], entry[1]);
      batch.push(entry);
    }
    if (batch.length === 0) return this;
    batch.sort((x, y) => compareTrieKeys(x[0], y[0])); // stable: equal keys keep their order
    const keys: Uint8Array[] = [];
    const values: Uint8Array[] = [];
    for (let i = 0; i < batch.length; i++) {
      const [key, value] = batch[i]!;
      const next = batch[i + 1];
      if (next !== undefined && compareTrieKeys(key, next[0]) === 0) continue;
      keys.push(key);
      values.push(value);
    }

    const root = this.#root;
    if (root === undefined) return Trie.fromSorted(keys.map((k, i) => [k, values[i]!] as const));
    const splits = keys.map((key) => {
      const len = leafKeyToScratch(descend(root, key));
      const d = firstDifference(key, key.length, keyScratch, len);
      return d < 0 ? SAME : d;
    });
    const update = new Batch(keys, values, splits);
    const next = update.update(root, 0, keys.length);
    return next === root ? this : new Trie(next, this.#size + update.added);
  }

  set(key: Uint8Array, value: Uint8Array): Trie {
    return this.setMany([[key, value]]);
  }

  /** The 32-byte root hash; TRIE_EMPTY_ROOT for the empty trie. */
  root(): Uint8Array {
    return this.#root === undefined ? TRIE_EMPTY_ROOT.slice() : nodeHash(this.#root);
  }

  /** The path proof for key: a membership proof when key is present, non-membership otherwise. */
  prove(key: Uint8Array): TrieProof {
    checkEntry(key, undefined);
    let node: Node | undefined = this.#root;
    if (node === undefined) return { leaf: undefined, steps: [] };
    const steps: TrieProofStep[] = [];
    while (typeof node !== "string") {
      const right: boolean = keyBit(key, node.bit) === 1;
      steps.push({ bit: node.bit, sibling: nodeHash(right ? node.left : node.right) });
      node = right ? node.right : node.left;
    }
    steps.reverse();
    return { leaf: { key: leafKey(node), value: leafValue(node) }, steps };
  }

  /**
   * torchwood's ProvePrefix(prefix, Path(prefix)): the hash of the subtree holding every key that
   * starts with prefix (TRIE_EMPTY_ROOT when none does) and the proof for verifyTriePrefix.
   */
  provePrefix(prefix: Uint8Array): TriePrefixProof {
    checkEntry(prefix, undefined);
    let node: Node | undefined = this.#root;
    if (node === undefined) return { hash: TRIE_EMPTY_ROOT.slice(), proof: new Uint8Array(0) };
    const bits = prefix.length * 8;
    const above: TrieProofStep[] = []; // steps splitting inside the prefix, top down
    let subtree: Node | undefined;
    while (typeof node !== "string") {
      if (subtree === undefined && node.bit >= bits) subtree = node;
      const right: boolean = keyBit(prefix, node.bit) === 1;
      const step = { bit: node.bit, sibling: nodeHash(right ? node.left : node.right) };
      if (subtree === undefined) above.push(step);
      node = right ? node.right : node.left;
    }
    if (!hasPrefix(leafKey(node), prefix)) {
      return { hash: TRIE_EMPTY_ROOT.slice(), proof: encodeTrieProof(this.prove(prefix)) };
    }
    return { hash: nodeHash(subtree ?? node), proof: encodeSteps(above.reverse()) };
  }

  /** The entries in key order. */
  *entries(): Generator<[Uint8Array, Uint8Array]> {
    if (this.#root !== undefined) yield* walk(this.#root);
  }

  /** The entries whose key starts with prefix (torchwood's Scan), in key order. */
  *scan(prefix: Uint8Array): Generator<[Uint8Array, Uint8Array]> {
    checkEntry(prefix, undefined);
    let node: Node | undefined = this.#root;
    const bits = prefix.length * 8;
    // Below the first node splitting at or past the prefix, every key agrees on the prefix's
    // bits: all of them have it or none does.
    while (node !== undefined && typeof node !== "string" && node.bit < bits) {
      node = keyBit(prefix, node.bit) === 1 ? node.right : node.left;
    }
    if (node === undefined) return;
    let leftmost = node;
    while (typeof leftmost !== "string") leftmost = leftmost.left;
    if (hasPrefix(leafKey(leftmost), prefix)) yield* walk(node);
  }
}

function* walk(root: Node): Generator<[Uint8Array, Uint8Array]> {
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (typeof node === "string") yield [leafKey(node), leafValue(node)];
    else stack.push(node.right, node.left);
  }
}

// ---------------------------------------------------------------------------------------------
// Proof encoding. Proofs arrive from the network: every length and bit index is bounded before
// use, varints must be minimal, and nothing may follow the last step.

function proofError(message: string): TrustlogError {
  return new TrustlogError(PROOF_INVALID, message);
}

class ProofReader {
  private off = 0;

  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.off === this.buf.length;
  }

  /** A minimal uvarint no larger than max. */
  uvarint(max: number, what: string): number {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      const c = this.buf[this.off++];
      if (c === undefined) throw proofError(`truncated ${what}`);
      n += (c & 0x7f) * 2 ** shift;
      if (n > max) throw proofError(`${what} is too large`);
      if (c < 0x80) {
        if (c === 0 && shift > 0) throw proofError(`${what} is not minimally encoded`);
        return n;
      }
    }
  }

  bytes(n: number, what: string): Uint8Array {
    if (this.buf.length - this.off < n) throw proofError(`truncated ${what}`);
    this.off += n;
    return this.buf.slice(this.off - n, this.off);
  }

  /** Steps to the end of the input: bit indexes strictly decreasing, all below `below`. */
  steps(below: number): TrieProofStep[] {
    const steps: TrieProofStep[] = [];
    while (!this.done) {
      const bit = this.uvarint(BIT_LIMIT - 1, "bit index");
      if (bit >= below) throw proofError(`bit index ${bit} does not decrease toward the root`);
      steps.push({ bit, sibling: this.bytes(HASH_SIZE, "sibling hash") });
      below = bit;
    }
    return steps;
  }
}

function checkShape(p: TrieProof): void {
  if (p === null || typeof p !== "object" || !Array.isArray(p.steps)) throw proofError("not a trie proof");
  if (p.leaf === undefined) {
    if (p.steps.length > 0) throw proofError("a path without a leaf must be empty");
  } else if (
    !(p.leaf.key instanceof Uint8Array) ||
    !(p.leaf.value instanceof Uint8Array) ||
    p.leaf.key.length > TRIE_MAX_KEY_SIZE ||
    p.leaf.value.length > TRIE_MAX_VALUE_SIZE
  ) {
    throw proofError("the proof's leaf is not a key and a value of at most 1,024 bytes each");
  }
  let below = BIT_LIMIT;
  for (const s of p.steps) {
    if (!Number.isInteger(s.bit) || s.bit < 0 || s.bit >= below) {
      throw proofError("bit indexes must decrease toward the root");
    }
    if (!(s.sibling instanceof Uint8Array) || s.sibling.length !== HASH_SIZE) {
      throw proofError("a sibling hash is 32 bytes");
    }
    below = s.bit;
  }
}

function uvarintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : 3;
}

function encodeSteps(steps: readonly TrieProofStep[], prefix?: TrieLeaf): Uint8Array {
  let size = 0;
  if (prefix !== undefined) {
    size += uvarintSize(prefix.key.length) + prefix.key.length;
    size += uvarintSize(prefix.value.length) + prefix.value.length;
  }
  for (const s of steps) size += uvarintSize(s.bit) + HASH_SIZE;
  const out = new Uint8Array(size);
  let n = 0;
  if (prefix !== undefined) {
    n = putUvarint(out, n, prefix.key.length);
    out.set(prefix.key, n);
    n = putUvarint(out, n + prefix.key.length, prefix.value.length);
    out.set(prefix.value, n);
    n += prefix.value.length;
  }
  for (const s of steps) {
    n = putUvarint(out, n, s.bit);
    out.set(s.sibling, n);
    n += HASH_SIZE;
  }
  return out;
}

/** torchwood's path proof bytes (what its Tree.Path returns). */
export function encodeTrieProof(p: TrieProof): Uint8Array {
  checkShape(p);
  return encodeSteps(p.steps, p.leaf);
}

/** Strict, size-capped decoding; throws TrustlogError("INDEX_PROOF_INVALID") on malformed bytes. */
export function decodeTrieProof(b: Uint8Array): TrieProof {
  if (!(b instanceof Uint8Array)) throw proofError("a trie proof is bytes");
  if (b.length > TRIE_MAX_PROOF_SIZE) throw proofError("the trie proof is too long");
  if (b.length === 0) return { leaf: undefined, steps: [] };
  const r = new ProofReader(b);
  const key = r.bytes(r.uvarint(TRIE_MAX_KEY_SIZE, "key length"), "key");
  const value = r.bytes(r.uvarint(TRIE_MAX_VALUE_SIZE, "value length"), "value");
  return { leaf: { key, value }, steps: r.steps(BIT_LIMIT) };
}

// ---------------------------------------------------------------------------------------------
// Verification.

function equal32(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let x = 0;
  for (let i = 0; i < a.length; i++) x |= a[i]! ^ b[i]!;
  return x === 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && firstDifference(a, a.length, b, b.length) < 0;
}

function checkHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw proofError(`the ${what} is not 32 bytes`);
}

/**
 * torchwood's path verification: hashes from `h` (the hash at the path's end) up to the root,
 * taking at each step the side that `key` chooses, and requires `pkey` (the key whose leaf the
 * path ends at) to choose the same side, so that a lookup for `key` follows this path.
 */
function hashUp(
  h: Uint8Array,
  key: Uint8Array,
  pkey: Uint8Array,
  steps: readonly TrieProofStep[],
): Uint8Array {
  for (const { bit, sibling } of steps) {
    const side = keyBit(key, bit);
    if (side !== keyBit(pkey, bit)) throw proofError("a lookup for the key does not follow the proof's path");
    h = side === 0 ? innerHash(bit, h, sibling) : innerHash(bit, sibling, h);
  }
  return h;
}

/**
 * Throws TrustlogError("INDEX_PROOF_INVALID", message) unless the proof shows key ↦ value
 * (value defined) or key absent (value undefined) in the trie with this root.
 */
export function verifyTrieProof(
  root: Uint8Array,
  key: Uint8Array,
  value: Uint8Array | undefined,
  proof: TrieProof,
): void {
  checkHash(root, "trie root");
  if (!(key instanceof Uint8Array) || key.length > TRIE_MAX_KEY_SIZE) throw proofError("the key is too long");
  if (value !== undefined && (!(value instanceof Uint8Array) || value.length > TRIE_MAX_VALUE_SIZE)) {
    throw proofError("the value is too long");
  }
  checkShape(proof);
  const leaf = proof.leaf;
  if (leaf === undefined) {
    if (value !== undefined) throw proofError("an empty path proves no key present");
    if (!equal32(root, TRIE_EMPTY_ROOT)) throw proofError("an empty path fits only the empty trie");
    return;
  }
  const own = sameBytes(leaf.key, key);
  if (value === undefined && own) throw proofError("the proof shows the key present, not absent");
  if (value !== undefined && !own) throw proofError("the proof shows the key absent, not present");
  if (value !== undefined && !sameBytes(leaf.value, value)) throw proofError("the key has another value");
  const h = hashUp(leafHash(leaf.key, leaf.value), key, leaf.key, proof.steps);
  if (!equal32(h, root)) throw proofError("the proof does not lead to the trie root");
}

/**
 * torchwood's VerifyPrefix: throws INDEX_PROOF_INVALID unless `proof` shows that the subtree
 * with this hash holds every key starting with prefix (none, when hash is TRIE_EMPTY_ROOT). As
 * torchwood documents, a valid proof does not show that the subtree holds nothing else: a
 * caller checks that by hashing the entries it was given.
 */
export function verifyTriePrefix(
  root: Uint8Array,
  prefix: Uint8Array,
  hash: Uint8Array,
  proof: Uint8Array,
): void {
  checkHash(root, "trie root");
  checkHash(hash, "subtree hash");
  if (!(prefix instanceof Uint8Array) || prefix.length > TRIE_MAX_KEY_SIZE)
    throw proofError("the prefix is too long");
  if (!(proof instanceof Uint8Array) || proof.length > TRIE_MAX_PROOF_SIZE)
    throw proofError("the proof is too long");
  let h: Uint8Array;
  if (equal32(hash, TRIE_EMPTY_ROOT)) {
    // No key has the prefix: the path for the prefix, looked up as a key, ends elsewhere.
    const path = decodeTrieProof(proof);
    if (path.leaf === undefined) {
      if (!equal32(root, TRIE_EMPTY_ROOT)) throw proofError("an empty path fits only the empty trie");
      return;
    }
    if (hasPrefix(path.leaf.key, prefix)) throw proofError("the path ends at a key with the prefix");
    h = hashUp(leafHash(path.leaf.key, path.leaf.value), prefix, path.leaf.key, path.steps);
  } else {
    // Every remaining step must split inside the prefix, or the subtree could leave keys out.
    h = hashUp(hash, prefix, prefix, new ProofReader(proof).steps(prefix.length * 8));
  }
  if (!equal32(h, root)) throw proofError("the proof does not lead to the trie root");
}
