// The log page's checks: the latest checkpoint against the pinned log key and witness policy,
// then against the last checkpoint this browser trusted (kept in the trust store): it must be
// at least as large and provably extend it. Only then is the trusted checkpoint advanced. A
// failure keeps both notes and the proof as evidence, since a log that forks is the one thing a
// user should be able to show someone else.

import { type VerifiedCheckpoint, verifyCheckpointNote } from "../../client/bundle.js";
import type { TrustedCheckpoint } from "../../client/trust-store.js";
import { checkConsistencyWithTrusted } from "../../client/verify-key.js";
import { toBase64 } from "../../core/bytes.js";
import { isTrustlogError, TrustlogError } from "../../core/errors.js";
import { freshness, type Session } from "../session.js";

export interface LogCheck {
  verified: VerifiedCheckpoint;
  /** The checkpoint this browser trusted before, if any. */
  previous?: TrustedCheckpoint;
  /** The consistency proof from `previous` (empty when the size did not change). */
  proof: string[];
}

/** Evidence of a checkpoint that does not extend the trusted one, as text to copy. */
export interface ForkEvidence {
  code: TrustlogError["code"];
  message: string;
  trustedNote: string;
  servedNote: string;
  proof: string[];
}

export class ForkError extends TrustlogError {
  constructor(readonly evidence: ForkEvidence) {
    super(evidence.code, evidence.message, { evidence });
  }
}

export function evidenceText(e: ForkEvidence): string {
  return [
    `trustlog explorer: ${e.code}: ${e.message}`,
    "",
    "-- checkpoint trusted by this browser --",
    e.trustedNote.trimEnd(),
    "",
    "-- checkpoint served now --",
    e.servedNote.trimEnd(),
    "",
    "-- consistency proof served (base64 hashes) --",
    ...(e.proof.length ? e.proof : ["(none)"]),
    "",
  ].join("\n");
}

export async function checkLatest(s: Session): Promise<LogCheck> {
  const text = await s.client.checkpoint();
  const verified = verifyCheckpointNote(text, s.log, s.policy, freshness(s));
  for (let attempt = 0; attempt < 5; attempt++) {
    const state = await s.store.load(s.log.vkey);
    let proof: Uint8Array[] = [];
    try {
      await checkConsistencyWithTrusted(state, verified, undefined, {
        consistency: async (from, to) => {
          proof = await s.client.consistency(from, to);
          return proof;
        },
      });
    } catch (e) {
      if (!isTrustlogError(e) || (e.code !== "INCONSISTENT" && e.code !== "ROLLBACK")) throw e;
      throw new ForkError({
        code: e.code,
        message: e.message,
        trustedNote: state.checkpoint?.note ?? "",
        servedNote: text,
        proof: proof.map(toBase64),
      });
    }
    const cp = verified.checkpoint;
    const previous = state.checkpoint;
    if (previous && previous.size === cp.size) return { verified, previous, proof: [] };
    const next = {
      ...state,
      checkpoint: { origin: cp.origin, size: cp.size, root: toBase64(cp.root), note: text },
    };
    if (await s.store.compareAndSave(s.log.vkey, state.version, next))
      return { verified, ...(previous ? { previous } : {}), proof: proof.map(toBase64) };
    // Another tab (or view) advanced the trust state meanwhile: check against what it trusted.
  }
  throw new TrustlogError("TRUST_STORE_BUSY", "trust store keeps changing");
}
