// History proof bundles (docs/client.md): everything a client needs to verify an account's keys
// (or an org's authority) against ONE checkpoint, in one round trip. The bundle carries the
// checkpoint with its cosignatures, every event of the account, and the whole org chain up to
// that checkpoint (a replay needs the org chain complete: admins, grants and revocations all
// decide whether a later event was allowed), each as its exact leaf bytes with an inclusion
// proof. Nothing here is trusted by the client; it only saves round trips.

import { Hono } from "hono";
import { toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { proveConsistency, proveInclusion } from "../../core/proof.js";
import type { EventRef, LogStore } from "../store.js";
import { decimal, id } from "./params.js";

/** The routes `GET /v1/orgs/:org/proof` and `GET /v1/orgs/:org/accounts/:account/proof`. */
export function historyRoutes(store: LogStore): Hono {
  const app = new Hono();

  app.get("/v1/orgs/:org/proof", async (c) => {
    const org = id(c.req.param("org"), "org");
    const from = decimal(c.req.query("from"), "from", true);
    return c.json(await historyBundle(store, org, undefined, from), 200, { "Cache-Control": "no-cache" });
  });

  app.get("/v1/orgs/:org/accounts/:account/proof", async (c) => {
    const org = id(c.req.param("org"), "org");
    const account = id(c.req.param("account"), "account");
    const from = decimal(c.req.query("from"), "from", true);
    return c.json(await historyBundle(store, org, account, from), 200, { "Cache-Control": "no-cache" });
  });

  return app;
}

export async function historyBundle(
  store: LogStore,
  org: string,
  account: string | undefined,
  from?: number,
) {
  // The checkpoint is read first: events committed after it are left out, having no proof yet.
  const checkpoint = await store.latestCheckpoint();
  if (!checkpoint) throw new TrustlogError("NOT_FOUND", "the log has not published a checkpoint yet");
  const size = checkpoint.size;
  const reader = store.hashReader(size);
  const withProofs = async (refs: EventRef[]) => {
    const out = [];
    for (const r of refs) {
      if (r.index >= size) continue;
      const entry = await store.getEntry(r.index);
      if (!entry) throw new TrustlogError("INTERNAL", `entry ${r.index} is missing`);
      const inclusion = await proveInclusion(r.index, size, reader);
      out.push({ index: r.index, envelope: toBase64(entry.envelope), inclusion: inclusion.map(toBase64) });
    }
    return out;
  };
  const orgEvents = await withProofs(await store.orgEvents(org));
  if (orgEvents.length === 0) throw new TrustlogError("NOT_FOUND", `no org ${org}`);
  const bundle: Record<string, unknown> = {
    version: 1,
    checkpoint: checkpoint.note + checkpoint.cosignatures.join(""),
    org,
    orgEvents,
  };
  if (account !== undefined) {
    const accountEvents = await withProofs(await store.accountEvents(org, account));
    if (accountEvents.length === 0)
      throw new TrustlogError("NOT_FOUND", `no account ${account} in org ${org}`);
    bundle.account = account;
    bundle.accountEvents = accountEvents;
  }
  // A client that trusted an earlier size gets the proof that this checkpoint extends it; a
  // size beyond this checkpoint gets none (the client refuses the rollback itself).
  if (from !== undefined && from > 0 && from <= size) {
    const hashes = await proveConsistency(from, size, reader);
    bundle.consistency = { from, hashes: hashes.map(toBase64) };
  }
  return bundle;
}
