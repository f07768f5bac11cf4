// Sub-chains of an org's chain, for bounded account proofs (DESIGN.md §4, docs/client.md).
//
// An org's chain holds its authority (org.create, admin.add, admin.remove) and every grant it
// ever issued or revoked. To judge an account's events a verifier needs the authority events and
// the grants those events act under, never the org's other grants: an org of 100,000 grants
// must not make every account's proof carry 100,000 events. But a verifier given a subset must
// know it is not missing anything, and org events carry a `prev` only to the org chain's
// previous event, whatever its kind. So the index commits to each sub-chain as a running digest
//
//   d_0 = 32 zero bytes,   d_n = SHA-256("trustlog/subchain/v1" ‖ 0x00 ‖ d_{n-1} ‖ leafHash_n)
//
// with its length and the log index of its last event. A verifier folds the events it was
// served and compares: a left-out event, an extra one or another order gives another digest.

import { concat, fromBase64, toBase64, utf8 } from "./bytes.js";
import { sha256 } from "./sha256.js";

const DOMAIN = concat(utf8("trustlog/subchain/v1"), new Uint8Array([0]));

/** A sub-chain as state keeps it: how many events, the last one's index, the running digest. */
export interface Subchain {
  count: number;
  /** Log index of its last event. */
  index: number;
  /** Base64 of the running digest d_count. */
  digest: string;
}

/** The sub-chain after one more event (`prev` undefined for the first). */
export function extendSubchain(prev: Subchain | undefined, index: number, leafHash: Uint8Array): Subchain {
  const d = prev ? fromBase64(prev.digest) : new Uint8Array(32);
  return {
    count: (prev?.count ?? 0) + 1,
    index,
    digest: toBase64(sha256(concat(DOMAIN, d, leafHash))),
  };
}

/** Folds a sub-chain's events, in log order. Undefined for none. */
export function foldSubchain(
  events: readonly { index: number; leafHash: Uint8Array }[],
): Subchain | undefined {
  let s: Subchain | undefined;
  for (const e of events) s = extendSubchain(s, e.index, e.leafHash);
  return s;
}
