// History proof bundles (docs/client.md): everything a client needs to verify an account's keys
// (or an org's authority) against ONE checkpoint, in one round trip. Each event comes as its
// exact leaf bytes with an inclusion proof, with the lookup proofs of the chains in the index
// (core/chain-index.ts) and the index leaves that cover the events.
//   - An org's bundle (version 1) carries the whole org chain.
//   - An account's bundle (version 2) carries every event of the account, but of the org chain
//     only what judging those events needs: the authority sub-chain (org.create, admin.add,
//     admin.remove) and the events of the grants the account's events act under, with the
//     index's proof of each sub-chain (core/subchain.ts). Its size does not grow with the org's
//     other grants or accounts.
// Nothing here is trusted by the client; it only saves round trips.

import { Hono } from "hono";
import type { BundleEventJson, HistoryBundleJson, LookupAnswer } from "../../core/api-types.js";
import { equalBytes, fromUtf8, toBase64 } from "../../core/bytes.js";
import { chainKey, isIndexLeaf, type LookupJson, parseIndexLeaf } from "../../core/chain-index.js";
import { TrustlogError } from "../../core/errors.js";
import type { HashReader } from "../../core/merkle.js";
import { encodeTrieProof } from "../../core/mpt.js";
import { proveConsistency, proveInclusion } from "../../core/proof.js";
import type { EventRef, LogStore, StoredCheckpoint } from "../storage/log-store.js";
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
 * The lookup proof of an org's chain (and an account's, and for an account's bundle the org's
 * authority sub-chain and the named grants') as of the checkpoint of `size`: its last leaf,
 * which is the index leaf, with its inclusion proof and the trie proofs.
 */
export async function lookupProof(
  store: LogStore,
  size: number,
  reader: HashReader,
  org: string,
  account: string | undefined,
  subchains?: { grants: readonly string[] },
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
  const prove = (key: Uint8Array) => toBase64(encodeTrieProof(trie.prove(key)));
  const out: LookupJson = {
    index: size - 1,
    leaf: toBase64(entry.envelope),
    inclusion: (await proveInclusion(size - 1, size, reader)).map(toBase64),
    org: prove(chainKey("org", org)),
  };
  if (account !== undefined) out.account = prove(chainKey("account", org, account));
  if (subchains) {
    out.authority = prove(chainKey("authority", org));
    out.grants = [...new Set(subchains.grants)].sort().map((g) => ({
      id: g,
      proof: prove(chainKey("grant", org, g)),
    }));
  }
  return out;
}

async function lookupAnswer(
  store: LogStore,
  org: string,
  account: string | undefined,
  latest: PublishedCheckpoint,
): Promise<LookupAnswer> {
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

/** The grants an account's events act under (their delegate actors). */
function grantsUsed(leaves: readonly Uint8Array[]): string[] {
  const out = new Set<string>();
  for (const leaf of leaves) {
    // The log's own committed entries: canonical envelopes, parsed only for the actor.
    const actor = (JSON.parse(fromUtf8(leaf)) as { event: { actor: { role: string; grant?: string } } }).event
      .actor;
    if (actor.role === "delegate" && typeof actor.grant === "string") out.add(actor.grant);
  }
  return [...out];
}

export async function historyBundle(
  store: LogStore,
  org: string,
  account: string | undefined,
  from?: number,
  latest: PublishedCheckpoint = () => store.latestCheckpoint(),
): Promise<HistoryBundleJson> {
  // The checkpoint is read first: events committed after it are left out, having no proof yet.
  const checkpoint = await published(latest);
  const size = checkpoint.size;
  const reader = store.hashReader(size);
  // One query for the entries of a list, then the proofs from the shared tile cache: a long
  // chain costs one round trip, not one per event.
  const fetchLeaves = async (refs: EventRef[]) => {
    const wanted = refs.filter((r) => r.index < size).map((r) => r.index);
    const leaves = await store.getEntries(wanted);
    return wanted.map((index) => {
      const leaf = leaves.get(index);
      if (!leaf) throw new TrustlogError("INTERNAL", `entry ${index} is missing`);
      return { index, leaf };
    });
  };
  const withProofs = async (list: { index: number; leaf: Uint8Array }[]) => {
    const out: BundleEventJson[] = [];
    for (const { index, leaf } of list) {
      const inclusion = await proveInclusion(index, size, reader);
      out.push({ index, envelope: toBase64(leaf), inclusion: inclusion.map(toBase64) });
    }
    return out;
  };
  let bundle: Omit<HistoryBundleJson, "covers" | "lookup">;
  let events: { index: number }[];
  let lookup: Promise<LookupJson>;
  if (account === undefined) {
    const orgEvents = await withProofs(await fetchLeaves(await store.orgEvents(org)));
    if (orgEvents.length === 0) throw new TrustlogError("NOT_FOUND", `no org ${org}`);
    bundle = { version: 1, checkpoint: checkpoint.note + checkpoint.cosignatures.join(""), org, orgEvents };
    events = orgEvents;
    lookup = lookupProof(store, size, reader, org, undefined);
  } else {
    const authority = await fetchLeaves(await store.authorityEvents(org));
    if (authority.length === 0) throw new TrustlogError("NOT_FOUND", `no org ${org}`);
    const accountLeaves = await fetchLeaves(await store.accountEvents(org, account));
    if (accountLeaves.length === 0)
      throw new TrustlogError("NOT_FOUND", `no account ${account} in org ${org}`);
    const grants = grantsUsed(accountLeaves.map((e) => e.leaf));
    const grantLeaves = await fetchLeaves(await store.grantEvents(org, grants));
    const orgEvents = await withProofs([...authority, ...grantLeaves].sort((a, b) => a.index - b.index));
    const accountEvents = await withProofs(accountLeaves);
    bundle = {
      version: 2,
      checkpoint: checkpoint.note + checkpoint.cosignatures.join(""),
      org,
      account,
      orgEvents,
      accountEvents,
    };
    events = [...orgEvents, ...accountEvents];
    lookup = lookupProof(store, size, reader, org, account, { grants });
  }
  const covers = await store.coveringIndexLeaves(
    events.map((e) => e.index),
    size,
  );
  const out: HistoryBundleJson = { ...bundle, covers: [], lookup: await lookup };
  for (const cover of covers) {
    const inclusion = await proveInclusion(cover.index, size, reader);
    out.covers.push({
      index: cover.index,
      envelope: toBase64(cover.envelope),
      inclusion: inclusion.map(toBase64),
    });
  }
  // A client that trusted an earlier size gets the proof that this checkpoint extends it; a
  // size beyond this checkpoint gets none (the client refuses the rollback itself).
  if (from !== undefined && from > 0 && from <= size) {
    const hashes = await proveConsistency(from, size, reader);
    out.consistency = { from, hashes: hashes.map(toBase64) };
  }
  return out;
}
