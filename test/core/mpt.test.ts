import { readFileSync } from "node:fs";
import { sha256 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concat, fromHex, toHex } from "../../core/bytes.js";
import { isTrustlogError } from "../../core/errors.js";
import {
  compareTrieKeys,
  decodeTrieProof,
  encodeTrieProof,
  TRIE_EMPTY_ROOT,
  TRIE_MAX_PROOF_SIZE,
  Trie,
  type TrieProof,
  verifyTriePrefix,
  verifyTrieProof,
} from "../../core/mpt.js";
import {
  type Entry,
  NAIVE_EMPTY_ROOT,
  naiveCompare,
  naiveEncodePath,
  naiveHasPrefix,
  naiveLeafPrefix,
  naivePath,
  naiveRoot,
  naiveSorted,
} from "./naive-mpt.js";

const INVALID = "INDEX_PROOF_INVALID";

/** Whether fn throws INDEX_PROOF_INVALID (false) or returns (true); any other error fails the test. */
function accepts(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (isTrustlogError(e, INVALID)) return false;
    throw e;
  }
}

function expectRefused(fn: () => void, what: string): void {
  expect(accepts(fn), what).toBe(false);
}

const hexOf = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : toHex(b));

// ---------------------------------------------------------------------------------------------
// torchwood's test vectors (mpt/testdata, copied byte for byte into mpt-vectors/).

interface VectorLine {
  line: number;
  cmd: string;
  args: string[];
}

/** The commands of a vector file: comments and blank lines dropped, `\` continuations joined. */
function readVectors(name: string): VectorLine[] {
  const text = readFileSync(new URL(`./mpt-vectors/${name}`, import.meta.url), "utf8");
  const lines = text.split("\n");
  const out: VectorLine[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!;
    while (line.endsWith("\\")) line = `${line.slice(0, -1)} ${lines[++i]}`;
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [cmd, ...args] = line.trim().split(/\s+/);
    out.push({ line: start, cmd: cmd!, args });
  }
  return out;
}

/** Hex, possibly split by spaces; '' is the empty string. */
function hexArg(args: string[]): Uint8Array {
  const joined = args.join("");
  return joined === "''" ? new Uint8Array(0) : fromHex(joined);
}

function uvarint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Uint8Array.from(out);
}

/**
 * torchwood's VerifyLookup(snap, key, val, ok, proof) through our API. A presence proof in
 * torchwood's short form omits the leaf, which the verifier has: putting it back gives the path
 * proof we take, and verification then runs exactly torchwood's steps.
 */
function verifyLookup(
  snap: Uint8Array,
  key: Uint8Array,
  val: Uint8Array | undefined,
  proof: Uint8Array,
): boolean {
  const path = val === undefined ? proof : concat(uvarint(key.length), key, uvarint(val.length), val, proof);
  return accepts(() => verifyTrieProof(snap, key, val, decodeTrieProof(path)));
}

function sortedEntries(entries: readonly Entry[]): Entry[] {
  return [...entries].sort((a, b) => compareTrieKeys(a[0], b[0]));
}

describe("torchwood vectors", () => {
  it("treehash.txt: every tree hashes to torchwood's root, however it is built", () => {
    let kvs: Entry[] = [];
    let checked = 0;
    for (const { line, cmd, args } of readVectors("treehash.txt")) {
      if (cmd === "kv") {
        kvs.push([hexArg(args.slice(0, 1)), hexArg(args.slice(1))]);
        continue;
      }
      expect(cmd, `line ${line}`).toBe("hash");
      const want = toHex(hexArg(args));
      const sorted = sortedEntries(kvs);
      expect(toHex(Trie.fromSorted(sorted).root()), `line ${line}: fromSorted`).toBe(want);
      expect(
        toHex(
          Trie.empty()
            .setMany([...kvs].reverse())
            .root(),
        ),
        `line ${line}: setMany`,
      ).toBe(want);
      expect(toHex(kvs.reduce((t, [k, v]) => t.set(k, v), Trie.empty()).root()), `line ${line}: set`).toBe(
        want,
      );
      expect(toHex(naiveRoot(kvs)), `line ${line}: naive`).toBe(want);
      kvs = [];
      checked++;
    }
    expect(checked).toBe(32);
  });

  it("verify.txt: every lookup and prefix proof gets torchwood's verdict", () => {
    let snap: Uint8Array = new Uint8Array(0);
    let key: Uint8Array = new Uint8Array(0);
    let val: Uint8Array | undefined;
    let prefix: Uint8Array = new Uint8Array(0);
    let hash: Uint8Array = new Uint8Array(0);
    let proof: Uint8Array = new Uint8Array(0);
    const counts = { lookup: 0, prefix: 0, accepted: 0 };
    for (const { line, cmd, args } of readVectors("verify.txt")) {
      const arg = args.join(" ");
      if (cmd === "snap") snap = hexArg(args);
      else if (cmd === "key") key = hexArg(args);
      else if (cmd === "val") val = arg === "-" ? undefined : hexArg(args);
      else if (cmd === "prefix") prefix = hexArg(args);
      else if (cmd === "hash") hash = hexArg(args);
      else if (cmd === "proof") proof = hexArg(args);
      else if (cmd === "verify") {
        expect(verifyLookup(snap, key, val, proof), `line ${line}`).toBe(arg === "true");
        if (arg === "true" && val === undefined)
          expect(encodeTrieProof(decodeTrieProof(proof))).toEqual(proof);
        counts.lookup++;
        if (arg === "true") counts.accepted++;
      } else if (cmd === "verifyprefix") {
        expect(
          accepts(() => verifyTriePrefix(snap, prefix, hash, proof)),
          `line ${line}`,
        ).toBe(arg === "true");
        counts.prefix++;
        if (arg === "true") counts.accepted++;
      } else throw new Error(`line ${line}: unknown command ${cmd}`);
    }
    expect(counts).toEqual({ lookup: 103, prefix: 18, accepted: 71 });
  });

  it("prefix.txt: scans, prefix proofs and absence proofs are torchwood's, byte for byte", () => {
    let kvs: Entry[] = [];
    let tree: Entry[] = [];
    let trie = Trie.empty();
    let snap: Uint8Array = new Uint8Array(0);
    let prefix: Uint8Array = new Uint8Array(0);
    let hash: Uint8Array = new Uint8Array(0);
    const counts = { trees: 0, groups: 0, absent: 0 };
    for (const { line, cmd, args } of readVectors("prefix.txt")) {
      const at = `line ${line}`;
      if (cmd === "kv") kvs.push([hexArg(args.slice(0, 1)), hexArg(args.slice(1))]);
      else if (cmd === "snap") {
        snap = hexArg(args);
        tree = kvs;
        kvs = [];
        trie = Trie.fromSorted(tree); // the file lists keys in trie order
        expect(toHex(trie.root()), at).toBe(toHex(snap));
        expect(
          toHex(
            Trie.empty()
              .setMany([...tree].reverse())
              .root(),
          ),
          at,
        ).toBe(toHex(snap));
        counts.trees++;
      } else if (cmd === "prefix") prefix = hexArg(args);
      else if (cmd === "hash") hash = hexArg(args);
      else if (cmd === "proof") {
        const proof = hexArg(args);
        // Scan yields exactly the tree's pairs with the prefix, in key order, and they hash to `hash`.
        const want = tree.filter(([k]) => naiveHasPrefix(k, prefix));
        const got = [...trie.scan(prefix)];
        expect(
          got.map(([k, v]) => toHex(k) + toHex(v)),
          at,
        ).toEqual(want.map(([k, v]) => toHex(k) + toHex(v)));
        expect(toHex(Trie.fromSorted(got).root()), at).toBe(toHex(hash));
        // Our prover gives torchwood's claim and proof, which our verifier accepts.
        const mine = trie.provePrefix(prefix);
        expect([toHex(mine.hash), toHex(mine.proof)], at).toEqual([toHex(hash), toHex(proof)]);
        expect(
          accepts(() => verifyTriePrefix(snap, prefix, hash, proof)),
          at,
        ).toBe(true);
        if (proof.length > 0) {
          const bad = proof.slice();
          bad[bad.length - 1]! ^= 1;
          expect(
            accepts(() => verifyTriePrefix(snap, prefix, hash, bad)),
            at,
          ).toBe(false);
        }
        // No key with the prefix: torchwood's lookup proof that the prefix itself is absent is
        // the same path, and so is ours.
        if (toHex(hash) === toHex(TRIE_EMPTY_ROOT)) {
          expect(toHex(encodeTrieProof(trie.prove(prefix))), at).toBe(toHex(proof));
          expect(
            accepts(() => verifyTrieProof(snap, prefix, undefined, decodeTrieProof(proof))),
            at,
          ).toBe(true);
          counts.absent++;
        }
        counts.groups++;
      } else throw new Error(`${at}: unknown command ${cmd}`);
    }
    expect(counts).toEqual({ trees: 17, groups: 876, absent: expect.any(Number) });
    expect(counts.absent).toBeGreaterThan(300);
  });
});

// ---------------------------------------------------------------------------------------------
// Against the naive reference.

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

/**
 * Sets of keys that share long prefixes: a 32-byte base key with a few bits flipped, plus some
 * unrelated keys, and (when `varLen`) short keys of 0x00/0xFF/… bytes whose order depends on
 * the padding rule.
 */
function keySets(varLen: boolean): fc.Arbitrary<Uint8Array[]> {
  const flips = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 });
  const short = fc
    .array(fc.constantFrom(0x00, 0x01, 0x61, 0xfe, 0xff), { maxLength: 4 })
    .map((b) => Uint8Array.from(b));
  return fc
    .tuple(
      bytes(32),
      fc.array(flips, { maxLength: 24 }),
      fc.array(bytes(32), { maxLength: 6 }),
      fc.array(short, { maxLength: varLen ? 8 : 0 }),
    )
    .map(([base, variants, others, shorts]) => {
      const keys = variants.map((bits) => {
        const k = base.slice();
        for (const b of bits) k[b >> 3]! ^= 0x80 >> (b & 7);
        return k;
      });
      return [base, ...keys, ...others, ...shorts];
    });
}

const value = fc.oneof(bytes(48), fc.uint8Array({ maxLength: 40 }));

/** Entries over a key set, with values; keys may repeat (the last value wins). */
const entrySets = (varLen: boolean) =>
  keySets(varLen).chain((keys) =>
    fc
      .array(fc.tuple(fc.constantFrom(...keys), value), { minLength: 0, maxLength: keys.length * 2 })
      .map((entries) => ({ keys, entries: entries as Entry[] })),
  );

function expectSameTrie(trie: Trie, entries: readonly Entry[], what: string): void {
  const sorted = naiveSorted(entries);
  expect(toHex(trie.root()), what).toBe(toHex(naiveRoot(entries)));
  expect(trie.size, what).toBe(sorted.length);
  expect(
    [...trie.entries()].map(([k, v]) => `${toHex(k)}:${toHex(v)}`),
    what,
  ).toEqual(sorted.map(([k, v]) => `${toHex(k)}:${toHex(v)}`));
}

describe("the trie", () => {
  it("has the empty root and proves every key absent when empty", () => {
    const t = Trie.empty();
    expect(toHex(t.root())).toBe(toHex(NAIVE_EMPTY_ROOT));
    expect(toHex(t.root())).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(t.size).toBe(0);
    const p = t.prove(new Uint8Array(32));
    expect(p).toEqual({ leaf: undefined, steps: [] });
    expect(encodeTrieProof(p)).toEqual(new Uint8Array(0));
    verifyTrieProof(t.root(), new Uint8Array(32), undefined, decodeTrieProof(new Uint8Array(0)));
    expectRefused(
      () => verifyTrieProof(t.root(), new Uint8Array(32), new Uint8Array(48), p),
      "present in empty",
    );
    expectRefused(
      () => verifyTrieProof(new Uint8Array(32), new Uint8Array(32), undefined, p),
      "empty path, other root",
    );
    expect([...t.entries()]).toEqual([]);
    expect(Trie.fromSorted([])).toBe(t);
  });

  it("orders keys as torchwood does: bytes, then 0x00, then 0xFF forever", () => {
    const keys = ["ab00", "ab00fe", "ab00ff", "ab", "ab01", "", "00"].map((h) =>
      h ? fromHex(h) : new Uint8Array(0),
    );
    const sorted = [...keys].sort(compareTrieKeys).map(toHex);
    expect(sorted).toEqual(["00", "", "ab00", "ab00fe", "ab00ff", "ab", "ab01"]);
    fc.assert(
      fc.property(keySets(true), (ks) => {
        for (const a of ks)
          for (const b of ks) expect(Math.sign(compareTrieKeys(a, b))).toBe(Math.sign(naiveCompare(a, b)));
      }),
    );
  });

  it("builds the naive trie with fromSorted, setMany in any order and batches, and repeated set", () => {
    fc.assert(
      fc.property(entrySets(true), fc.array(fc.nat(), { maxLength: 5 }), ({ entries }, cuts) => {
        const sorted = naiveSorted(entries);
        const built = Trie.fromSorted(sortedEntries(sorted));
        expectSameTrie(built, entries, "fromSorted");
        expectSameTrie(Trie.empty().setMany(entries), entries, "one setMany");
        // The same entries in batches, each batch applied to the trie the previous one made.
        const bounds = [...new Set(cuts.map((c) => c % (entries.length + 1)))].sort((a, b) => a - b);
        let t = Trie.empty();
        let from = 0;
        for (const to of [...bounds, entries.length]) {
          t = t.setMany(entries.slice(from, to));
          expectSameTrie(t, entries.slice(0, to), `batches up to ${to}`);
          from = to;
        }
        expectSameTrie(
          entries.reduce((acc, [k, v]) => acc.set(k, v), Trie.empty()),
          entries,
          "repeated set",
        );
        for (const [k, v] of sorted) expect(hexOf(built.get(k))).toBe(toHex(v));
      }),
      { numRuns: 150 },
    );
  });

  it("updates a built trie: replacements, new keys on both sides, and no-op writes", () => {
    fc.assert(
      fc.property(entrySets(false), entrySets(false), ({ entries: a }, { entries: b }) => {
        const first = Trie.fromSorted(naiveSorted(a));
        const next = first.setMany(b);
        expectSameTrie(next, [...a, ...b], "a then b");
        // Writing values the trie already holds changes nothing.
        expect(first.setMany(naiveSorted(a))).toBe(first);
      }),
      { numRuns: 150 },
    );
  });

  it("proves present keys present and absent keys absent, with torchwood's path", () => {
    fc.assert(
      fc.property(entrySets(true), keySets(true), ({ entries }, probes) => {
        const trie = Trie.empty().setMany(entries);
        const root = trie.root();
        const map = new Map(naiveSorted(entries).map(([k, v]) => [toHex(k), v]));
        for (const key of [...probes, ...entries.map((e) => e[0])]) {
          const proof = trie.prove(key);
          const encoded = encodeTrieProof(proof);
          expect(toHex(encoded)).toBe(toHex(naiveEncodePath(naivePath(entries, key))));
          expect(decodeTrieProof(encoded)).toEqual(proof);
          const v = map.get(toHex(key));
          expect(hexOf(trie.get(key))).toBe(hexOf(v));
          verifyTrieProof(root, key, v, decodeTrieProof(encoded));
        }
      }),
      { numRuns: 150 },
    );
  });

  it("keeps an old trie whole after an update made from it", () => {
    fc.assert(
      fc.property(entrySets(false), entrySets(false), ({ entries: a }, { keys, entries: b }) => {
        const old = Trie.empty().setMany(a);
        const oldRoot = old.root();
        const next = old.setMany(b);
        expectSameTrie(next, [...a, ...b], "next");
        expect(old.root()).toEqual(oldRoot);
        expectSameTrie(old, a, "old");
        for (const key of [...keys, ...a.map((e) => e[0])]) {
          const before = naiveSorted(a).find(([k]) => toHex(k) === toHex(key))?.[1];
          verifyTrieProof(oldRoot, key, before, old.prove(key));
          expect(hexOf(old.get(key))).toBe(hexOf(before));
        }
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals.

/** Every corruption of a valid (root, key, value, proof) the verifier must refuse. */
function corruptions(
  root: Uint8Array,
  key: Uint8Array,
  value: Uint8Array | undefined,
  proof: TrieProof,
): [string, () => void][] {
  const enc = encodeTrieProof(proof);
  const check = (what: string, r: Uint8Array, k: Uint8Array, v: Uint8Array | undefined, b: Uint8Array) =>
    [what, () => verifyTrieProof(r, k, v, decodeTrieProof(b))] as [string, () => void];
  const out: [string, () => void][] = [];
  for (let i = 0; i < enc.length; i++) {
    for (const x of [0x01, 0x80, 0xff]) {
      const b = enc.slice();
      b[i]! ^= x;
      out.push(check(`byte ${i} ^ ${x}`, root, key, value, b));
    }
  }
  for (let n = 0; n < enc.length; n++)
    out.push(check(`truncated to ${n}`, root, key, value, enc.subarray(0, n)));
  for (const x of [0x00, 0x01, 0x80])
    out.push(check(`extended by ${x}`, root, key, value, concat(enc, Uint8Array.of(x))));
  out.push(check("extended by a step", root, key, value, concat(enc, Uint8Array.of(0), new Uint8Array(32))));
  for (let i = 0; i + 1 < proof.steps.length; i++) {
    const steps = [...proof.steps];
    [steps[i], steps[i + 1]] = [steps[i + 1]!, steps[i]!];
    out.push([`steps ${i}, ${i + 1} swapped`, () => verifyTrieProof(root, key, value, { ...proof, steps })]);
    const sibs = steps.map((s, j) => ({ bit: proof.steps[j]!.bit, sibling: s.sibling }));
    out.push([
      `siblings ${i}, ${i + 1} swapped`,
      () => verifyTrieProof(root, key, value, { ...proof, steps: sibs }),
    ]);
  }
  for (let i = 0; i < proof.steps.length; i++) {
    const steps = proof.steps.filter((_, j) => j !== i);
    out.push([`step ${i} dropped`, () => verifyTrieProof(root, key, value, { ...proof, steps })]);
  }
  // Another key: refused, except that an absence proof also shows absent every key whose
  // lookup takes the same path (torchwood: one proof may be valid for many claims).
  const pathBits = new Set(proof.steps.map((s) => s.bit));
  for (let bit = 0; bit < key.length * 8 + 16; bit++) {
    const k = key.length * 8 > bit ? key.slice() : concat(key, new Uint8Array(2));
    k[bit >> 3]! ^= 0x80 >> (bit & 7);
    if (value === undefined && !pathBits.has(bit) && toHex(k) !== hexOf(proof.leaf?.key)) continue;
    out.push([`key bit ${bit} flipped`, () => verifyTrieProof(root, k, value, proof)]);
  }
  const wrongRoot = root.slice();
  wrongRoot[0]! ^= 1;
  out.push(["wrong root", () => verifyTrieProof(wrongRoot, key, value, proof)]);
  out.push(["short root", () => verifyTrieProof(root.subarray(1), key, value, proof)]);
  if (value !== undefined) {
    out.push(["absent claimed for a present key", () => verifyTrieProof(root, key, undefined, proof)]);
    out.push(["value extended", () => verifyTrieProof(root, key, concat(value, Uint8Array.of(0)), proof)]);
    if (value.length > 0) {
      const v = value.slice();
      v[v.length - 1]! ^= 1;
      out.push(["wrong value", () => verifyTrieProof(root, key, v, proof)]);
      out.push(["value truncated", () => verifyTrieProof(root, key, value.subarray(1), proof)]);
    }
  } else {
    out.push([
      "present claimed for an absent key",
      () => verifyTrieProof(root, key, new Uint8Array(48), proof),
    ]);
    if (proof.leaf !== undefined) {
      const alt = proof.leaf.value;
      out.push(["present claimed with the leaf's value", () => verifyTrieProof(root, key, alt, proof)]);
      const leafOnly = { leaf: proof.leaf, steps: [] };
      if (proof.steps.length > 0)
        out.push(["leaf without steps", () => verifyTrieProof(root, key, undefined, leafOnly)]);
    }
  }
  return out;
}

describe("proof refusals", () => {
  it("refuses every corrupted membership and non-membership proof", () => {
    fc.assert(
      fc.property(entrySets(false), keySets(false), fc.nat(), ({ entries }, probes, pick) => {
        fc.pre(entries.length > 0);
        const trie = Trie.empty().setMany(entries);
        const root = trie.root();
        const present = naiveSorted(entries)[pick % naiveSorted(entries).length]!;
        const absent = probes.find((k) => trie.get(k) === undefined);
        const claims: [Uint8Array, Uint8Array | undefined][] = [[present[0], present[1]]];
        if (absent !== undefined) claims.push([absent, undefined]);
        for (const [key, v] of claims) {
          const proof = trie.prove(key);
          verifyTrieProof(root, key, v, proof);
          for (const [what, fn] of corruptions(root, key, v, proof)) expectRefused(fn, what);
        }
      }),
      { numRuns: 40 },
    );
  });

  it("refuses another key's valid proof and proofs for absent keys that reach the wrong leaf", () => {
    const entries: Entry[] = Array.from({ length: 64 }, (_, i) => [
      Uint8Array.from({ length: 32 }, (_, j) => (i * 37 + j * 11) & 0xff),
      Uint8Array.of(i),
    ]);
    const trie = Trie.fromSorted(sortedEntries(entries));
    const root = trie.root();
    for (const [k, v] of entries.slice(0, 8)) {
      for (const [k2] of entries.slice(8, 16)) {
        expectRefused(() => verifyTrieProof(root, k2, v, trie.prove(k)), "another key's membership proof");
        expectRefused(
          () => verifyTrieProof(root, k2, undefined, trie.prove(k)),
          "a membership proof as absence",
        );
      }
    }
  });

  it("refuses a leaf on the side its own key does not take, even under a root that hashes it", () => {
    // A malformed trie, as a lying server could build it: key 80… sits left of the split at
    // bit 0, where its own bit says right. A lookup for 01… goes left and meets it there, and
    // hashing the path with the looked-up key's bits reproduces the root.
    const a = Uint8Array.of(0x80, ...new Uint8Array(31));
    const b = Uint8Array.of(0x40, ...new Uint8Array(31));
    const [va, vb] = [Uint8Array.of(1), Uint8Array.of(2)];
    const leafA = naiveRoot([[a, va]]);
    const leafB = naiveRoot([[b, vb]]);
    const root = sha256(concat(Uint8Array.of(1, 0), leafA, leafB));
    const key = Uint8Array.of(0x01, ...new Uint8Array(31));
    const proof: TrieProof = { leaf: { key: a, value: va }, steps: [{ bit: 0, sibling: leafB }] };
    expectRefused(() => verifyTrieProof(root, key, undefined, proof), "leaf on the wrong side");
    expectRefused(() => verifyTrieProof(root, a, va, proof), "membership on the wrong side");
    expectRefused(
      () => verifyTriePrefix(root, Uint8Array.of(0x01), TRIE_EMPTY_ROOT, encodeTrieProof(proof)),
      "prefix absence through the wrong side",
    );
  });

  it("decodes strictly, within a size cap", () => {
    const key = new Uint8Array(32).fill(7);
    const good = concat(Uint8Array.of(32), key, Uint8Array.of(1, 9), Uint8Array.of(5), new Uint8Array(32));
    expect(decodeTrieProof(good).steps).toHaveLength(1);
    const refused: [string, Uint8Array][] = [
      ["non-minimal key length", concat(Uint8Array.of(0xa0, 0x00), key, Uint8Array.of(1, 9))],
      [
        "non-minimal bit",
        concat(Uint8Array.of(32), key, Uint8Array.of(1, 9, 0x85, 0x00), new Uint8Array(32)),
      ],
      ["key over 1,024 bytes", concat(Uint8Array.of(0x81, 0x08), new Uint8Array(1025), Uint8Array.of(0))],
      ["value over 1,024 bytes", concat(Uint8Array.of(0), Uint8Array.of(0x81, 0x08), new Uint8Array(1025))],
      ["bit index past any key", concat(Uint8Array.of(0, 0, 0x81, 0x40), new Uint8Array(32))],
      ["equal bits", concat(good, Uint8Array.of(5), new Uint8Array(32))],
      ["increasing bits", concat(good, Uint8Array.of(6), new Uint8Array(32))],
      ["no value", concat(Uint8Array.of(32), key)],
      ["half a step", good.subarray(0, good.length - 1)],
      ["over the size cap", new Uint8Array(TRIE_MAX_PROOF_SIZE + 1)],
      ["unterminated varint", Uint8Array.of(0x80)],
      ["huge varint", Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x10)],
    ];
    for (const [what, b] of refused) expectRefused(() => decodeTrieProof(b), what);
    expectRefused(
      () => encodeTrieProof({ leaf: undefined, steps: [{ bit: 1, sibling: new Uint8Array(32) }] }),
      "steps without a leaf",
    );
    expectRefused(
      () => encodeTrieProof({ leaf: { key, value: key }, steps: [{ bit: 1, sibling: new Uint8Array(31) }] }),
      "a short sibling",
    );
  });

  it("refuses bad input to the builders with INDEX_ENTRY_INVALID", () => {
    const k = (b: number) => new Uint8Array(32).fill(b);
    const v = new Uint8Array(48);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return isTrustlogError(e) ? e.code : String(e);
      }
      return "returned";
    };
    expect(
      code(() =>
        Trie.fromSorted([
          [k(2), v],
          [k(1), v],
        ]),
      ),
    ).toBe("INDEX_ENTRY_INVALID");
    expect(
      code(() =>
        Trie.fromSorted([
          [k(1), v],
          [k(1), v],
        ]),
      ),
    ).toBe("INDEX_ENTRY_INVALID");
    expect(code(() => Trie.empty().set(new Uint8Array(1025), v))).toBe("INDEX_ENTRY_INVALID");
    expect(code(() => Trie.empty().set(k(1), new Uint8Array(1025)))).toBe("INDEX_ENTRY_INVALID");
    expect(code(() => Trie.empty().set(new Uint8Array(1024), new Uint8Array(1024)))).toBe("returned");
  });

  it("keeps the last value a batch gives a key", () => {
    const k = new Uint8Array(32).fill(3);
    const t = Trie.empty().setMany([
      [k, Uint8Array.of(1)],
      [new Uint8Array(32), Uint8Array.of(9)],
      [k, Uint8Array.of(2)],
    ]);
    expect(t.get(k)).toEqual(Uint8Array.of(2));
    expect(t.size).toBe(2);
    expect(t.set(k, Uint8Array.of(3)).get(k)).toEqual(Uint8Array.of(3));
    expect(t.get(k)).toEqual(Uint8Array.of(2));
  });

  it("proves a key present with its leaf and then torchwood's short proof", () => {
    const entries: Entry[] = [
      [fromHex("00"), fromHex("aa")],
      [fromHex("80"), fromHex("bb")],
    ];
    const enc = encodeTrieProof(Trie.fromSorted(entries).prove(fromHex("00")));
    const leaf = naiveLeafPrefix(fromHex("00"), fromHex("aa"));
    expect(toHex(enc)).toBe(toHex(concat(leaf, Uint8Array.of(0), naiveRoot([entries[1]!]))));
  });
});
