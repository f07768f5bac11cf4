// The index of chain heads (core/chain-index.ts): keys, values, the index leaf's exact bytes, and
// lookup proofs checked against a checkpoint: every honest answer passes, every corruption is
// refused with INDEX_PROOF_INVALID, and every history that does not end at the proved head is
// refused with HISTORY_TRUNCATED or HISTORY_FORKED.

import { sha256 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64, utf8 } from "../../core/bytes.js";
import {
  type ChainHead,
  chainKey,
  checkLookup,
  decodeChainHead,
  encodeChainHead,
  formatIndexLeaf,
  isIndexLeaf,
  type LookupJson,
  parseIndexLeaf,
  parseLogEntry,
} from "../../core/chain-index.js";
import { leafHash, memoryHashReader, rootHashSync } from "../../core/merkle.js";
import { encodeTrieProof, Trie } from "../../core/mpt.js";
import { proveInclusionSync } from "../../core/proof.js";
import { History, testKey } from "../helpers/events.js";

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

const head = (seq: number, index: number, fill = seq): ChainHead => ({
  seq,
  index,
  leafHash: new Uint8Array(32).fill(fill),
});

describe("chain keys and heads", () => {
  it("keys an org and an account of the same id apart, and every id apart", () => {
    const keys = [
      chainKey("org", "acme"),
      chainKey("account", "acme", "acme"),
      chainKey("account", "acme", "alice"),
      chainKey("org", "alice"),
    ].map(toBase64);
    expect(new Set(keys).size).toBe(4);
    // The definition, spelled out: SHA-256("trustlog/index/v1" 0x00 "org" 0x00 "acme").
    expect(toBase64(chainKey("org", "acme"))).toBe(
      toBase64(sha256(utf8("trustlog/index/v1\u0000org\u0000acme"))),
    );
    expect(toBase64(chainKey("account", "acme", "alice"))).toBe(
      toBase64(sha256(utf8("trustlog/index/v1\u0000account\u0000acme/alice"))),
    );
  });

  it("encodes a head in 48 bytes and back, up to 2^53 - 1", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (seq, index, lh) => {
          const v = encodeChainHead({ seq, index, leafHash: lh });
          expect(v).toHaveLength(48);
          const back = decodeChainHead(v);
          expect(back.seq).toBe(seq);
          expect(back.index).toBe(index);
          expect(toBase64(back.leafHash)).toBe(toBase64(lh));
        },
      ),
    );
    expect(code(() => decodeChainHead(new Uint8Array(47)))).toBe("INDEX_PROOF_INVALID");
    expect(code(() => decodeChainHead(new Uint8Array(48).fill(0xff)))).toBe("INDEX_PROOF_INVALID");
  });
});

describe("the index leaf", () => {
  const root = new Uint8Array(32).fill(9);

  it("has exactly the canonical bytes of DESIGN.md §4, and parses back", () => {
    const bytes = formatIndexLeaf({ size: 41, time: 1_800_000_000_123, root });
    expect(new TextDecoder().decode(bytes)).toBe(
      `{"root":"${toBase64(root)}","size":41,"time":1800000000123,"type":"log.index","v":1}`,
    );
    expect(isIndexLeaf(bytes)).toBe(true);
    expect(parseIndexLeaf(bytes)).toEqual({ size: 41, time: 1_800_000_000_123, root });
    expect(parseLogEntry(bytes).kind).toBe("index");
  });

  it("is never confused with an envelope, and refuses every other shape", () => {
    const h = new History();
    const org = h.append(h.orgCreate("acme", { admins: [testKey("ci-root")] }));
    expect(isIndexLeaf(org.leaf)).toBe(false);
    expect(parseLogEntry(org.leaf).kind).toBe("event");
    const r = toBase64(root);
    for (const text of [
      `{"root":"${r}","size":41,"time":1,"type":"log.index","v":2}`,
      `{"root":"${r}","size":41,"time":1,"type":"log.other","v":1}`,
      `{"root":"${r}","size":41,"time":1,"type":"log.index","v":1,"x":1}`,
      `{"root":"${r}","size":41,"time":1.5,"type":"log.index","v":1}`,
      `{"root":"${r}","size":-1,"time":1,"type":"log.index","v":1}`,
      `{"root":"${r}", "size":41,"time":1,"type":"log.index","v":1}`,
      `{"root":"${toBase64(new Uint8Array(31))}","size":41,"time":1,"type":"log.index","v":1}`,
      `{"root":"${r}","time":1,"size":41,"type":"log.index","v":1}`,
      `{"root":"${r}","size":"41","time":1,"type":"log.index","v":1}`,
    ]) {
      expect(
        code(() => parseIndexLeaf(utf8(text))),
        text,
      ).toBe("MALFORMED");
    }
  });
});

/** A log of `events` (opaque leaves) closed by one index leaf over `trie`. */
function logWith(trie: Trie, events = 3) {
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < events; i++) leaves.push(utf8(`event ${i}`));
  leaves.push(formatIndexLeaf({ size: events, time: 5_000, root: trie.root() }));
  const tree = memoryHashReader(leaves.map(leafHash));
  const size = leaves.length;
  const cp = { size, root: rootHashSync(size, tree) };
  const lookup = (org: string, account?: string): LookupJson => ({
    index: size - 1,
    leaf: toBase64(leaves[size - 1]!),
    inclusion: proveInclusionSync(size - 1, size, tree).map(toBase64),
    org: toBase64(encodeTrieProof(trie.prove(chainKey("org", org)))),
    ...(account !== undefined
      ? { account: toBase64(encodeTrieProof(trie.prove(chainKey("account", org, account)))) }
      : {}),
  });
  return { cp, lookup, leaves, tree };
}

describe("lookup proofs", () => {
  const orgHead = head(3, 1, 1);
  const aliceHead = head(2, 2, 2);
  const trie = Trie.empty().setMany([
    [chainKey("org", "acme"), encodeChainHead(orgHead)],
    [chainKey("account", "acme", "alice"), encodeChainHead(aliceHead)],
    [chainKey("account", "acme", "bob"), encodeChainHead(head(0, 0, 5))],
  ]);
  const { cp, lookup } = logWith(trie);

  it("prove a present chain's head and an absent chain's absence", () => {
    const leaf = checkLookup(cp, lookup("acme", "alice"), [
      { kind: "org", org: "acme", claimed: orgHead },
      { kind: "account", org: "acme", account: "alice", claimed: aliceHead },
    ]);
    expect(leaf.time).toBe(5_000);
    checkLookup(cp, lookup("acme", "carol"), [
      { kind: "account", org: "acme", account: "carol", claimed: undefined },
    ]);
    checkLookup(cp, lookup("globex"), [{ kind: "org", org: "globex", claimed: undefined }]);
  });

  it("refuse a history that ends before the proved head (HISTORY_TRUNCATED)", () => {
    for (const claimed of [head(1, 1, 9), undefined]) {
      expect(
        code(() =>
          checkLookup(cp, lookup("acme", "alice"), [
            { kind: "account", org: "acme", account: "alice", claimed },
          ]),
        ),
      ).toBe("HISTORY_TRUNCATED");
    }
  });

  it("refuse a history that ends at another head (HISTORY_FORKED)", () => {
    for (const claimed of [head(2, 2, 7), head(2, 9, 2), head(3, 9, 9)]) {
      expect(
        code(() =>
          checkLookup(cp, lookup("acme", "alice"), [
            { kind: "account", org: "acme", account: "alice", claimed },
          ]),
        ),
      ).toBe("HISTORY_FORKED");
    }
    // A chain the index does not hold at all.
    expect(
      code(() =>
        checkLookup(cp, lookup("acme", "carol"), [
          { kind: "account", org: "acme", account: "carol", claimed: head(0, 0) },
        ]),
      ),
    ).toBe("HISTORY_FORKED");
  });

  it("refuse every corrupted proof (INDEX_PROOF_INVALID)", () => {
    const good = lookup("acme", "alice");
    const chains = [{ kind: "account" as const, org: "acme", account: "alice", claimed: aliceHead }];
    const flip = (b64: string, at: number) => {
      const b = fromBase64(b64);
      b[at % b.length]! ^= 1;
      return toBase64(b);
    };
    const bad: [string, LookupJson | { size: number; root: Uint8Array }][] = [
      ["not the last leaf", { ...good, index: good.index - 1 }],
      [
        "another index leaf's bytes",
        { ...good, leaf: toBase64(formatIndexLeaf({ size: 3, time: 5_000, root: new Uint8Array(32) })) },
      ],
      [
        "an index leaf claiming another size",
        { ...good, leaf: toBase64(formatIndexLeaf({ size: 2, time: 5_000, root: trie.root() })) },
      ],
      [
        "a tampered inclusion hash",
        { ...good, inclusion: good.inclusion.map((h, i) => (i === 0 ? flip(h, 3) : h)) },
      ],
      ["a short inclusion proof", { ...good, inclusion: good.inclusion.slice(1) }],
      ["a proof for another key", { ...good, account: lookup("acme", "bob").account! }],
      ["no proof", { ...good, account: "" }],
      ["bad base64", { ...good, account: "%%%" }],
      ["a leaf that is not an index leaf", { ...good, leaf: toBase64(utf8("event 2")) }],
    ];
    for (const [what, l] of bad) {
      expect(
        code(() => checkLookup(cp, l as LookupJson, chains)),
        what,
      ).toBe("INDEX_PROOF_INVALID");
    }
    const proofBytes = fromBase64(good.account!);
    for (let i = 0; i < proofBytes.length; i++) {
      const c = code(() => checkLookup(cp, { ...good, account: flip(good.account!, i) }, chains));
      // A flipped byte of the value itself still verifies nowhere: the proof no longer matches
      // the root, whatever head it now names.
      expect(c, `byte ${i}`).toBe("INDEX_PROOF_INVALID");
    }
    expect(code(() => checkLookup({ ...cp, size: cp.size + 1 }, good, chains))).toBe("INDEX_PROOF_INVALID");
    expect(code(() => checkLookup({ size: 0, root: cp.root }, good, chains))).toBe("INDEX_PROOF_INVALID");
  });
});
