// Prometheus metrics of one witness. A registry per witness (not prom-client's global one), so
// several witnesses can run in one process (tests) without clashing.

import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface WitnessMetrics {
  registry: Registry;
  requests: Counter<"status">;
  latency: Histogram;
  evidence: Counter<"origin" | "kind">;
  unproven: Counter<"origin">;
  pulls: Counter<"origin" | "result">;
  gossip: Counter<"peer" | "result">;
  auditSize: Gauge<"origin">;
  auditEntries: Counter<"origin">;
  commitGroup: Histogram;
}

export function createWitnessMetrics(): WitnessMetrics {
  const registry = new Registry();
  return {
    registry,
    requests: new Counter({
      name: "witness_add_checkpoint_total",
      help: "add-checkpoint requests by HTTP status",
      labelNames: ["status"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "witness_add_checkpoint_seconds",
      help: "add-checkpoint latency",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    evidence: new Counter({
      name: "witness_equivocation_evidence_total",
      help: "new pieces of evidence that a log equivocated (each one refuses the log)",
      labelNames: ["origin", "kind"],
      registers: [registry],
    }),
    unproven: new Counter({
      name: "witness_unproven_consistency_total",
      help: "checkpoints of different sizes the log could not prove consistent (no portable evidence)",
      labelNames: ["origin"],
      registers: [registry],
    }),
    pulls: new Counter({
      name: "witness_pull_total",
      help: "pull-mode rounds per log by result",
      labelNames: ["origin", "result"],
      registers: [registry],
    }),
    gossip: new Counter({
      name: "witness_gossip_total",
      help: "gossip fetches per peer by result",
      labelNames: ["peer", "result"],
      registers: [registry],
    }),
    auditSize: new Gauge({
      name: "witness_audit_size",
      help: "auditing witness: entries replayed clean and verified against the log's tree",
      labelNames: ["origin"],
      registers: [registry],
    }),
    auditEntries: new Counter({
      name: "witness_audit_entries_total",
      help: "auditing witness: entries replayed",
      labelNames: ["origin"],
      registers: [registry],
    }),
    commitGroup: new Histogram({
      name: "witness_commit_group_size",
      help: "state moves (cosignatures) made durable by one commit (witness/group-commit.ts)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
  };
}
