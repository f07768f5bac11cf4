// The witness's HTTP face (hono). Request logic lives in witness/witness.ts; this file only
// moves bytes and maps error codes to statuses, in `errorResponse`, the one place that does.
//
//   POST /add-checkpoint                 C2SP tlog-witness
//   GET  /<hex sha256(origin)>/checkpoint  tlog-witness monitoring GET (latest cosigned note)
//   GET  /v1/logs/<urlencoded origin>/checkpoint   the same, for gossip between witnesses
//   GET  /v1/evidence                    JSON list of evidence (witness/evidence.ts, audit-evidence.ts)
//   GET  /v1/statement                   what this witness's key stands for, per log
//   GET  /v1/audit                       progress of the audited logs (witness/auditor.ts)
//   GET  /metrics, /healthz, /           Prometheus, liveness, about (name and vkey)

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
// What a cosignature by this witness's key states (docs/witness.md): every log, the C2SP one
// (consistent with all it cosigned before); audited logs, also that every entry up to the
// checkpoint was replayed with the trustlog rules and every index leaf recomputed.
import { AUDIT_STATEMENT, PLAIN_STATEMENT } from "../client/witness-policy.js";
import { toHex, utf8 } from "../core/bytes.js";
import { HTTP_STATUS_OF_KIND } from "../core/error-codes.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { sha256 } from "../core/sha256.js";
import {
  ADD_CHECKPOINT_PATH,
  formatCosignatureResponse,
  formatSizeResponse,
  parseAddCheckpoint,
  TLOG_SIZE_CONTENT_TYPE,
} from "../core/witness-protocol.js";
import type { Logger } from "../node/log.js";
import { anyEvidenceToJson } from "./audit-evidence.js";
import type { WitnessMetrics } from "./metrics.js";
import type { WitnessStore } from "./store.js";
import type { Witness } from "./witness.js";

export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

export interface WitnessAppOptions {
  witness: Witness;
  store: WitnessStore;
  metrics: WitnessMetrics;
  logger: Logger;
  vkey: string;
  maxBodyBytes?: number;
}

/**
 * The witness's answer to each kind of code (core/error-codes.ts): C2SP tlog-witness's statuses
 * (403 for a bad log signature or a log this witness refuses, 409 for a size or root that does
 * not match, 422 for a bad consistency proof, 404 for an unknown origin). A verifier's refusal
 * reaching a handler unhandled is the witness's own failure: 500.
 */
const KIND_STATUS = HTTP_STATUS_OF_KIND;

/** The one mapping from error codes to HTTP answers. */
export function errorResponse(err: unknown, logger?: Logger): Response {
  const text = (status: number, body: string) =>
    new Response(body, { status, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  if (!isTrustlogError(err)) {
    logger?.error({ err }, "internal error");
    return text(500, "INTERNAL: internal error\n");
  }
  const msg = `${err.code}: ${err.message}\n`;
  if (err.code === "OLD_SIZE_MISMATCH") {
    // Exactly this content type, no charset: Go clients compare the header string.
    return new Response(formatSizeResponse(Number(err.details?.size)), {
      status: 409,
      headers: { "Content-Type": TLOG_SIZE_CONTENT_TYPE },
    });
  }
  const status = KIND_STATUS[err.kind];
  if (status === 500) {
    logger?.error({ err }, "unexpected error");
    return text(500, `INTERNAL: ${err.code}\n`);
  }
  const res = text(status, msg);
  // Not yet (an audit behind this checkpoint, the database away): the log retries later.
  if (status === 503) res.headers.set("Retry-After", "5");
  return res;
}

/** Lowercase hex SHA-256 of an origin: the path segment of the monitoring GET. */
export function originHash(origin: string): string {
  return toHex(sha256(utf8(origin)));
}

export function createWitnessApp(opts: WitnessAppOptions): Hono {
  const { witness, store, metrics, logger } = opts;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const byHash = new Map(witness.origins().map((o) => [originHash(o), o]));
  const app = new Hono();

  app.onError((err) => errorResponse(err, logger));
  app.notFound(() => errorResponse(new TrustlogError("NOT_FOUND", "not found")));

  const tooLarge = () => {
    metrics.requests.inc({ status: "413" });
    const res = errorResponse(new TrustlogError("TOO_LARGE", `body larger than ${maxBody} bytes`));
    // The rest of the body is never read, so the connection cannot carry another request.
    res.headers.set("Connection", "close");
    return res;
  };
  const limit = bodyLimit({ maxSize: maxBody, onError: tooLarge });

  app.post(
    ADD_CHECKPOINT_PATH,
    // A body with a Content-Length is judged by it, as bodyLimit does, but without touching
    // c.req.raw.body: under @hono/node-server that builds a whole web Request and stream for
    // the body, which cost more than verifying its signature (issue 13's profile); the handler's
    // arrayBuffer() then reads the socket directly. Chunked bodies go through bodyLimit.
    (c, next) => {
      const length = c.req.header("content-length");
      if (length === undefined || c.req.header("transfer-encoding") !== undefined) return limit(c, next);
      return Number.parseInt(length, 10) > maxBody ? tooLarge() : next();
    },
    async (c) => {
      const end = metrics.latency.startTimer();
      let res: Response;
      try {
        const req = parseAddCheckpoint(new Uint8Array(await c.req.arrayBuffer()));
        const lines = await witness.add(req);
        res = new Response(formatCosignatureResponse(lines), {
          status: 200,
          headers: { "Content-Type": "text/plain; charset=utf-8" },
        });
      } catch (err) {
        res = errorResponse(err, logger);
      }
      end();
      metrics.requests.inc({ status: String(res.status) });
      return res;
    },
  );

  const latestNote = async (origin: string | undefined): Promise<Response> => {
    const state = origin === undefined ? undefined : await witness.state(origin);
    if (!state || state.note === null) {
      return errorResponse(new TrustlogError("NOT_FOUND", "no cosigned checkpoint for this log"));
    }
    return new Response(state.note, {
      headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache" },
    });
  };

  app.get("/:hash{[0-9a-f]{64}}/checkpoint", (c) => latestNote(byHash.get(c.req.param("hash"))));

  // Matched by hand on the raw path: an origin usually holds "/" (encoded or not).
  app.get("/v1/logs/*", (c) => {
    const path = new URL(c.req.url).pathname;
    const m = /^\/v1\/logs\/(.+)\/checkpoint$/.exec(path);
    if (!m) return errorResponse(new TrustlogError("NOT_FOUND", "not found"));
    let origin: string;
    try {
      origin = decodeURIComponent(m[1]!);
    } catch {
      return errorResponse(new TrustlogError("BAD_REQUEST", "bad origin encoding"));
    }
    return latestNote(origin);
  });

  app.get("/v1/evidence", async (c) => {
    const list = await store.listEvidence();
    return c.json(list.map((e) => ({ ...anyEvidenceToJson(e), source: e.source })));
  });

  app.get("/v1/statement", (c) =>
    c.json({
      name: witness.signer.name,
      vkey: opts.vkey,
      logs: witness.origins().map((origin) => ({
        origin,
        statements: witness.auditor(origin) ? [PLAIN_STATEMENT, AUDIT_STATEMENT] : [PLAIN_STATEMENT],
      })),
    }),
  );

  app.get("/v1/audit", (c) =>
    c.json(
      witness
        .origins()
        .map((o) => witness.auditor(o)?.status())
        .filter((s) => s !== undefined),
    ),
  );

  app.get("/metrics", async () => {
    return new Response(await metrics.registry.metrics(), {
      headers: { "Content-Type": metrics.registry.contentType },
    });
  });

  app.get("/healthz", (c) => c.text("ok\n"));

  app.get("/", (c) =>
    c.text(
      `trustlog witness ${witness.signer.name}\n\nvkey ${opts.vkey}\nsubmission POST /add-checkpoint\nlogs ${witness.origins().length}\n`,
    ),
  );

  return app;
}
