// Which witnesses a client requires on a checkpoint: k of n named cosignature/v1 keys. A
// witness counts once however many lines it contributed, and a line that fails to verify simply
// does not count (the log attaches whatever it collected; a bad line cannot make a good
// checkpoint bad, only fail to make it witnessed).

import { equalBytes, utf8 } from "../core/bytes.js";
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
 * Returns the names of the policy's witnesses with a valid cosignature on `note`, or throws
 * QUORUM_NOT_MET when fewer than the quorum signed.
 */
export function checkWitnessQuorum(note: ParsedNote, policy: CompiledWitnessPolicy): string[] {
  const body = utf8(note.body);
  const signed: string[] = [];
  for (const w of policy.witnesses) {
    const ok = note.signatures.some(
      (s) => s.name === w.name && equalBytes(s.keyId, w.keyId) && w.verify(body, s.payload),
    );
    if (ok) signed.push(w.name);
  }
  if (signed.length < policy.quorum) {
    throw new TrustlogError(
      "QUORUM_NOT_MET",
      `checkpoint cosigned by ${signed.length} of the required ${policy.quorum} witnesses`,
      { cosigned: signed, quorum: policy.quorum },
    );
  }
  return signed;
}
