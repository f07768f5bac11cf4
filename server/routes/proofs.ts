// Inclusion and consistency proofs (RFC 9162 §2.1.3-2.1.4) against any tree size up to the
// latest published checkpoint (deps.latest: with a publish quorum, the latest witnessed one); a
// size beyond it has no checkpoint a client could check against, and an entry beyond it is not
// public yet: it is answered as if absent.

import { Hono } from "hono";
import type { ConsistencyProofAnswer, InclusionProofAnswer } from "../../core/api-types.js";
import { toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { consistencyProofRanges, inclusionProofRanges } from "../../core/proof.js";
import type { AppDeps } from "../app.js";
import type { LogStore } from "../storage/log-store.js";
import { decimal, hash32 } from "./params.js";

/**
 * The answer to an inclusion proof of entry `index` in the tree of `size` (at most `latest`, the
 * latest published size: the caller checked), or NOT_FOUND / OUT_OF_RANGE. Shared by the route
 * and the fast path in front of the app (server/fast-proofs.ts), so that both answer alike.
 */
export async function inclusionProofByIndex(
  store: LogStore,
  latest: number,
  index: number,
  size: number,
): Promise<InclusionProofAnswer> {
  if (index >= latest) throw new TrustlogError("NOT_FOUND", `no entry ${index} in the latest checkpoint`);
  // The leaf hash is in the level-0 tile (cached), not worth a query of the entries table.
  const [leafHash] = (await store.hashReader(latest).readHashes([{ level: 0, index }])) as [Uint8Array];
  return inclusionProof(store, index, leafHash, size);
}

async function inclusionProof(
  store: LogStore,
  index: number,
  leafHash: Uint8Array,
  size: number,
): Promise<InclusionProofAnswer> {
  if (index >= size) {
    throw new TrustlogError("OUT_OF_RANGE", `entry ${index} is not in the tree of size ${size}`);
  }
  const hashes = await store.rangeHashes(inclusionProofRanges(index, size), size);
  return { index, size, leafHash: toBase64(leafHash), hashes: hashes.map(toBase64) };
}

export function proofRoutes(deps: AppDeps): Hono {
  const app = new Hono();

  const latestSize = async () => (await deps.latest.get())?.size ?? 0;

  app.get("/v1/proof/inclusion", async (c) => {
    const latest = await latestSize();
    const size = decimal(c.req.query("size"), "size", true) ?? latest;
    if (size > latest) {
      throw new TrustlogError("OUT_OF_RANGE", `size ${size} is beyond the latest checkpoint (${latest})`);
    }
    const byHash = c.req.query("leafHash");
    const byIndex = c.req.query("index");
    if ((byHash === undefined) === (byIndex === undefined)) {
      throw new TrustlogError("BAD_QUERY", "give exactly one of index and leafHash");
    }
    if (byHash === undefined) {
      return c.json(await inclusionProofByIndex(deps.store, latest, decimal(byIndex, "index"), size));
    }
    const leafHash = hash32(byHash, "leafHash");
    const found = await deps.store.findLeaf(leafHash);
    if (found === undefined || found >= latest)
      throw new TrustlogError("NOT_FOUND", "no entry has this leaf hash in the latest checkpoint");
    return c.json(await inclusionProof(deps.store, found, leafHash, size));
  });

  app.get("/v1/proof/consistency", async (c) => {
    const latest = await latestSize();
    const from = decimal(c.req.query("from"), "from");
    const to = decimal(c.req.query("to"), "to", true) ?? latest;
    if (to > latest) {
      throw new TrustlogError("OUT_OF_RANGE", `size ${to} is beyond the latest checkpoint (${latest})`);
    }
    if (from > to) throw new TrustlogError("OUT_OF_RANGE", `from (${from}) is larger than to (${to})`);
    const hashes = await deps.store.rangeHashes(consistencyProofRanges(from, to), to);
    const answer: ConsistencyProofAnswer = { from, to, hashes: hashes.map(toBase64) };
    return c.json(answer);
  });

  return app;
}
