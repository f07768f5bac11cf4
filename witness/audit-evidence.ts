// Evidence that a log broke the trustlog rules, from an auditing witness (witness/auditor.ts):
// one checkpoint the log signed, the offending entries with their inclusion proofs against it,
// and the violation (core/log-replay.ts code, the policy code, the entry). Anyone with the log's
// key and core/ checks that the log signed the checkpoint and that the entries are in its tree.
//
// Some violations then need nothing more ("proven"):
//   - EVENT_MALFORMED: the entry does not parse as a trustlog entry;
//   - INDEX_MISSING: the checkpoint's last entry is not an index leaf;
//   - INDEX_INVALID where the index leaf names another position than its own;
//   - two events of one chain at one seq (a second event at an existing seq): both entries are
//     shipped, and a log may hold only one of them whatever came before.
// The others depend on the state before the entry (who was admin, which grants were live, what
// the index trie held): the evidence names the entry and the rule ("replay"), and a witness
// confirms it by replaying the log's entries up to the checkpoint with core's LogReplayer
// (witness/audit-confirm.ts) before it stops cosigning. Shipping the state would not help a
// reader that trusts only the log key: the state is only as good as the replay that built it.

import { fromBase64, toBase64, toHex, utf8 } from "../core/bytes.js";
import { isIndexLeaf, parseIndexLeaf, parseLogEntry } from "../core/chain-index.js";
import { type Checkpoint, parseCheckpoint } from "../core/checkpoint.js";
import { TrustlogError } from "../core/errors.js";
import { isOrgEventType } from "../core/event.js";
import { type HashReader, leafHash } from "../core/merkle.js";
import { type NoteVerifier, openNote, parseNote } from "../core/note.js";
import { checkInclusion, proveInclusion } from "../core/proof.js";
import { sha256 } from "../core/sha256.js";
import type { Evidence } from "./evidence.js";
import { evidenceFromJson, evidenceToJson } from "./evidence.js";

/** At most this many entries in one piece of evidence (a violation and what it conflicts with). */
export const MAX_AUDIT_ENTRIES = 8;

export interface AuditViolation {
  /** The entry that breaks the rule. */
  index: number;
  /** core/log-replay.ts Violation code: EVENT_MALFORMED, POLICY_VIOLATION, INDEX_INVALID, … */
  code: string;
  /** For POLICY_VIOLATION: the policy's code (NOT_ADMIN, CHAIN_CONFLICT, …). */
  policyCode?: string;
  message: string;
}

export interface AuditEntryProof {
  index: number;
  /** Base64 of the entry's bytes (the Merkle leaf). */
  leaf: string;
  /** Base64 inclusion proof against the evidence's checkpoint. */
  inclusion: string[];
}

export interface AuditEvidence {
  origin: string;
  kind: "audit";
  /** The log-signed checkpoint note the entries are proved against. */
  note: string;
  violation: AuditViolation;
  entries: AuditEntryProof[];
  detectedAt?: string;
}

/** Any evidence a witness stores, serves and gossips. */
export type AnyEvidence = Evidence | AuditEvidence;

export function isAuditEvidence(e: AnyEvidence): e is AuditEvidence {
  return e.kind === "audit";
}

/** "proven": checkable from the evidence alone; "replay": needs the log replayed up to it. */
export type AuditVerdict = "proven" | "replay";

function invalid(message: string): TrustlogError {
  return new TrustlogError("EVIDENCE_INVALID", message);
}

/**
 * Builds the evidence: inclusion proofs of `leaves` (index → bytes) from `reader`, a reader of
 * the log's tree at the checkpoint's size (its tiles), each checked against the checkpoint's
 * root. Throws LOG_TREE_MISMATCH when the tiles are not that tree's.
 */
export async function buildAuditEvidence(
  origin: string,
  note: string,
  cp: Checkpoint,
  violation: AuditViolation,
  leaves: ReadonlyMap<number, Uint8Array>,
  reader: HashReader,
): Promise<AuditEvidence> {
  const entries: AuditEntryProof[] = [];
  for (const [index, leaf] of [...leaves].sort((a, b) => a[0] - b[0]).slice(0, MAX_AUDIT_ENTRIES)) {
    const proof = await proveInclusion(index, cp.size, reader);
    try {
      checkInclusion(leafHash(leaf), index, cp.size, proof, cp.root);
    } catch {
      throw new TrustlogError("LOG_TREE_MISMATCH", `the log's tiles do not prove entry ${index}`);
    }
    entries.push({ index, leaf: toBase64(leaf), inclusion: proof.map(toBase64) });
  }
  return { origin, kind: "audit", note, violation: { ...violation }, entries };
}

/** The chain an event belongs to and its seq; undefined for anything that is not an event. */
function chainOf(leaf: Uint8Array): { chain: string; seq: number } | undefined {
  try {
    const e = parseLogEntry(leaf);
    if (e.kind !== "event") return undefined;
    const ev = e.parsed.envelope.event;
    return { chain: `${isOrgEventType(ev.type) ? "org" : "account"}\n${ev.org}\n${ev.subject}`, seq: ev.seq };
  } catch {
    return undefined;
  }
}

/**
 * Checks audit evidence against the log's key(s): the checkpoint is signed, every entry is in
 * its tree, the violation names one of them, and a self-contained claim holds. Returns the
 * checkpoint and whether the violation is proven or needs a replay to confirm. Throws
 * EVIDENCE_INVALID. `e` is attacker-controlled.
 */
export function checkAuditEvidence(
  e: AuditEvidence,
  logVerifier: NoteVerifier | readonly NoteVerifier[],
): { checkpoint: Checkpoint; verdict: AuditVerdict } {
  const verifiers = Array.isArray(logVerifier) ? logVerifier : [logVerifier as NoteVerifier];
  if (typeof e !== "object" || e === null || e.kind !== "audit") throw invalid("not audit evidence");
  if (typeof e.origin !== "string" || typeof e.note !== "string")
    throw invalid("origin and note are strings");
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(openNote(e.note, verifiers).body);
  } catch (x) {
    throw invalid(`the checkpoint is not validly signed by the log: ${(x as Error).message}`);
  }
  if (cp.origin !== e.origin) throw invalid("the checkpoint is for another origin");
  const v = e.violation;
  if (
    typeof v !== "object" ||
    v === null ||
    !Number.isSafeInteger(v.index) ||
    typeof v.code !== "string" ||
    (v.policyCode !== undefined && typeof v.policyCode !== "string")
  ) {
    throw invalid("malformed violation");
  }
  if (!Array.isArray(e.entries) || e.entries.length === 0 || e.entries.length > MAX_AUDIT_ENTRIES) {
    throw invalid(`1 to ${MAX_AUDIT_ENTRIES} entries`);
  }
  const leaves = new Map<number, Uint8Array>();
  for (const entry of e.entries) {
    if (typeof entry !== "object" || entry === null || !Number.isSafeInteger(entry.index))
      throw invalid("malformed entry");
    if (leaves.has(entry.index)) throw invalid(`entry ${entry.index} is listed twice`);
    let leaf: Uint8Array;
    let proof: Uint8Array[];
    try {
      leaf = fromBase64(String(entry.leaf));
      if (!Array.isArray(entry.inclusion) || entry.inclusion.length > 64) throw new Error("bad proof");
      proof = entry.inclusion.map((h) => fromBase64(String(h)));
    } catch {
      throw invalid(`entry ${entry.index} is not base64`);
    }
    try {
      checkInclusion(leafHash(leaf), entry.index, cp.size, proof, cp.root);
    } catch {
      throw invalid(`entry ${entry.index} is not in the checkpoint's tree`);
    }
    leaves.set(entry.index, leaf);
  }
  const bad = leaves.get(v.index);
  if (!bad) throw invalid("the violation's entry is not in the evidence");
  return { checkpoint: cp, verdict: selfContained(v, bad, cp, leaves) };
}

function selfContained(
  v: AuditViolation,
  bad: Uint8Array,
  cp: Checkpoint,
  leaves: ReadonlyMap<number, Uint8Array>,
): AuditVerdict {
  switch (v.code) {
    case "EVENT_MALFORMED":
      try {
        parseLogEntry(bad);
      } catch {
        return "proven";
      }
      throw invalid(`entry ${v.index} parses: it is not malformed`);
    case "INDEX_MISSING":
      if (v.index === cp.size - 1 && !isIndexLeaf(bad)) return "proven";
      throw invalid("the checkpoint does end with an index leaf");
    case "INDEX_INVALID":
      if (isIndexLeaf(bad)) {
        try {
          if (parseIndexLeaf(bad).size !== v.index) return "proven";
        } catch {
          // malformed: for a replay to judge
        }
      }
      return "replay";
    case "POLICY_VIOLATION": {
      const mine = chainOf(bad);
      if (mine) {
        for (const [index, leaf] of leaves) {
          if (index === v.index) continue;
          const other = chainOf(leaf);
          if (other && other.chain === mine.chain && other.seq === mine.seq) return "proven";
        }
      }
      return "replay";
    }
    default:
      return "replay";
  }
}

/** Identifies the violation (checkpoint body, entry, rule), whoever reports it. */
export function auditEvidenceFingerprint(e: AuditEvidence): string {
  let body = "";
  try {
    body = parseNote(e.note).body;
  } catch {
    body = e.note;
  }
  const v = e.violation;
  return toHex(sha256(utf8(`audit\n${body}\n${v.index}\n${v.code}\n${v.policyCode ?? ""}`)));
}

/** JSON as served at GET /v1/evidence (snake_case like the rest). */
export function anyEvidenceToJson(e: AnyEvidence): Record<string, unknown> {
  if (!isAuditEvidence(e)) return evidenceToJson(e);
  const v = e.violation;
  return {
    origin: e.origin,
    kind: "audit",
    checkpoint: e.note,
    violation: {
      index: v.index,
      code: v.code,
      ...(v.policyCode !== undefined ? { policy_code: v.policyCode } : {}),
      message: v.message,
    },
    entries: e.entries,
    detected_at: e.detectedAt,
  };
}

/** Reads one item of GET /v1/evidence, of any kind; shape only, the check functions do the rest. */
export function anyEvidenceFromJson(x: unknown): AnyEvidence {
  if (typeof x !== "object" || x === null) throw invalid("evidence must be an object");
  const o = x as Record<string, unknown>;
  if (o.kind !== "audit") return evidenceFromJson(x);
  const v = (o.violation ?? {}) as Record<string, unknown>;
  const e: AuditEvidence = {
    origin: o.origin as string,
    kind: "audit",
    note: o.checkpoint as string,
    violation: {
      index: v.index as number,
      code: v.code as string,
      ...(v.policy_code !== undefined ? { policyCode: v.policy_code as string } : {}),
      message: typeof v.message === "string" ? v.message : "",
    },
    entries: o.entries as AuditEntryProof[],
  };
  if (typeof o.detected_at === "string") e.detectedAt = o.detected_at;
  return e;
}
