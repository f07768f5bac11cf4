// What every view verifies with: the pinned configuration, its compiled witness policy, a client
// for the log's API and the trust store this browser keeps for the log (IndexedDB, shared with
// any other trustlog page of this origin).

import { IndexedDbTrustStore } from "../client/idb-store.js";
import { LogClient } from "../client/log-client.js";
import type { TrustStore } from "../client/trust-store.js";
import type { LogConfig } from "../client/verify-key.js";
import type { CompiledWitnessPolicy } from "../client/witness-policy.js";
import type { ExplorerConfig, LoadedConfig } from "./config.js";

export interface Session {
  config: ExplorerConfig;
  loaded: LoadedConfig;
  policy: CompiledWitnessPolicy;
  log: LogConfig;
  client: LogClient;
  store: TrustStore;
}

export function openSession(loaded: LoadedConfig): Session {
  const c = loaded.config;
  return {
    config: c,
    loaded,
    policy: loaded.policy,
    log: { url: c.url, vkey: c.vkey, ...(c.origin ? { origin: c.origin } : {}) },
    client: new LogClient(c.url),
    store: new IndexedDbTrustStore("trustlog-explorer"),
  };
}

/** Freshness as the client library checks it, against this browser's clock. */
export function freshness(s: Session): { now: number; maxAgeSeconds: number } {
  return { now: Math.floor(Date.now() / 1000), maxAgeSeconds: s.config.maxAgeSeconds };
}
