// Liveness, readiness and metrics. /healthz says the process answers; /readyz that it can serve:
// the database answers, within a bound (503 with Retry-After while it is away). A replica that
// does not hold the sequencer lock is still ready (it serves reads); its state is reported so
// that a load balancer can route writes to the leader.

import { Hono } from "hono";
import { isDatabaseUnavailable, ping } from "../../node/db.js";
import type { AppDeps } from "../app.js";
import { RETRY_AFTER_SECONDS } from "../http-errors.js";

export function healthRoutes(deps: AppDeps): Hono {
  const app = new Hono();

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const sequencer = { leader: deps.sequencer.isLeader, queueDepth: deps.sequencer.queueDepth };
    let size: number | undefined;
    try {
      // Bounded (node/db.ts ping): a database that does not answer is not ready, not a hang.
      await ping(deps.database);
      size = (await deps.latest.get())?.size;
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      deps.logger.warn({ err }, "readiness: database does not answer");
      c.header("Retry-After", String(RETRY_AFTER_SECONDS));
      return c.json({ status: "unavailable", database: "unreachable", sequencer }, 503);
    }
    if (size === undefined) return c.json({ status: "starting", database: "ok", sequencer }, 503);
    deps.metrics.treeSize.set(size);
    return c.json({ status: "ready", database: "ok", sequencer, treeSize: size });
  });

  app.get("/metrics", async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.body(text, 200, { "Content-Type": deps.metrics.registry.contentType });
  });

  return app;
}
