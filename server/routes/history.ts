// History proof bundles (docs/client.md): everything a client needs to verify an account's keys
// (or an org's authority) against ONE checkpoint, in one round trip. The bundle carries the
// checkpoint with its cosignatures, every event of the account, and the whole org chain up to
// that checkpoint (a replay needs the org chain complete: admins, grants and revocations all
// decide whether a later event was allowed), each as its exact leaf bytes with an inclusion
// proof, the lookup proof of both chains' heads in the index (core/chain-index.ts) and the index
// leaves that cover the events. Nothing here is trusted by the client; it only saves round trips.

import { Hono } from "hono";
import { equalBytes, toBase64 } from "../../core/bytes.js";
import { chainKey, isIndexLeaf, type LookupJson, parseIndexLeaf } from "../../core/chain-index.js";
import { TrustlogError } from "../../core/errors.js";
import type { HashReader } from "../../core/merkle.js";
import { encodeTrieProof } from "../../core/mpt.js";
import { proveConsistency, proveInclusion } from "../../core/proof.js";
import type { EventRef, LogStore, StoredCheckpoint } from "../store.js";
import { decimal, id } from "./params.js";

/** What the log publishes: the app's LatestCheckpoint (with a publish quorum, the witnessed one). */
export type PublishedCheckpoint = () => Promise<StoredCheckpoint | undefined>;

/**
 * The routes `GET /v1/orgs/:org/proof` and `GET /v1/orgs/:org/accounts/:account/proof`, and the
 * lookups alone, for present and absent chains: `GET /v1/orgs/:org/lookup` and
 * `GET /v1/orgs/:org/accounts/:account/lookup`. Every answer is made against the checkpoint
 * `latest` gives, never against one committed but not yet published.
 */
export function historyRoutes(store: LogStore, latest: PublishedCheckpoint): Hono {
  const app = new Hono();

  app.get("/v1/orgs/:org/proof", async (c) => {
    const org = id(c.req.param("org"), "org");
    const from = decimal(c.req.query("from"), "from", true);
    return c.json(await historyBundle(store, org, undefined, from, latest), 200, {
      "Cache-Control": "no-cache",
    });
  });

  app.get("/v1/orgs/:org/accounts/:account/proof", async (c) => {
    const org = id(c.req.param("org"), "org");
    const account = id(c.req.param("account"), "account");
    const from = decimal(c.req.query("from"), "from", true);
    return c.json(await historyBundle(store, org, account, from, latest), 200, {
      "Cache-Control": "no-cache",
    });
  });

  app.get("/v1/orgs/:org/lookup", async (c) => {
    const org = id(c.req.param("org"), "org");
    return c.json(await lookupAnswer(store, org, undefined, latest), 200, { "Cache-Control": "no-cache" });
  });

  app.get("/v1/orgs/:org/accounts/:account/lookup", async (c) => {
    const org = id(c.req.param("org"), "org");
    const account = id(c.req.param("account"), "account");
    return c.json(await lookupAnswer(store, org, account, latest), 200, { "Cache-Control": "no-cache" });
  });

  return app;
}

async function published(latest: PublishedCheckpoint): Promise<StoredCheckpoint> {
  const checkpoint = await latest();
  if (!checkpoint || checkpoint.size === 0)
    throw new TrustlogError("NOT_FOUND", "the log has not published a checkpoint with entries yet");
  return checkpoint;
}

/**
 * The lookup proof of an org's chain (and an account's) as of the checkpoint of `size`: its
 * last leaf, which is the index leaf, with its inclusion proof and the trie proofs.
 */
export async function lookupProof(
  store: LogStore,
  size: number,
  reader: HashReader,
  org: string,
  account: string | undefined,
): Promise<LookupJson> {
  const entry = await store.getEntry(size - 1);
  if (!entry || !isIndexLeaf(entry.envelope))
    throw new TrustlogError(
      "INTERNAL",
      `the last leaf of the checkpoint of size ${size} is not an index leaf`,
    );
  const trie = await store.chainIndex.at(size);
  // Never serve a proof against a trie the committed index leaf does not commit to (a replica
  // whose rebuilt index disagrees with the log would only mislead clients).
  if (!equalBytes(parseIndexLeaf(entry.envelope).root, trie.root()))
    throw new TrustlogError("INTERNAL", `the index at size ${size} does not match its index leaf`);
  const out: LookupJson = {
    index: size - 1,
    leaf: toBase64(entry.envelope),
    inclusion: (await proveInclusion(size - 1, size, reader)).map(toBase64),
    org: toBase64(encodeTrieProof(trie.prove(chainKey("org", org)))),
  };
  if (account !== undefined)
    out.account = toBase64(encodeTrieProof(trie.prove(chainKey("account", org, account))));
  return out;
}

async function lookupAnswer(
  store: LogStore,
  org: string,
  account: string | undefined,
  latest: PublishedCheckpoint,
) {
  const checkpoint = await published(latest);
  const size = checkpoint.size;
  const lookup = await lookupProof(store, size, store.hashReader(size), org, account);
  return {
    checkpoint: checkpoint.note + checkpoint.cosignatures.join(""),
    org,
    ...(account ? { account } : {}),
    lookup,
  };
}

export async function historyBundle(
  store: LogStore,
  org: string,
  account: string | undefined,
  from?: number,
  latest: PublishedCheckpoint = () => store.latestCheckpoint(),
) {
  // The checkpoint is read first: events committed after it are left out, having no proof yet.
  const checkpoint = await published(latest);
  const size = checkpoint.size;
  const reader = store.hashReader(size);
  // One query for every entry of the chain, then the proofs from the shared tile cache: a long
  // org chain costs one round trip, not one per event.
  const withProofs = async (refs: EventRef[]) => {
    const wanted = refs.filter((r) => r.index < size).map((r) => r.index);
    const leaves = await store.getEntries(wanted);
    const out = [];
    for (const index of wanted) {
      const envelope = leaves.get(index);
      if (!envelope) throw new TrustlogError("INTERNAL", `entry ${index} is missing`);
      const inclusion = await proveInclusion(index, size, reader);
      out.push({ index, envelope: toBase64(envelope), inclusion: inclusion.map(toBase64) });
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
  const eventIndices = [...orgEvents, ...((bundle.accountEvents as typeof orgEvents | undefined) ?? [])].map(
    (e) => e.index,
  );
  const covers = await store.coveringIndexLeaves(eventIndices, size);
  bundle.covers = [];
  for (const cover of covers) {
    const inclusion = await proveInclusion(cover.index, size, reader);
    (bundle.covers as unknown[]).push({
      index: cover.index,
      envelope: toBase64(cover.envelope),
      inclusion: inclusion.map(toBase64),
    });
  }
  bundle.lookup = await lookupProof(store, size, reader, org, account);
  // A client that trusted an earlier size gets the proof that this checkpoint extends it; a
  // size beyond this checkpoint gets none (the client refuses the rollback itself).
  if (from !== undefined && from > 0 && from <= size) {
    const hashes = await proveConsistency(from, size, reader);
    bundle.consistency = { from, hashes: hashes.map(toBase64) };
  }
  return bundle;
}
