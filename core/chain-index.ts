// The index of chain heads (DESIGN.md §4): the answer to "is this the LATEST state of the
// account?". The log keeps a Merkle Patricia trie (core/mpt.ts) from every chain (each org,
// each account) to its head, and after each batch appends one log-authored leaf,
//
//   {"root":"<b64 trie root>","size":<its own index>,"time":<ms>,"type":"log.index","v":1}
//
// (canonical JSON), so the last leaf of every checkpoint the log signs is an index leaf. A
// lookup proof is that leaf, its inclusion proof and the trie proof for one chain: a client
// that checks it knows the chain's head as of the checkpoint, so a history that stops early
// (a hidden revocation) or a second branch (a fork) cannot pass. Auditors recompute the trie
// at every index leaf, so a log that lies in its index is caught like one that lies in its tree.

import { concat, equalBytes, fromBase64, fromUtf8, toBase64, utf8 } from "./bytes.js";
import { TrustlogError } from "./errors.js";
import { isOrgEventType, type KeyEvent, type ParsedEnvelope, parseStoredEnvelope } from "./event.js";
import { canonicalBytes } from "./jcs.js";
import { leafHash as computeLeafHash } from "./merkle.js";
import { decodeTrieProof, verifyTrieProof } from "./mpt.js";
import { checkInclusion } from "./proof.js";
import { sha256 } from "./sha256.js";
import type { Subchain } from "./subchain.js";

export const INDEX_LEAF_TYPE = "log.index";
const KEY_DOMAIN = utf8("trustlog/index/v1");
export const HEAD_VALUE_BYTES = 48;

/**
 * What a trie key names: an org's chain, an account's chain, or one of the org chain's
 * sub-chains (core/subchain.ts): its authority events, or one grant's issue and revocation.
 */
export type ChainKind = "org" | "account" | "authority" | "grant";

/**
 * The trie key of a chain: SHA-256("trustlog/index/v1" ‖ 0x00 ‖ kind ‖ 0x00 ‖ id), where id is
 * the org for "org" and "authority", and org "/" account or org "/" grant for the others.
 */
export function chainKey(kind: ChainKind, org: string, sub?: string): Uint8Array {
  const id = kind === "org" || kind === "authority" ? org : `${org}/${sub}`;
  return sha256(concat(KEY_DOMAIN, new Uint8Array([0]), utf8(kind), new Uint8Array([0]), utf8(id)));
}

/** The trie key of the chain an event belongs to. */
export function eventChainKey(event: KeyEvent): Uint8Array {
  return isOrgEventType(event.type)
    ? chainKey("org", event.org)
    : chainKey("account", event.org, event.subject);
}

export interface ChainHead {
  seq: number;
  /** Log index of the chain's latest event. */
  index: number;
  /** Its leaf hash (32 bytes). */
  leafHash: Uint8Array;
}

function u64(out: Uint8Array, at: number, n: number): void {
  // Indices and seqs stay below 2^53: split into two 32-bit halves without BigInt.
  const hi = Math.floor(n / 2 ** 32);
  const lo = n >>> 0;
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setUint32(at, hi);
  v.setUint32(at + 4, lo);
}

/** The trie value of a head: u64be(seq) ‖ u64be(index) ‖ leaf hash. */
export function encodeChainHead(h: ChainHead): Uint8Array {
  if (h.leafHash.length !== 32) throw new TrustlogError("MALFORMED", "a head's leaf hash is 32 bytes");
  const out = new Uint8Array(HEAD_VALUE_BYTES);
  u64(out, 0, h.seq);
  u64(out, 8, h.index);
  out.set(h.leafHash, 16);
  return out;
}

export function decodeChainHead(v: Uint8Array): ChainHead {
  if (v.length !== HEAD_VALUE_BYTES)
    throw new TrustlogError("INDEX_PROOF_INVALID", "a head value is 48 bytes");
  const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const read = (at: number) => {
    const n = d.getUint32(at) * 2 ** 32 + d.getUint32(at + 4);
    if (!Number.isSafeInteger(n))
      throw new TrustlogError("INDEX_PROOF_INVALID", "a head value is out of range");
    return n;
  };
  return { seq: read(0), index: read(8), leafHash: v.slice(16) };
}

/** The trie value of a sub-chain: u64be(count) ‖ u64be(index of its last event) ‖ digest. */
export function encodeSubchain(s: Subchain): Uint8Array {
  const digest = fromBase64(s.digest);
  if (digest.length !== 32) throw new TrustlogError("MALFORMED", "a sub-chain digest is 32 bytes");
  return encodeChainHead({ seq: s.count, index: s.index, leafHash: digest });
}

export function decodeSubchain(v: Uint8Array): Subchain {
  const h = decodeChainHead(v);
  return { count: h.seq, index: h.index, digest: toBase64(h.leafHash) };
}

export interface IndexLeaf {
  /** The leaf's own index in the log. */
  size: number;
  /** The log's clock when it wrote the leaf, milliseconds since the epoch. */
  time: number;
  /** Root of the trie of chain heads after every entry before this leaf. */
  root: Uint8Array;
}

export function formatIndexLeaf(l: IndexLeaf): Uint8Array {
  return canonicalBytes({ type: INDEX_LEAF_TYPE, v: 1, size: l.size, time: l.time, root: toBase64(l.root) });
}

function badIndexLeaf(message: string): never {
  throw new TrustlogError("MALFORMED", `index leaf: ${message}`);
}

/** Canonical index leaves start so; envelopes start with `{"event":`. */
const INDEX_PREFIX = utf8('{"root":');

export function isIndexLeaf(leaf: Uint8Array): boolean {
  return leaf.length > INDEX_PREFIX.length && equalBytes(leaf.subarray(0, INDEX_PREFIX.length), INDEX_PREFIX);
}

/** Parses an index leaf; its bytes must be exactly the canonical form (MALFORMED otherwise). */
export function parseIndexLeaf(leaf: Uint8Array): IndexLeaf {
  if (leaf.length > 256) badIndexLeaf("too long");
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(leaf));
  } catch {
    badIndexLeaf("not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) badIndexLeaf("not an object");
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(",");
  if (keys !== "root,size,time,type,v") badIndexLeaf("wrong fields");
  if (o.type !== INDEX_LEAF_TYPE || o.v !== 1) badIndexLeaf("wrong type or version");
  const size = o.size;
  const time = o.time;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) badIndexLeaf("bad size");
  if (typeof time !== "number" || !Number.isSafeInteger(time) || time < 0) badIndexLeaf("bad time");
  let root: Uint8Array;
  try {
    root = fromBase64(String(o.root));
  } catch {
    badIndexLeaf("bad root");
  }
  if (typeof o.root !== "string" || root.length !== 32) badIndexLeaf("bad root");
  const out = { size, time, root };
  if (!equalBytes(formatIndexLeaf(out), leaf)) badIndexLeaf("not canonical");
  return out;
}

/** One entry of the log: a key event, or the log's own index leaf. */
export type LogEntry =
  | { kind: "event"; parsed: ParsedEnvelope; leafHash: Uint8Array }
  | { kind: "index"; leaf: IndexLeaf; leafHash: Uint8Array };

/** Parses a stored leaf of either kind (canonical form required). Throws MALFORMED. */
export function parseLogEntry(leaf: Uint8Array): LogEntry {
  if (isIndexLeaf(leaf))
    return { kind: "index", leaf: parseIndexLeaf(leaf), leafHash: computeLeafHash(leaf) };
  const parsed = parseStoredEnvelope(leaf);
  return { kind: "event", parsed, leafHash: parsed.leafHash };
}

// ---------------------------------------------------------------------------------------------
// Lookup proofs.

/** How a log serves a lookup (in history bundles and at /v1/orgs/…/lookup). */
export interface LookupJson {
  /** Index of the index leaf: the checkpoint's size − 1. */
  index: number;
  /** Base64 of the index leaf bytes. */
  leaf: string;
  /** Base64 hashes of its inclusion proof against the checkpoint. */
  inclusion: string[];
  /** Base64 trie proofs (core/mpt.ts encoding) for the org's chain and the account's. */
  org?: string;
  account?: string;
  /** For an account's bounded proof: the org's authority sub-chain, and each grant it needs. */
  authority?: string;
  grants?: { id: string; proof: string }[];
}

/** A chain whose head a lookup is checked for, with the head the caller's history ends at. */
export type ClaimedChain =
  | { kind: "org"; org: string; claimed: ChainHead | undefined }
  | { kind: "account"; org: string; account: string; claimed: ChainHead | undefined }
  | { kind: "authority"; org: string; claimed: Subchain | undefined }
  | { kind: "grant"; org: string; grant: string; claimed: Subchain | undefined };

function lookupBad(message: string): never {
  throw new TrustlogError("INDEX_PROOF_INVALID", message);
}

function proofText(lookup: LookupJson, c: ClaimedChain): unknown {
  switch (c.kind) {
    case "org":
      return lookup.org;
    case "account":
      return lookup.account;
    case "authority":
      return lookup.authority;
    case "grant": {
      const list = Array.isArray(lookup.grants) ? lookup.grants : [];
      return list.find((g) => typeof g === "object" && g !== null && g.id === c.grant)?.proof;
    }
  }
}

/** A chain's position and value as the trie holds them: (seq, head) or (count − 1, sub-chain). */
function asTrieValue(c: ClaimedChain, value: ChainHead | Subchain): { at: number; bytes: Uint8Array } {
  if (c.kind === "org" || c.kind === "account") {
    const h = value as ChainHead;
    return { at: h.seq, bytes: encodeChainHead(h) };
  }
  const s = value as Subchain;
  return { at: s.count - 1, bytes: encodeSubchain(s) };
}

function decodeTrieValue(c: ClaimedChain, v: Uint8Array): { at: number; index: number } {
  if (c.kind === "org" || c.kind === "account") {
    const h = decodeChainHead(v);
    return { at: h.seq, index: h.index };
  }
  const s = decodeSubchain(v);
  return { at: s.count - 1, index: s.index };
}

/**
 * Checks a lookup against a checkpoint: the index leaf is the checkpoint's last leaf, included
 * in its tree, and the trie proofs show each chain's head (or its absence) under the leaf's root.
 * `claimed` are the heads the caller derived from the histories it was given (undefined: the
 * chain is claimed absent); sub-chains are claimed as their folded digests (core/subchain.ts).
 * Throws INDEX_PROOF_INVALID for a proof that does not verify or is missing, HISTORY_TRUNCATED
 * when the index proves a later head than the history ends at (events left out), and
 * HISTORY_FORKED when it proves another head at the same or an earlier position, or none.
 */
export function checkLookup(
  cp: { size: number; root: Uint8Array },
  lookup: LookupJson,
  chains: readonly ClaimedChain[],
): IndexLeaf {
  if (typeof lookup !== "object" || lookup === null) lookupBad("no lookup proof");
  if (cp.size === 0 || lookup.index !== cp.size - 1)
    lookupBad(`the index leaf must be the checkpoint's last leaf (${cp.size - 1}), not ${lookup.index}`);
  let bytes: Uint8Array;
  let inclusion: Uint8Array[];
  try {
    bytes = fromBase64(String(lookup.leaf));
    if (!Array.isArray(lookup.inclusion)) throw new Error("inclusion is not a list");
    inclusion = lookup.inclusion.map((h) => fromBase64(String(h)));
  } catch {
    lookupBad("the lookup proof is malformed");
  }
  let leaf: IndexLeaf;
  try {
    leaf = parseIndexLeaf(bytes);
  } catch (e) {
    lookupBad((e as Error).message);
  }
  if (leaf.size !== lookup.index) lookupBad(`the index leaf says it is at ${leaf.size}, not ${lookup.index}`);
  try {
    checkInclusion(computeLeafHash(bytes), lookup.index, cp.size, inclusion, cp.root);
  } catch (e) {
    lookupBad(`index leaf not in the checkpoint's tree: ${(e as Error).message}`);
  }
  for (const c of chains) checkChainProof(leaf, proofText(lookup, c), c);
  return leaf;
}

function checkChainProof(leaf: IndexLeaf, text: unknown, c: ClaimedChain): void {
  const sub = c.kind === "account" ? c.account : c.kind === "grant" ? c.grant : undefined;
  const key = chainKey(c.kind, c.org, sub);
  const name =
    c.kind === "org"
      ? `org ${c.org}`
      : c.kind === "account"
        ? `account ${c.account}`
        : c.kind === "authority"
          ? `the authority of org ${c.org}`
          : `grant ${c.grant}`;
  if (typeof text !== "string") lookupBad(`${name}: the lookup has no trie proof for it`);
  let proof: ReturnType<typeof decodeTrieProof>;
  try {
    proof = decodeTrieProof(fromBase64(text));
  } catch (e) {
    lookupBad(`${name}: the trie proof is malformed: ${(e as Error).message}`);
  }
  // The proof carries the leaf its path ends at: the chain's own head when present.
  const present = proof.leaf !== undefined && equalBytes(proof.leaf.key, key);
  const provedValue = present ? proof.leaf!.value : undefined;
  try {
    verifyTrieProof(leaf.root, key, provedValue, proof);
  } catch (e) {
    lookupBad(`${name}: the trie proof does not verify: ${(e as Error).message}`);
  }
  let proved: { at: number; index: number } | undefined;
  try {
    proved = provedValue ? decodeTrieValue(c, provedValue) : undefined;
  } catch (e) {
    lookupBad(`${name}: ${(e as Error).message}`);
  }
  const where: Record<string, unknown> = { kind: c.kind, org: c.org };
  if (c.kind === "account") where.account = c.account;
  if (c.kind === "grant") where.grant = c.grant;
  if (!proved && !c.claimed) return;
  if (!proved) {
    // A history the index does not know: a chain kept off to the side of the real log.
    throw new TrustlogError("HISTORY_FORKED", `${name}: the log's index has no such chain`, where);
  }
  if (!c.claimed) {
    throw new TrustlogError("HISTORY_TRUNCATED", `${name}: the index holds a chain the log did not serve`, {
      ...where,
      provedSeq: proved.at,
    });
  }
  const claimed = asTrieValue(c, c.claimed);
  if (equalBytes(claimed.bytes, provedValue!)) return;
  const what = c.kind === "org" || c.kind === "account" ? "seq" : "event";
  if (proved.at > claimed.at) {
    throw new TrustlogError(
      "HISTORY_TRUNCATED",
      `${name}: the history served ends at ${what} ${claimed.at}, but the index proves ${what} ${proved.at} at index ${proved.index} is the latest`,
      { ...where, servedSeq: claimed.at, provedSeq: proved.at, provedIndex: proved.index },
    );
  }
  throw new TrustlogError(
    "HISTORY_FORKED",
    `${name}: the history served ends at ${what} ${claimed.at}, the index proves another at ${what} ${proved.at} (index ${proved.index})`,
    { ...where, servedSeq: claimed.at, provedSeq: proved.at, provedIndex: proved.index },
  );
}
