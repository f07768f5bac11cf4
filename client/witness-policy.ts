// Which witnesses a client requires on a checkpoint: k of n named cosignature/v1 keys. A
// witness counts once however many lines it contributed, and a line that fails to verify simply
// does not count (the log attaches whatever it collected; a bad line cannot make a good
// checkpoint bad, only fail to make it witnessed).

import { equalBytes, utf8 } from "../core/bytes.js";
import { cosignatureTimestamp } from "../core/cosignature.js";
import { TrustlogError } from "../core/errors.js";
import { NOTE_TYPE_COSIGNATURE_V1, type ParsedNote } from "../core/note.js";
import { parseVerifierKey } from "../core/note-keys.js";

export interface WitnessPolicy {
  /** cosignature/v1 verifier keys (vkey strings, type 0x04). */
  readonly witnesses: readonly string[];
  /** How many distinct witnesses must have cosigned. */
  readonly quorum: number;
  /**
   * Auditing witnesses (cosignature/v1 vkeys, which may also be among `witnesses`): witnesses
   * whose key, for this log, also states AUDIT_STATEMENT (docs/witness.md). Besides the quorum,
   * `auditorQuorum` of them must have cosigned.
   */
  readonly auditors?: readonly string[];
  /** How many distinct auditors must have cosigned (default: all of `auditors`). */
  readonly auditorQuorum?: number;
}

/** What a plain cosignature states (C2SP tlog-cosignature): consistent with all it cosigned before. */
export const PLAIN_STATEMENT = "cosignature/v1";
/** What an auditing witness's cosignature also states: every entry replayed with the trustlog rules. */
export const AUDIT_STATEMENT = "trustlog-audit/v1";

/** A statement a verification relied on, and the witnesses that made it. */
export interface ReliedStatement {
  statement: string;
  quorum: number;
  witnesses: string[];
}

interface Witness {
  name: string;
  publicKey: Uint8Array;
  keyId: Uint8Array;
  verify(body: Uint8Array, payload: Uint8Array): boolean;
}

export interface CompiledWitnessPolicy {
  readonly quorum: number;
  readonly witnesses: readonly Witness[];
  /** The auditors' requirement, when the policy has one. */
  readonly auditors?: { readonly quorum: number; readonly witnesses: readonly Witness[] };
}

function compileKeys(vkeys: readonly string[], what: string): Witness[] {
  const witnesses: Witness[] = [];
  for (const vkey of vkeys) {
    const v = parseVerifierKey(vkey);
    if (v.type !== NOTE_TYPE_COSIGNATURE_V1) {
      throw new TrustlogError("BAD_POLICY", `${what} key ${v.name} is not a cosignature/v1 key`);
    }
    // Two names for one key would let one witness count twice.
    if (witnesses.some((w) => w.name === v.name || equalBytes(w.publicKey, v.publicKey))) {
      throw new TrustlogError("BAD_POLICY", `${what} ${v.name} is listed twice`);
    }
    witnesses.push({ name: v.name, publicKey: v.publicKey, keyId: v.keyId, verify: v.verify });
  }
  return witnesses;
}

/** Parses and checks a policy once (BAD_POLICY for a quorum no set of these keys can meet). */
export function compileWitnessPolicy(policy: WitnessPolicy): CompiledWitnessPolicy {
  const witnesses = compileKeys(policy.witnesses, "witness");
  const q = policy.quorum;
  if (!Number.isSafeInteger(q) || q < 0 || q > witnesses.length) {
    throw new TrustlogError("BAD_POLICY", `quorum ${q} is not between 0 and ${witnesses.length}`);
  }
  if (!policy.auditors || policy.auditors.length === 0) return { quorum: q, witnesses };
  const auditors = compileKeys(policy.auditors, "auditor");
  for (const a of auditors) {
    // One key under two names (or one name for two keys) across the lists is a typo at best.
    const same = witnesses.find((w) => w.name === a.name || equalBytes(w.publicKey, a.publicKey));
    if (same && (same.name !== a.name || !equalBytes(same.publicKey, a.publicKey)))
      throw new TrustlogError("BAD_POLICY", `auditor ${a.name} and witness ${same.name} disagree`);
  }
  const k = policy.auditorQuorum ?? auditors.length;
  if (!Number.isSafeInteger(k) || k < 1 || k > auditors.length) {
    throw new TrustlogError("BAD_POLICY", `auditor quorum ${k} is not between 1 and ${auditors.length}`);
  }
  return { quorum: q, witnesses, auditors: { quorum: k, witnesses: auditors } };
}

/**
 * How old a quorum of cosignatures may be, by default: one hour. A log re-submits its latest
 * checkpoint to its witnesses every 30 s while idle, so a healthy log's cosignatures are
 * seconds old; an hour leaves room for a witness outage while bounding how long a log can keep
 * showing a client an old checkpoint (one that hides a revocation made since).
 */
export const DEFAULT_MAX_AGE_SECONDS = 3600;

export interface Freshness {
  /** Now, in Unix seconds. */
  now: number;
  /** The quorum's cosignatures must be at most this old. */
  maxAgeSeconds: number;
}

export interface QuorumResult {
  /** Names of the policy's witnesses (auditors included) whose cosignature verified (fresh or not). */
  cosigners: string[];
  /** Each cosigner's timestamp (Unix seconds), by name. */
  timestamps: Record<string, number>;
  /** Names of the policy's auditors whose cosignature verified (and was fresh, when asked). */
  auditors?: string[];
}

/** The newest valid cosignature of each of `witnesses` on `note` (Unix seconds), by name. */
function cosignatureTimes(note: ParsedNote, witnesses: readonly Witness[]): Map<string, number> {
  const body = utf8(note.body);
  const out = new Map<string, number>();
  for (const w of witnesses) {
    let newest: number | undefined;
    for (const s of note.signatures) {
      if (s.name !== w.name || !equalBytes(s.keyId, w.keyId) || !w.verify(body, s.payload)) continue;
      const t = cosignatureTimestamp(s.payload);
      if (newest === undefined || t > newest) newest = t;
    }
    if (newest !== undefined) out.set(w.name, newest);
  }
  return out;
}

/**
 * The statements a checkpoint accepted by `checkWitnessQuorum` relied on: the plain one always,
 * the auditors' when the policy requires them, each with the witnesses whose cosignature
 * counted (`cosigners` and `timestamps` as checkWitnessQuorum returned them).
 */
export function reliedStatements(
  policy: CompiledWitnessPolicy,
  cosigners: readonly string[],
  timestamps: Readonly<Record<string, number>>,
  fresh?: Freshness,
): ReliedStatement[] {
  const oldest = fresh ? fresh.now - fresh.maxAgeSeconds : Number.NEGATIVE_INFINITY;
  const counted = (ws: readonly Witness[]) =>
    ws.filter((w) => cosigners.includes(w.name) && (timestamps[w.name] ?? -1) >= oldest).map((w) => w.name);
  const out: ReliedStatement[] = [
    { statement: PLAIN_STATEMENT, quorum: policy.quorum, witnesses: counted(policy.witnesses) },
  ];
  if (policy.auditors)
    out.push({
      statement: AUDIT_STATEMENT,
      quorum: policy.auditors.quorum,
      witnesses: counted(policy.auditors.witnesses),
    });
  return out;
}

/**
 * Returns the policy's witnesses with a valid cosignature on `note`, or throws QUORUM_NOT_MET
 * when fewer than the quorum signed. With `fresh`, only cosignatures at most maxAgeSeconds old
 * count towards the quorum, and a quorum met only with older ones is CHECKPOINT_STALE.
 */
export function checkWitnessQuorum(
  note: ParsedNote,
  policy: CompiledWitnessPolicy,
  fresh?: Freshness,
): QuorumResult {
  const body = utf8(note.body);
  const cosigners: string[] = [];
  const timestamps: Record<string, number> = {};
  for (const w of policy.witnesses) {
    let newest: number | undefined;
    for (const s of note.signatures) {
      if (s.name !== w.name || !equalBytes(s.keyId, w.keyId) || !w.verify(body, s.payload)) continue;
      const t = cosignatureTimestamp(s.payload);
      if (newest === undefined || t > newest) newest = t;
    }
    if (newest === undefined) continue;
    cosigners.push(w.name);
    Object.defineProperty(timestamps, w.name, { value: newest, enumerable: true, writable: true });
  }
  if (cosigners.length < policy.quorum) {
    throw new TrustlogError(
      "QUORUM_NOT_MET",
      `checkpoint cosigned by ${cosigners.length} of the required ${policy.quorum} witnesses`,
      { cosigned: cosigners, quorum: policy.quorum },
    );
  }
  if (fresh && policy.quorum > 0) {
    const oldest = fresh.now - fresh.maxAgeSeconds;
    const recent = cosigners.filter((n) => timestamps[n]! >= oldest);
    if (recent.length < policy.quorum) {
      const times = cosigners.map((n) => timestamps[n]!).sort((a, b) => b - a);
      const quorumTime = times[policy.quorum - 1]!;
      throw new TrustlogError(
        "CHECKPOINT_STALE",
        `the newest quorum of cosignatures is ${fresh.now - quorumTime} s old, more than the ${fresh.maxAgeSeconds} s allowed`,
        { ageSeconds: fresh.now - quorumTime, maxAgeSeconds: fresh.maxAgeSeconds, cosigned: cosigners },
      );
    }
  }
  if (!policy.auditors) return { cosigners, timestamps };
  // Auditors: their own k-of-n, fresh like the quorum. A plain quorum does not stand in for it:
  // only an auditing witness's key says the entries obey the rules.
  const times = cosignatureTimes(note, policy.auditors.witnesses);
  const oldest = fresh ? fresh.now - fresh.maxAgeSeconds : Number.NEGATIVE_INFINITY;
  const auditors = [...times].filter(([, t]) => t >= oldest).map(([n]) => n);
  if (auditors.length < policy.auditors.quorum) {
    const stale = [...times.keys()].filter((n) => !auditors.includes(n));
    throw new TrustlogError(
      "AUDIT_QUORUM_NOT_MET",
      `checkpoint cosigned by ${auditors.length} of the required ${policy.auditors.quorum} auditing witnesses${stale.length ? ` (${stale.join(", ")} too long ago)` : ""}: no quorum of auditors vouches that its entries obey the rules`,
      { auditors, stale, quorum: policy.auditors.quorum },
    );
  }
  for (const [n, t] of times) {
    if (cosigners.includes(n)) continue;
    cosigners.push(n);
    Object.defineProperty(timestamps, n, { value: t, enumerable: true, writable: true });
  }
  return { cosigners, timestamps, auditors };
}
