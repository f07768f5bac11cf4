// Which witnesses a client requires on a checkpoint: k of n named cosignature/v1 keys. A
// witness counts once however many lines it contributed, and a line that fails to verify simply
// does not count (the log attaches whatever it collected; a bad line cannot make a good
// checkpoint bad, only fail to make it witnessed).

import { equalBytes, utf8 } from "../core/bytes.js";
import { cosignatureTimestamp } from "../core/cosignature.js";
import { TrustlogError } from "../core/errors.js";
import { NOTE_TYPE_COSIGNATURE_V1, type ParsedNote, parseVerifierKey } from "../core/note.js";

export interface WitnessPolicy {
  /** cosignature/v1 verifier keys (vkey strings, type 0x04). */
  readonly witnesses: readonly string[];
  /** How many distinct witnesses must have cosigned. */
  readonly quorum: number;
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
}

/** Parses and checks a policy once (BAD_POLICY for a quorum no set of these keys can meet). */
export function compileWitnessPolicy(policy: WitnessPolicy): CompiledWitnessPolicy {
  const witnesses: Witness[] = [];
  for (const vkey of policy.witnesses) {
    const v = parseVerifierKey(vkey);
    if (v.type !== NOTE_TYPE_COSIGNATURE_V1) {
      throw new TrustlogError("BAD_POLICY", `witness key ${v.name} is not a cosignature/v1 key`);
    }
    // Two names for one key would let one witness count twice.
    if (witnesses.some((w) => w.name === v.name || equalBytes(w.publicKey, v.publicKey))) {
      throw new TrustlogError("BAD_POLICY", `witness ${v.name} is listed twice`);
    }
    witnesses.push({ name: v.name, publicKey: v.publicKey, keyId: v.keyId, verify: v.verify });
  }
  const q = policy.quorum;
  if (!Number.isSafeInteger(q) || q < 0 || q > witnesses.length) {
    throw new TrustlogError("BAD_POLICY", `quorum ${q} is not between 0 and ${witnesses.length}`);
  }
  return { quorum: q, witnesses };
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
  /** Names of the policy's witnesses whose cosignature verified (fresh or not). */
  cosigners: string[];
  /** Each cosigner's timestamp (Unix seconds), by name. */
  timestamps: Record<string, number>;
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
  return { cosigners, timestamps };
}
