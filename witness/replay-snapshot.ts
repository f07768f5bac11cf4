// The auditor's replay state as bytes, so that a restarted auditing witness resumes from its
// last snapshot instead of replaying the whole log again. Built from LogReplayer's public
// members only: the policy state (MemoryState.toJSON),
// the index trie (its entries, rebuilt with Trie.fromSorted), the counters, and the index leaf
// the snapshot ends with. Snapshots are only taken right after an index leaf that replayed
// clean, where the replayer holds no pending events; re-applying that index leaf to the rebuilt
// replayer restores the rest of its private state (the last index time) and checks, on the way,
// that the trie rebuilt is the one the leaf commits to.
//
// Layout: gzip of a JSON header line, "\n", then the trie entries (u16be key length, key, u16be
// value length, value, in key order).

import { promisify } from "node:util";
import { gunzipSync, gzip } from "node:zlib";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { isIndexLeaf } from "../core/chain-index.js";
import { CompactRange } from "../core/compact-range.js";
import { TrustlogError } from "../core/errors.js";
import { LogReplayer } from "../core/log-replay.js";
import { MemoryState } from "../core/memory-state.js";
import { leafHash } from "../core/merkle.js";
import { Trie } from "../core/mpt.js";
import type { MemoryStateJSON } from "../core/state.js";

const VERSION = 1;

interface Header {
  v: number;
  size: number;
  edge: string[];
  lastIndexLeaf: string;
  events: number;
  orgs: number;
  indexLeaves: number;
  state: MemoryStateJSON;
  trieEntries: number;
}

/** What a snapshot holds, captured at once (the trie is persistent, the state deep-copied). */
export interface CapturedSnapshot {
  size: number;
  root: Uint8Array;
  header: Header;
  trie: Trie;
}

function invalid(message: string): TrustlogError {
  return new TrustlogError("SNAPSHOT_INVALID", `replay snapshot: ${message}`);
}

/**
 * Captures the replay state after entry `size - 1`, which must be an index leaf that replayed
 * clean (`lastIndexLeaf` its bytes). Cheap apart from copying the policy state.
 */
export function captureSnapshot(
  replayer: LogReplayer,
  range: CompactRange,
  lastIndexLeaf: Uint8Array,
): CapturedSnapshot {
  if (!isIndexLeaf(lastIndexLeaf) || !replayer.atIndexBoundary)
    throw invalid("a snapshot must end with an index leaf");
  return {
    size: range.size,
    root: range.root(),
    trie: replayer.trie,
    header: {
      v: VERSION,
      size: range.size,
      edge: range.edge().map(toBase64),
      lastIndexLeaf: toBase64(lastIndexLeaf),
      events: replayer.events,
      orgs: replayer.orgs,
      indexLeaves: replayer.indexLeaves,
      // toJSON copies: later replay does not change what was captured.
      state: replayer.state.toJSON(),
      trieEntries: replayer.trie.size,
    },
  };
}

const gzipAsync = promisify(gzip);

export async function encodeSnapshot(s: CapturedSnapshot): Promise<Uint8Array> {
  const head = new TextEncoder().encode(`${JSON.stringify(s.header)}\n`);
  let total = head.length;
  for (const [k, v] of s.trie.entries()) total += 4 + k.length + v.length;
  const out = new Uint8Array(total);
  out.set(head, 0);
  let o = head.length;
  for (const [k, v] of s.trie.entries()) {
    out[o] = k.length >>> 8;
    out[o + 1] = k.length & 0xff;
    out.set(k, o + 2);
    o += 2 + k.length;
    out[o] = v.length >>> 8;
    out[o + 1] = v.length & 0xff;
    out.set(v, o + 2);
    o += 2 + v.length;
  }
  // Level 1: the snapshot is written while the log is being audited; speed beats ratio.
  return new Uint8Array(await gzipAsync(out, { level: 1 }));
}

export interface RestoredSnapshot {
  size: number;
  replayer: LogReplayer;
  range: CompactRange;
}

/** Rebuilds the replayer and the tree edge; throws SNAPSHOT_INVALID when anything disagrees. */
export function decodeSnapshot(bytes: Uint8Array): RestoredSnapshot {
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(gunzipSync(bytes));
  } catch (e) {
    throw invalid(`not gzip: ${(e as Error).message}`);
  }
  const nl = raw.indexOf(10);
  if (nl < 0) throw invalid("no header");
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder().decode(raw.subarray(0, nl))) as Header;
  } catch {
    throw invalid("header is not JSON");
  }
  if (h.v !== VERSION) throw invalid(`unknown version ${h.v}`);
  const entries: [Uint8Array, Uint8Array][] = [];
  let o = nl + 1;
  const take = (): Uint8Array => {
    if (o + 2 > raw.length) throw invalid("truncated trie");
    const n = (raw[o]! << 8) | raw[o + 1]!;
    if (o + 2 + n > raw.length) throw invalid("truncated trie");
    const b = raw.subarray(o + 2, o + 2 + n);
    o += 2 + n;
    return b;
  };
  while (o < raw.length) entries.push([take(), take()]);
  if (entries.length !== h.trieEntries) throw invalid("trie entry count differs");

  let range: CompactRange;
  try {
    range = CompactRange.fromHashes(
      h.size,
      h.edge.map((e) => fromBase64(e)),
    );
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const replayer = new LogReplayer({ state: MemoryState.fromJSON(h.state), trie: Trie.fromSorted(entries) });
  const last = fromBase64(h.lastIndexLeaf);
  const violations = replayer.apply(h.size - 1, last, leafHash(last));
  if (violations.length > 0)
    throw invalid(`the index leaf does not match the state: ${violations[0]!.message}`);
  replayer.events = h.events;
  replayer.orgs = h.orgs;
  replayer.indexLeaves = h.indexLeaves;
  return { size: h.size, replayer, range };
}
