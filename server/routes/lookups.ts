// JSON lookups: what the log is (/v1/log), single entries, and the state of an org or an
// account with its history. A history comes with an inclusion proof per event against the
// checkpoint returned beside it, so a client can check it all in one round trip.
//
// Everything answers as of the published checkpoint (deps.latest): with a publish quorum, the
// entries committed above it are not public yet, so neither they nor the state they changed
// are served.

import { Hono } from "hono";
import type { AccountAnswer, ChainEventJson, EntryAnswer, LogInfo, OrgAnswer } from "../../core/api-types.js";
import { fromUtf8, toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { parseStoredEnvelope } from "../../core/event.js";
import { MemoryState } from "../../core/memory-state.js";
import { proveInclusion } from "../../core/proof.js";
import type { AccountState, Grant, OrgState } from "../../core/state.js";
import type { AppDeps } from "../app.js";
import type { EventRef } from "../storage/log-store.js";
import { decimal, id } from "./params.js";

export function lookupRoutes(deps: AppDeps): Hono {
  const app = new Hono();

  app.get("/v1/log", (c) => c.json(deps.log satisfies LogInfo));

  app.get("/v1/entries/:index", async (c) => {
    const index = decimal(c.req.param("index"), "index");
    const size = (await deps.latest.get())?.size ?? 0;
    const entry = index < size ? await deps.store.getEntry(index) : undefined;
    if (!entry) throw new TrustlogError("NOT_FOUND", `no entry ${index}`);
    const answer: EntryAnswer = {
      index: entry.index,
      leafHash: toBase64(entry.leafHash),
      envelope: JSON.parse(fromUtf8(entry.envelope)),
    };
    return c.json(answer);
  });

  app.get("/v1/orgs/:org", async (c) => {
    const org = id(c.req.param("org"), "org");
    const checkpoint = await deps.latest.get();
    const published = checkpoint ? await publishedOrg(deps, org, checkpoint.size) : undefined;
    if (!published || !checkpoint) throw new TrustlogError("NOT_FOUND", `no org ${org}`);
    const events = await withProofs(deps, await deps.store.orgEvents(org), checkpoint.size);
    // Grants are records of their own (core/policy.ts); the org's answer lists them by id.
    const grants = new Map(published.grants.map((g) => [g.id, g]));
    const answer: OrgAnswer = {
      ...(toJson(published.state) as OrgState),
      grants: toJson(grants) as OrgAnswer["grants"],
      events,
      checkpoint: checkpoint.note + checkpoint.cosignatures.join(""),
    };
    return c.json(answer);
  });

  app.get("/v1/orgs/:org/accounts/:account", async (c) => {
    const org = id(c.req.param("org"), "org");
    const account = id(c.req.param("account"), "account");
    const checkpoint = await deps.latest.get();
    const state = checkpoint ? await publishedAccount(deps, org, account, checkpoint.size) : undefined;
    if (!state || !checkpoint) throw new TrustlogError("NOT_FOUND", `no account ${account} in org ${org}`);
    const events = await withProofs(deps, await deps.store.accountEvents(org, account), checkpoint.size);
    const answer: AccountAnswer = {
      ...(toJson(state) as Omit<AccountState, "keys"> & Pick<AccountAnswer, "keys">),
      events,
      checkpoint: checkpoint.note + checkpoint.cosignatures.join(""),
    };
    return c.json(answer);
  });

  return app;
}

// The state of an org or an account as of the published tree of `size` leaves. The stored state
// is the committed one, which is also the published one unless its chain moved on above `size`
// (events committed but not yet published: a publish quorum not reached). Then the published
// prefix of the chains is replayed through the policy instead. Undefined when the subject did
// not exist at `size`.

/** The org and its grants (grants change only by org events, so they follow the org's head). */
async function publishedOrg(
  deps: AppDeps,
  org: string,
  size: number,
): Promise<{ state: OrgState; grants: Grant[] } | undefined> {
  const stored = await deps.store.getOrg(org);
  if (!stored) return undefined;
  if (stored.head.index < size) return { state: stored, grants: await deps.store.getOrgGrants(org) };
  const replayed = await replay(deps, org, undefined, size);
  const state = replayed.org(org);
  return state && { state, grants: replayed.grantsOf(org) };
}

async function publishedAccount(
  deps: AppDeps,
  org: string,
  account: string,
  size: number,
): Promise<AccountState | undefined> {
  const stored = await deps.store.getAccount(org, account);
  if (!stored || stored.head.index < size) return stored;
  return (await replay(deps, org, account, size)).account(org, account);
}

/**
 * Replays the org chain and, for an account, its own chain, up to `size`, in log order (account
 * events are judged against the org state of their position).
 */
async function replay(
  deps: AppDeps,
  org: string,
  account: string | undefined,
  size: number,
): Promise<MemoryState> {
  const refs = [
    ...(await deps.store.orgEvents(org)),
    ...(account === undefined ? [] : await deps.store.accountEvents(org, account)),
  ]
    .filter((r) => r.index < size)
    .sort((a, b) => a.index - b.index);
  const state = new MemoryState();
  for (const r of refs) {
    const entry = await deps.store.getEntry(r.index);
    if (!entry) throw new TrustlogError("INTERNAL", `entry ${r.index} is missing`);
    const parsed = parseStoredEnvelope(entry.envelope);
    // Committed entries had their signatures checked when they were submitted.
    state.apply(parsed.envelope, { index: r.index, leafHash: parsed.leafHash, signaturesChecked: true });
  }
  return state;
}

// Events committed after the checkpoint was read are left out: they have no proof against it yet.
async function withProofs(deps: AppDeps, events: EventRef[], size: number): Promise<ChainEventJson[]> {
  const reader = deps.store.hashReader(size);
  const out: ChainEventJson[] = [];
  for (const e of events) {
    if (e.index >= size) continue;
    const proof = await proveInclusion(e.index, size, reader);
    out.push({
      index: e.index,
      seq: e.seq,
      type: e.type,
      leafHash: toBase64(e.leafHash),
      inclusion: proof.map(toBase64),
    });
  }
  return out;
}

/** Core state records as JSON: bytes become base64, maps objects, sets arrays. */
export function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return toBase64(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Set) return [...value].map(toJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJson(v)]));
  if (typeof value === "bigint") return Number(value);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}
