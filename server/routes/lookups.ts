// JSON lookups: what the log is (/v1/log), single entries, and the state of an org or an
// account with its history. A history comes with an inclusion proof per event against the
// checkpoint returned beside it, so a client can check it all in one round trip.

import { Hono } from "hono";
import { fromUtf8, toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { proveInclusion } from "../../core/proof.js";
import type { AppDeps } from "../app.js";
import type { EventRef } from "../store.js";
import { decimal, id } from "./params.js";

export function lookupRoutes(deps: AppDeps): Hono {
  const app = new Hono();

  app.get("/v1/log", (c) => c.json(deps.log));

  app.get("/v1/entries/:index", async (c) => {
    const index = decimal(c.req.param("index"), "index");
    const entry = await deps.store.getEntry(index);
    if (!entry) throw new TrustlogError("NOT_FOUND", `no entry ${index}`);
    return c.json({
      index: entry.index,
      leafHash: toBase64(entry.leafHash),
      envelope: JSON.parse(fromUtf8(entry.envelope)),
    });
  });

  app.get("/v1/orgs/:org", async (c) => {
    const org = id(c.req.param("org"), "org");
    const checkpoint = await deps.latest.get();
    const state = await deps.store.getOrg(org);
    if (!state || !checkpoint) throw new TrustlogError("NOT_FOUND", `no org ${org}`);
    const events = await withProofs(deps, await deps.store.orgEvents(org), checkpoint.size);
    return c.json({
      ...(toJson(state) as object),
      events,
      checkpoint: checkpoint.note + checkpoint.cosignatures.join(""),
    });
  });

  app.get("/v1/orgs/:org/accounts/:account", async (c) => {
    const org = id(c.req.param("org"), "org");
    const account = id(c.req.param("account"), "account");
    const checkpoint = await deps.latest.get();
    const state = await deps.store.getAccount(org, account);
    if (!state || !checkpoint) throw new TrustlogError("NOT_FOUND", `no account ${account} in org ${org}`);
    const events = await withProofs(deps, await deps.store.accountEvents(org, account), checkpoint.size);
    return c.json({
      ...(toJson(state) as object),
      events,
      checkpoint: checkpoint.note + checkpoint.cosignatures.join(""),
    });
  });

  return app;
}

// Events committed after the checkpoint was read are left out: they have no proof against it yet.
async function withProofs(deps: AppDeps, events: EventRef[], size: number) {
  const reader = deps.store.hashReader(size);
  const out = [];
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
