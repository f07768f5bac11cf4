// Prometheus metrics of one log server. Each server owns its registry (not prom-client's global
// one), so several servers in one test process never collide.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface ServerMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly batchSize: Histogram;
  readonly appendLatency: Histogram;
  readonly treeSize: Gauge;
  readonly queueDepth: Gauge;
  readonly refused: Counter<"code">;
  /** Requests refused by a rate limit (server/rate-limit.ts), by the bucket that was empty. */
  readonly rateLimited: Counter<"scope">;
  /** Envelope signatures checked before queueing (after repeated envelopes were merged). */
  readonly signaturesVerified: Counter;
}

export interface MetricsOptions {
  /** Read at scrape time: the sequencer's queue depth now. */
  queueDepth: () => number;
  /** Also export Node process metrics (off in tests: they are global timers). */
  processMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions): ServerMetrics {
  const registry = new Registry();
  if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: "trustlog_" });
  return {
    registry,
    httpRequests: new Counter({
      name: "trustlog_http_requests_total",
      help: "HTTP requests answered, by route pattern and status",
      labelNames: ["method", "route", "status"] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "trustlog_http_request_duration_seconds",
      help: "Time to answer an HTTP request",
      labelNames: ["method", "route"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "trustlog_sequencer_batch_size",
      help: "Entries committed per sequencer batch",
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    }),
    appendLatency: new Histogram({
      name: "trustlog_append_latency_seconds",
      help: "From a submission being queued to its signed checkpoint being committed",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    treeSize: new Gauge({
      name: "trustlog_tree_size",
      help: "Size of the latest signed checkpoint",
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "trustlog_queue_depth",
      help: "Submissions waiting for the sequencer",
      registers: [registry],
      collect() {
        this.set(opts.queueDepth());
      },
    }),
    refused: new Counter({
      name: "trustlog_events_refused_total",
      help: "Submitted events refused, by error code",
      labelNames: ["code"] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "trustlog_rate_limited_total",
      help: "Write requests refused with 429 RATE_LIMITED, by scope (client or org)",
      labelNames: ["scope"] as const,
      registers: [registry],
    }),
    signaturesVerified: new Counter({
      name: "trustlog_signatures_verified_total",
      help: "Envelope signatures verified before queueing",
      registers: [registry],
    }),
  };
}
