// Confirms audit evidence that cannot be judged from the evidence alone (a rule that depends on
// the state before the entry, an index leaf's root): replay the log's entries, from its own
// tiles, up to the evidence's checkpoint with core's LogReplayer, and compare the first
// violation found with the one claimed. The entries replayed are checked against the
// checkpoint's tree (the prefix up to the violation with a consistency proof from the log's
// tiles), so a peer cannot make this witness refuse an honest log, and a log cannot hide.

import { equalBytes } from "../core/bytes.js";
import type { Checkpoint } from "../core/checkpoint.js";
import { CompactRange } from "../core/compact-range.js";
import { TrustlogError } from "../core/errors.js";
import { LogReplayer, type Violation } from "../core/log-replay.js";
import { leafHash } from "../core/merkle.js";
import { checkConsistency, proveConsistency } from "../core/proof.js";
import { TILE_WIDTH } from "../core/tile-paths.js";
import { tileHashReader } from "../core/tile-reader.js";
import type { AuditEvidence } from "./audit-evidence.js";
import { fetchEntries, httpTileReader } from "./http.js";

const CHUNK = 64 * TILE_WIDTH;

/**
 * The first violation in the log's entries up to `cp` (undefined when there is none). Throws
 * LOG_TREE_MISMATCH when the entries served are not the checkpoint's tree, FETCH_FAILED when
 * they cannot be read.
 */
export async function firstViolation(
  url: string,
  cp: Checkpoint,
  timeoutMs: number,
): Promise<Violation | undefined> {
  const replayer = new LogReplayer();
  const range = CompactRange.empty();
  for (let pos = 0; pos < cp.size; ) {
    const end = Math.min(cp.size, pos + CHUNK);
    const leaves = await fetchEntries(url, pos, end, timeoutMs);
    for (let i = 0; i < leaves.length; i++) {
      const lh = leafHash(leaves[i]!);
      const v = replayer.apply(pos + i, leaves[i]!, lh);
      range.push(lh);
      if (v.length > 0) {
        await checkPrefix(url, range, cp, timeoutMs);
        return [...v].sort((a, b) => a.index - b.index)[0];
      }
    }
    pos = end;
  }
  await checkPrefix(url, range, cp, timeoutMs);
  return replayer.finish(cp.size)[0];
}

async function checkPrefix(
  url: string,
  range: CompactRange,
  cp: Checkpoint,
  timeoutMs: number,
): Promise<void> {
  const mismatch = () =>
    new TrustlogError("LOG_TREE_MISMATCH", "the entries the log serves are not its checkpoint's tree");
  if (range.size === cp.size) {
    if (!equalBytes(range.root(), cp.root)) throw mismatch();
    return;
  }
  const proof = await proveConsistency(
    range.size,
    cp.size,
    tileHashReader(httpTileReader(url, timeoutMs), cp.size),
  );
  try {
    checkConsistency(range.size, cp.size, range.root(), cp.root, proof);
  } catch {
    throw mismatch();
  }
}

/** True when replaying the log up to the evidence's checkpoint finds exactly the violation claimed. */
export async function confirmByReplay(
  url: string,
  e: AuditEvidence,
  cp: Checkpoint,
  timeoutMs: number,
): Promise<boolean> {
  const v = await firstViolation(url, cp, timeoutMs);
  return (
    v !== undefined &&
    v.index === e.violation.index &&
    v.code === e.violation.code &&
    (v.policyCode ?? undefined) === (e.violation.policyCode ?? undefined)
  );
}
