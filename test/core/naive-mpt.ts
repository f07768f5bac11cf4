// A deliberately naive reference for core/mpt.ts, written straight from the definitions in
// torchwood's mpt/tree.go package comment and sharing no code with core/: every key is padded
// to a common width (its bytes, 0x00, then 0xFF), and the trie is defined recursively over the
// sorted list of keys, with nothing cached. Slow, obviously right, used only to check the real
// implementation.

import { sha256 } from "@noble/hashes/sha2.js";

export type Entry = readonly [Uint8Array, Uint8Array];

export const NAIVE_EMPTY_ROOT = sha256(new Uint8Array(0));

function uvarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** The key's stream cut to `width` bytes: the key, one 0x00, then 0xFF. */
function padded(key: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(width).fill(0xff);
  out.set(key);
  out[key.length] = 0x00;
  return out;
}

function bitOf(p: Uint8Array, n: number): number {
  return (p[Math.floor(n / 8)]! >> (7 - (n % 8))) & 1;
}

/** Index of the first differing bit of two equal-width byte strings, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  for (let n = 0; n < a.length * 8; n++) if (bitOf(a, n) !== bitOf(b, n)) return n;
  return -1;
}

function widthOf(keys: Uint8Array[]): number {
  return Math.max(0, ...keys.map((k) => k.length)) + 2;
}

export function naiveCompare(a: Uint8Array, b: Uint8Array): number {
  const w = widthOf([a, b]);
  const d = firstDiff(padded(a, w), padded(b, w));
  return d < 0 ? 0 : bitOf(padded(a, w), d) - bitOf(padded(b, w), d);
}

/** torchwood's Key.HasPrefix: the key's stream starts with the prefix's bytes. */
export function naiveHasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  const p = padded(key, widthOf([key, prefix]));
  return prefix.every((x, i) => p[i] === x);
}

export function naiveLeafHash(key: Uint8Array, value: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0x00, ...uvarint(key.length), ...key, ...uvarint(value.length), ...value));
}

export function naiveInnerHash(bit: number, left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0x01, ...uvarint(bit), ...left, ...right));
}

/** The entries sorted by key; the last value given for a key wins. */
export function naiveSorted(entries: readonly Entry[]): Entry[] {
  const byKey = new Map<string, Entry>();
  for (const e of entries) byKey.set(Buffer.from(e[0]).toString("hex"), e);
  return [...byKey.values()].sort((x, y) => naiveCompare(x[0], y[0]));
}

/**
 * A non-empty sorted list splits at the first bit where its first and last keys differ (all
 * keys share the bits before it): keys with 0 there go left, keys with 1 right.
 */
function split(list: Entry[], width: number): [number, Entry[], Entry[]] {
  const bit = firstDiff(padded(list[0]![0], width), padded(list[list.length - 1]![0], width));
  const right = list.findIndex((e) => bitOf(padded(e[0], width), bit) === 1);
  return [bit, list.slice(0, right), list.slice(right)];
}

function hashList(list: Entry[], width: number): Uint8Array {
  if (list.length === 0) return NAIVE_EMPTY_ROOT;
  if (list.length === 1) return naiveLeafHash(list[0]![0], list[0]![1]);
  const [bit, left, right] = split(list, width);
  return naiveInnerHash(bit, hashList(left, width), hashList(right, width));
}

/** The root of the trie holding these entries (any order; the last value for a key wins). */
export function naiveRoot(entries: readonly Entry[]): Uint8Array {
  const list = naiveSorted(entries);
  return hashList(list, widthOf(list.map((e) => e[0])));
}

export interface NaivePath {
  leaf: Entry | undefined;
  steps: { bit: number; sibling: Uint8Array }[];
}

/** torchwood's Tree.Path: the leaf a lookup for key ends at and the steps from it to the root. */
export function naivePath(entries: readonly Entry[], key: Uint8Array): NaivePath {
  let list = naiveSorted(entries);
  const width = widthOf([key, ...list.map((e) => e[0])]);
  const steps: NaivePath["steps"] = [];
  if (list.length === 0) return { leaf: undefined, steps };
  while (list.length > 1) {
    const [bit, left, right] = split(list, width);
    const goRight = bitOf(padded(key, width), bit) === 1;
    steps.unshift({ bit, sibling: hashList(goRight ? left : right, width) });
    list = goRight ? right : left;
  }
  return { leaf: list[0], steps };
}

/** The path proof's bytes: uvarint-prefixed key and value, then (uvarint bit, sibling) steps. */
export function naiveEncodePath(p: NaivePath): Uint8Array {
  if (p.leaf === undefined) return new Uint8Array(0);
  const [key, value] = p.leaf;
  return Uint8Array.of(
    ...uvarint(key.length),
    ...key,
    ...uvarint(value.length),
    ...value,
    ...p.steps.flatMap((s) => [...uvarint(s.bit), ...s.sibling]),
  );
}

/** torchwood's ProveLookup form of a presence proof: the path without its leaf. */
export function naiveLeafPrefix(key: Uint8Array, value: Uint8Array): Uint8Array {
  return Uint8Array.of(...uvarint(key.length), ...key, ...uvarint(value.length), ...value);
}
