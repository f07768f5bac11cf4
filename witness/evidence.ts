// Evidence that a log equivocated: two checkpoints, each validly signed by the log, that cannot
// both be true. Anyone holding the log's verifier key can check it with core/ alone, so a
// witness can hand it to peers, monitors or a court without being trusted itself.
//
// Two kinds:
//   - "same-size": both checkpoints have the same tree size and different roots.
//   - "inconsistent": sizes differ (smaller first), and `proof` is a consistency proof from the
//     smaller size to the larger checkpoint's root that proves the tree at the smaller size had
//     root `provenRoot`, which is not the smaller checkpoint's root. The proof is built from the
//     log's own tiles; a valid proof binds exactly one old root, so no further trust is needed.
//
// A larger tree whose log simply cannot (or will not) produce a proof is suspicious but proves
// nothing portable; witnesses log it and keep trying, they do not store it as evidence.

import { equalBytes, fromBase64, toBase64, toHex, utf8 } from "../core/bytes.js";
import { type Checkpoint, parseCheckpoint } from "../core/checkpoint.js";
import { TrustlogError } from "../core/errors.js";
import { type HashReader, rootHash } from "../core/merkle.js";
import { type NoteVerifier, openNote } from "../core/note.js";
import { checkConsistency, proveConsistency } from "../core/proof.js";
import { sha256 } from "../core/sha256.js";
import type { AnyEvidence } from "./audit-evidence.js";

export type EvidenceKind = "same-size" | "inconsistent";

export interface Evidence {
  origin: string;
  kind: EvidenceKind;
  /** Two signed notes of the log; for "inconsistent", the smaller tree first. */
  notes: [string, string];
  /** "inconsistent" only: base64 consistency-proof hashes, smaller size → larger checkpoint. */
  proof?: string[];
  /** "inconsistent" only: base64 root of the tree at the smaller size, as the proof shows it. */
  provenRoot?: string;
  /** ISO 8601 time the witness first detected it (informative, not checked). */
  detectedAt?: string;
}

function invalid(message: string): TrustlogError {
  return new TrustlogError("EVIDENCE_INVALID", message);
}

function openCheckpoint(note: string, verifiers: readonly NoteVerifier[], origin: string): Checkpoint {
  let body: string;
  try {
    body = openNote(note, verifiers).body;
  } catch (e) {
    throw invalid(`a note is not validly signed by the log: ${(e as Error).message}`);
  }
  let c: Checkpoint;
  try {
    c = parseCheckpoint(body);
  } catch (e) {
    throw invalid(`a note is not a checkpoint: ${(e as Error).message}`);
  }
  if (c.origin !== origin) throw invalid("a checkpoint is for another origin");
  return c;
}

/**
 * Checks evidence against the log's verifier key(s). Returns the two checkpoints when they
 * cannot both be true; throws EVIDENCE_INVALID otherwise (bad signature, not a contradiction,
 * wrong proof). `evidence` is attacker-controlled (it arrives from peers).
 */
export function checkEvidence(
  any: AnyEvidence,
  logVerifier: NoteVerifier | readonly NoteVerifier[],
): { a: Checkpoint; b: Checkpoint } {
  const verifiers = Array.isArray(logVerifier) ? logVerifier : [logVerifier as NoteVerifier];
  if (typeof any !== "object" || any === null) throw invalid("evidence must be an object");
  // Audit evidence (one checkpoint, offending entries) has its own check: checkAuditEvidence.
  if (any.kind === "audit") throw invalid("audit evidence is checked with checkAuditEvidence");
  const evidence: Evidence = any;
  const { origin, kind, notes } = evidence;
  if (typeof origin !== "string") throw invalid("origin must be a string");
  if (!Array.isArray(notes) || notes.length !== 2 || notes.some((n) => typeof n !== "string")) {
    throw invalid("notes must be two strings");
  }
  const a = openCheckpoint(notes[0], verifiers, origin);
  const b = openCheckpoint(notes[1], verifiers, origin);
  if (kind === "same-size") {
    if (a.size !== b.size) throw invalid("same-size evidence with different sizes");
    if (equalBytes(a.root, b.root)) throw invalid("the two checkpoints agree");
    return { a, b };
  }
  if (kind !== "inconsistent") throw invalid("unknown evidence kind");
  if (!(a.size > 0 && a.size < b.size))
    throw invalid("inconsistent evidence needs 0 < first size < second size");
  if (
    !Array.isArray(evidence.proof) ||
    evidence.proof.length > 63 ||
    typeof evidence.provenRoot !== "string"
  ) {
    throw invalid("inconsistent evidence needs a proof and a proven root");
  }
  let proof: Uint8Array[];
  let proven: Uint8Array;
  try {
    proof = evidence.proof.map((h) => fromBase64(h));
    proven = fromBase64(evidence.provenRoot);
  } catch {
    throw invalid("proof hashes must be base64");
  }
  if (proven.length !== 32 || proof.some((h) => h.length !== 32)) throw invalid("hashes are 32 bytes");
  try {
    checkConsistency(a.size, b.size, proven, b.root, proof);
  } catch {
    throw invalid("the proof does not verify against the larger checkpoint");
  }
  if (equalBytes(proven, a.root)) throw invalid("the proof shows the two checkpoints are consistent");
  return { a, b };
}

/** Identifies the contradiction (the pair of checkpoint bodies), whoever reports it. */
export function evidenceFingerprint(evidence: Evidence): string {
  const bodies = evidence.notes.map((n) => n.slice(0, n.lastIndexOf("\n\n") + 1)).sort();
  return toHex(sha256(utf8(`${evidence.kind}\n${bodies[0]}\n${bodies[1]}`)));
}

/** Evidence for two same-size checkpoints with different roots (checked by the caller). */
export function sameSizeEvidence(origin: string, noteA: string, noteB: string): Evidence {
  return { origin, kind: "same-size", notes: [noteA, noteB] };
}

/**
 * Decides whether two checkpoints of different sizes are consistent, using `reader`, a reader of
 * the log's tree at the larger size (for example its tiles). Returns undefined when they are
 * consistent, evidence when the log's own tree contradicts the smaller checkpoint, and throws
 * LOG_TREE_MISMATCH when the reader's tree is not the larger checkpoint's (the log served tiles
 * of another tree: suspicious, not portable).
 */
export async function proveInconsistency(
  origin: string,
  small: { note: string; checkpoint: Checkpoint },
  big: { note: string; checkpoint: Checkpoint },
  reader: HashReader,
): Promise<Evidence | undefined> {
  const s = small.checkpoint;
  const b = big.checkpoint;
  if (!(s.size > 0 && s.size < b.size))
    throw new TrustlogError("BAD_ARGUMENT", "need 0 < small size < big size");
  const proof = await proveConsistency(s.size, b.size, reader);
  try {
    checkConsistency(s.size, b.size, s.root, b.root, proof);
    return undefined;
  } catch {
    // Fall through: find out which root the log's tree really has at the smaller size.
  }
  const provenRoot = await rootHash(s.size, reader);
  try {
    checkConsistency(s.size, b.size, provenRoot, b.root, proof);
  } catch {
    throw new TrustlogError("LOG_TREE_MISMATCH", "the log's tree does not match its larger checkpoint");
  }
  return {
    origin,
    kind: "inconsistent",
    notes: [small.note, big.note],
    proof: proof.map(toBase64),
    provenRoot: toBase64(provenRoot),
  };
}

/** The JSON form served at GET /v1/evidence (snake_case, like the rest of the HTTP API). */
export function evidenceToJson(e: Evidence): Record<string, unknown> {
  return {
    origin: e.origin,
    kind: e.kind,
    notes: e.notes,
    ...(e.proof ? { proof: e.proof, proven_root: e.provenRoot } : {}),
    detected_at: e.detectedAt,
  };
}

/** Reads one entry of GET /v1/evidence; shape only, checkEvidence does the rest. */
export function evidenceFromJson(v: unknown): Evidence {
  if (typeof v !== "object" || v === null) throw invalid("evidence must be an object");
  const o = v as Record<string, unknown>;
  const e: Evidence = {
    origin: o.origin as string,
    kind: o.kind as EvidenceKind,
    notes: o.notes as [string, string],
  };
  if (o.proof !== undefined) e.proof = o.proof as string[];
  if (o.proven_root !== undefined) e.provenRoot = o.proven_root as string;
  if (typeof o.detected_at === "string") e.detectedAt = o.detected_at;
  return e;
}
