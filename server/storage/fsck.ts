// fsck: re-derives the whole log from its stored entries and compares everything else with it.
//
// DigiCert's Yeti2022 log died of one flipped bit in one stored leaf hash: nothing signed after it
// could ever be matched by the entries again. Here every leaf hash is recomputed from the
// envelope bytes, the tree is rebuilt from those hashes alone (not from stored tiles, and not
// with the sequencer's tile code, so a bug there cannot hide itself), and every stored tile, the
// log head and the latest signed checkpoint are compared with the rebuilt tree. Its root comes
// from the compact range the auditors use (core/compact-range.ts): one implementation vouches
// for the root in audit and in fsck. Each envelope is
// also re-parsed and must be byte-for-byte canonical, since the leaf is its canonical form, and
// the whole log is replayed (core/log-replay.ts): every index leaf must hold the root of the
// trie of chain heads recomputed from the entries before it, and every event must obey the policy.
//
// Memory stays bounded: entries stream in chunks of one tile (256 leaves), and only the right
// edge of the tree (at most 256 hashes per tile level) is held.

import { and, asc, eq, gte, lt, sql } from "drizzle-orm";
import { equalBytes } from "../../core/bytes.js";
import { isIndexLeaf, parseIndexLeaf } from "../../core/chain-index.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { CompactRange } from "../../core/compact-range.js";
import { isTrustlogError } from "../../core/errors.js";
import { parseEnvelope } from "../../core/event.js";
import { LogReplayer } from "../../core/log-replay.js";
import { EMPTY_ROOT, leafHash, nodeHash } from "../../core/merkle.js";
import { type NoteVerifier, openNote, parseNote } from "../../core/note.js";
import type { Database } from "../../node/db.js";
import { ChainIndexCache } from "./chain-index.js";
import { checkpoints, entries, logHead, tiles } from "./schema.js";

export type MismatchKind =
  | "entry-missing"
  | "entry-extra"
  | "entry-unparseable"
  | "entry-not-canonical"
  | "entry-columns"
  | "leaf-hash"
  | "tile"
  | "tile-missing"
  | "tile-extra"
  | "head"
  | "checkpoint-missing"
  | "checkpoint-root"
  | "checkpoint-signature"
  | "checkpoint-malformed"
  | "index"
  | "policy"
  | "state";

export interface Mismatch {
  kind: MismatchKind;
  /** Entry index, or tile index for tile mismatches. */
  index?: number;
  level?: number;
  message: string;
}

export interface FsckReport {
  ok: boolean;
  /** Tree size per the log head. */
  size: number;
  /** The root recomputed from the entries. */
  root: Uint8Array;
  entriesChecked: number;
  tilesChecked: number;
  /** In the order found; `mismatches[0]` is the first. Capped at `maxMismatches`. */
  mismatches: Mismatch[];
}

export interface FsckOptions {
  /** The log's checkpoint verifier; without it the signature is not checked (only parsed). */
  verifier?: NoteVerifier;
  onProgress?: (entriesChecked: number, size: number) => void;
  /** Stop collecting after this many mismatches (default 100). */
  maxMismatches?: number;
}

const WIDTH = 256;
const HASH = 32;

/** MTH of a run of 2^k hashes (k >= 0): the hash a full tile stands for one level up. */
function mth(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return nodeHash(mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}

function concatHashes(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH);
  for (let i = 0; i < hashes.length; i++) out.set(hashes[i]!, i * HASH);
  return out;
}

export async function fsck(database: Database, opts: FsckOptions = {}): Promise<FsckReport> {
  const db = database.db;
  const max = opts.maxMismatches ?? 100;
  const mismatches: Mismatch[] = [];
  const report = (m: Mismatch) => {
    if (mismatches.length < max) mismatches.push(m);
  };

  const headRow = (await db.select().from(logHead).where(eq(logHead.id, 1)))[0];
  const size = headRow?.size ?? 0;

  const replayer = new LogReplayer();
  // The right edge of the tree being rebuilt: per tile level, the hashes of its current tile.
  const edge: Uint8Array[][] = [[]];
  const tileIndex: number[] = [0];
  const range = CompactRange.empty();
  let tilesChecked = 0;

  const compareTile = async (level: number, index: number, want: Uint8Array, full: boolean) => {
    tilesChecked++;
    const row = (
      await db
        .select({ data: tiles.data })
        .from(tiles)
        .where(and(eq(tiles.level, level), eq(tiles.idx, index)))
    )[0];
    if (!row)
      return report({ kind: "tile-missing", level, index, message: `tile ${level}/${index} is missing` });
    // A stored partial tile holds exactly the hashes of the latest size; a full one exactly 256.
    if (!equalBytes(row.data, want)) {
      let at = 0;
      while (at < want.length && row.data[at] === want[at]) at++;
      report({
        kind: "tile",
        level,
        index,
        message: `tile ${level}/${index} (${full ? "full" : `partial, ${want.length / HASH} hashes`}) differs from the entries at hash ${Math.floor(at / HASH)}`,
      });
    }
  };

  const push = async (level: number, h: Uint8Array) => {
    if (level === 0) range.push(h);
    edge[level] ??= [];
    tileIndex[level] ??= 0;
    const row = edge[level]!;
    row.push(h);
    if (row.length === WIDTH) {
      await compareTile(level, tileIndex[level]!, concatHashes(row), true);
      const up = mth(row);
      edge[level] = [];
      tileIndex[level]!++;
      await push(level + 1, up);
    }
  };

  let checked = 0;
  const CHUNK = WIDTH;
  for (let start = 0; start < size; start += CHUNK) {
    const rows = await db
      .select()
      .from(entries)
      .where(and(gte(entries.idx, start), lt(entries.idx, Math.min(start + CHUNK, size))))
      .orderBy(asc(entries.idx));
    let expect = start;
    for (const r of rows) {
      while (expect < r.idx) {
        report({ kind: "entry-missing", index: expect, message: `entry ${expect} is missing` });
        await push(0, EMPTY_ROOT); // keep positions aligned so later tiles are still compared
        expect++;
      }
      expect++;
      const h = leafHash(r.envelope);
      if (!equalBytes(h, r.leafHash)) {
        report({
          kind: "leaf-hash",
          index: r.idx,
          message: `stored leaf hash of entry ${r.idx} is not the hash of its bytes`,
        });
      }
      try {
        if (isIndexLeaf(r.envelope)) {
          const leaf = parseIndexLeaf(r.envelope);
          if (r.org !== "" || r.subject !== "" || r.type !== "log.index" || r.seq !== leaf.size) {
            report({
              kind: "entry-columns",
              index: r.idx,
              message: `entry ${r.idx}'s columns disagree with its index leaf`,
            });
          }
        } else {
          const parsed = parseEnvelope(r.envelope);
          if (!equalBytes(parsed.leaf, r.envelope)) {
            report({
              kind: "entry-not-canonical",
              index: r.idx,
              message: `entry ${r.idx} is not in canonical form`,
            });
          }
          const e = parsed.envelope.event;
          if (e.org !== r.org || e.subject !== r.subject || e.type !== r.type || e.seq !== r.seq) {
            report({
              kind: "entry-columns",
              index: r.idx,
              message: `entry ${r.idx}'s columns disagree with its event`,
            });
          }
        }
      } catch (err) {
        if (!isTrustlogError(err)) throw err;
        report({
          kind: "entry-unparseable",
          index: r.idx,
          message: `entry ${r.idx}: ${err.code}: ${err.message}`,
        });
      }
      for (const v of replayer.apply(r.idx, r.envelope, h)) {
        if (v.code === "EVENT_MALFORMED") continue; // reported above
        report({
          kind: v.code === "POLICY_VIOLATION" ? "policy" : "index",
          index: v.index,
          message: v.message,
        });
      }
      await push(0, h);
    }
    const end = Math.min(start + CHUNK, size);
    while (expect < end) {
      report({ kind: "entry-missing", index: expect, message: `entry ${expect} is missing` });
      await push(0, EMPTY_ROOT);
      expect++;
    }
    checked = end;
    opts.onProgress?.(checked, size);
  }

  for (const v of replayer.finish(size)) report({ kind: "index", index: v.index, message: v.message });
  // The derived state's chain heads (what the sequencer resumes from) against the replay.
  const fromState = await new ChainIndexCache(database).atHead();
  if (fromState.size === size && !equalBytes(fromState.trie.root(), replayer.trie.root())) {
    report({
      kind: "state",
      message: "the chain heads in the state tables (orgs, accounts) differ from a replay of the entries",
    });
  }

  const extra = await db
    .select({ idx: entries.idx })
    .from(entries)
    .where(gte(entries.idx, size))
    .orderBy(asc(entries.idx))
    .limit(1);
  if (extra[0]) {
    report({
      kind: "entry-extra",
      index: extra[0].idx,
      message: `entry ${extra[0].idx} lies beyond the head (${size})`,
    });
  }

  // Partial tiles: the right edge at every level that has one.
  for (let level = 0; level < edge.length; level++) {
    const row = edge[level]!;
    if (row.length > 0) await compareTile(level, tileIndex[level]!, concatHashes(row), false);
  }
  const expectedTiles = edge.reduce((n, row, level) => n + tileIndex[level]! + (row.length > 0 ? 1 : 0), 0);
  const stored = Number((await db.select({ n: sql<string>`count(*)` }).from(tiles))[0]?.n ?? 0);
  if (stored !== expectedTiles) {
    report({
      kind: "tile-extra",
      message: `${stored} tiles stored, ${expectedTiles} expected for size ${size}`,
    });
  }

  const root = range.root();

  if (headRow && !equalBytes(headRow.root, root)) {
    report({ kind: "head", message: `log head root at size ${size} differs from the root of the entries` });
  }
  const cp = (await db.select().from(checkpoints).orderBy(sql`${checkpoints.size} desc`).limit(1))[0];
  if (!cp || cp.size !== size) {
    report({ kind: "checkpoint-missing", message: `no checkpoint at the head's size ${size}` });
  } else {
    if (!equalBytes(cp.root, root)) {
      report({
        kind: "checkpoint-root",
        message: `checkpoint ${size}'s stored root differs from the entries`,
      });
    }
    try {
      const note = opts.verifier ? openNote(cp.note, [opts.verifier]) : parseNote(cp.note);
      const c = parseCheckpoint(note.body);
      if (c.size !== size || !equalBytes(c.root, root)) {
        report({
          kind: "checkpoint-root",
          message: `signed checkpoint ${c.size} does not commit to the entries`,
        });
      }
    } catch (err) {
      if (!isTrustlogError(err)) throw err;
      const kind =
        err.code.startsWith("NOTE_") && err.code !== "NOTE_MALFORMED"
          ? "checkpoint-signature"
          : "checkpoint-malformed";
      report({ kind, message: `checkpoint ${size}: ${err.code}: ${err.message}` });
    }
  }

  return { ok: mismatches.length === 0, size, root, entriesChecked: checked, tilesChecked, mismatches };
}
