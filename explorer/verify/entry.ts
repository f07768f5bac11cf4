// One entry by index: the log's answer at /v1/entries/<index> is only a hint. The explorer takes
// its canonical bytes (an envelope or an index leaf must be canonical JSON), hashes them as the
// tree does and checks the inclusion proof against the latest checkpoint, verified as on the log
// page. For an event, every signature is checked too. Whether the signers had the authority is
// a question for the subject's history (the account or org page), not for one entry.

import { toBase64 } from "../../core/bytes.js";
import { type LogEntry, parseLogEntry } from "../../core/chain-index.js";
import { isTrustlogError, TrustlogError } from "../../core/errors.js";
import { checkSignatures } from "../../core/event.js";
import { canonicalBytes } from "../../core/jcs.js";
import { checkInclusion } from "../../core/proof.js";
import type { Session } from "../session.js";
import { checkLatest, type LogCheck } from "./log.js";

export interface EntryCheck {
  index: number;
  log: LogCheck;
  entry: LogEntry;
  leafHash: string;
  /** The leaf bytes as text (canonical JSON). */
  leaf: string;
  inclusion: string[];
}

export async function checkEntry(s: Session, index: number): Promise<EntryCheck> {
  const log = await checkLatest(s);
  const cp = log.verified.checkpoint;
  if (index >= cp.size)
    throw new TrustlogError(
      "NOT_FOUND",
      `entry ${index} is beyond the verified checkpoint of size ${cp.size}`,
    );
  const served = await s.client.entry(index);
  let entry: LogEntry;
  let leaf: Uint8Array;
  try {
    leaf = canonicalBytes(served.envelope);
    entry = parseLogEntry(leaf);
  } catch (e) {
    throw new TrustlogError("EVENT_MALFORMED", `entry ${index}: ${(e as Error).message}`, { index });
  }
  const proof = await s.client.inclusion(index, cp.size);
  try {
    checkInclusion(entry.leafHash, index, cp.size, proof, cp.root);
  } catch (e) {
    throw new TrustlogError("INCLUSION_INVALID", `entry ${index}: ${(e as Error).message}`, { index });
  }
  if (entry.kind === "index" && entry.leaf.size !== index)
    throw new TrustlogError("EVENT_MALFORMED", `index leaf at ${index} says it is at ${entry.leaf.size}`, {
      index,
    });
  if (entry.kind === "event") {
    try {
      checkSignatures(entry.parsed.envelope);
    } catch (e) {
      if (!isTrustlogError(e)) throw e;
      throw new TrustlogError("POLICY_VIOLATION", `entry ${index}: ${e.code}: ${e.message}`, {
        index,
        policyCode: e.code,
      });
    }
  }
  return {
    index,
    log,
    entry,
    leafHash: toBase64(entry.leafHash),
    leaf: new TextDecoder().decode(leaf),
    inclusion: proof.map(toBase64),
  };
}
