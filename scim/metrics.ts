// The bridge's Prometheus metrics (prom-client), in a registry of its own.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createScimMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: "trustlog_scim_requests_total",
      help: "SCIM requests by method, resource type and status",
      labelNames: ["method", "resource", "status"],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: "trustlog_scim_request_duration_seconds",
      help: "SCIM request latency",
      labelNames: ["method", "resource"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    events: new Counter({
      name: "trustlog_scim_events_logged_total",
      help: "Events the bridge logged, by type (duplicates of a resubmission counted once)",
      labelNames: ["type"],
      registers: [registry],
    }),
    eventSeconds: new Histogram({
      name: "trustlog_scim_event_latency_seconds",
      help: "From the SCIM request's commit to the event's inclusion in a signed checkpoint",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    refused: new Counter({
      name: "trustlog_scim_events_refused_total",
      help: "Events the log refused, by code",
      labelNames: ["code"],
      registers: [registry],
    }),
    deliveries: new Counter({
      name: "trustlog_scim_deliveries_total",
      help: "Invitations and confirmations delivered, by kind and outcome",
      labelNames: ["kind", "outcome"],
      registers: [registry],
    }),
    confirmations: new Counter({
      name: "trustlog_scim_confirmations_total",
      help: "Users confirmed after their first key verified",
      registers: [registry],
    }),
    verifyFailures: new Counter({
      name: "trustlog_scim_verify_failures_total",
      help: "verifyKey refusals while confirming users, by code",
      labelNames: ["code"],
      registers: [registry],
    }),
    outboxPending: new Gauge({
      name: "trustlog_scim_outbox_pending",
      help: "Outbox rows waiting, by kind",
      labelNames: ["kind"],
      registers: [registry],
    }),
    grantValid: new Gauge({
      name: "trustlog_scim_grant_valid",
      help: "1 while the bridge's grant is valid, else 0",
      registers: [registry],
    }),
  };
}

export type ScimMetrics = ReturnType<typeof createScimMetrics>;
