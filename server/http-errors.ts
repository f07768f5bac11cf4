// The one place where error codes become HTTP statuses. Handlers throw TrustlogError; app.onError
// (server/app.ts) and the per-item results of POST /v1/events both answer through here, so a
// code means the same status everywhere.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { TrustlogError } from "../core/errors.js";
import { type PolicyErrorKind, policyErrorKind } from "../core/policy.js";
import { databaseUnavailable, isDatabaseUnavailable } from "../node/db.js";

// Codes of parsing and policy (core/policy.ts decides their kind, so a rule added there is
// answered right without touching this file), then the server's own codes.
const KIND_STATUS: Record<PolicyErrorKind, ContentfulStatusCode> = {
  malformed: 400,
  forbidden: 403,
  conflict: 409,
  too_large: 413,
};

const STATUS: Record<string, ContentfulStatusCode> = {
  // The request itself is wrong: fix it before retrying.
  MALFORMED: 400,
  BAD_REQUEST: 400,
  BAD_QUERY: 400,
  BAD_BASE64: 400,
  BAD_KEY: 400,
  BAD_TILE_PATH: 400,
  OUT_OF_RANGE: 400,
  BAD_RANGE: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  CHAIN_CONFLICT: 409,
  TOO_LARGE: 413,
  // Pushback: nothing is wrong with the request; retry after Retry-After.
  QUEUE_FULL: 429,
  RATE_LIMITED: 429,
  NOT_LEADER: 503,
  SHUTTING_DOWN: 503,
  SEQUENCER_FAILED: 503,
  DATABASE_UNAVAILABLE: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** Seconds a pushed-back client should wait before retrying. */
export const RETRY_AFTER_SECONDS = 1;

/** The status for an error code; 500 for codes nobody planned for (a bug, not the client's fault). */
export function statusOf(code: string): ContentfulStatusCode {
  const kind = policyErrorKind(code);
  return kind ? KIND_STATUS[kind] : (STATUS[code] ?? 500);
}

export interface ErrorBody {
  code: string;
  message: string;
  head?: unknown;
}

/** The JSON error object for a TrustlogError (`head` only for CHAIN_CONFLICT). */
export function errorBody(err: TrustlogError): ErrorBody {
  const body: ErrorBody = { code: err.code, message: err.message };
  if (err.code === "CHAIN_CONFLICT" && err.details?.head !== undefined) body.head = err.details.head;
  return body;
}

/**
 * Answers with `{"error": {...}}`, adding Retry-After on pushback. An error that is not a
 * TrustlogError is a bug (500 INTERNAL), unless the database could not be reached: that is
 * pushback (503 DATABASE_UNAVAILABLE), the same request can succeed once it is back.
 */
export function errorResponse(c: Context, err: unknown): Response {
  const e =
    err instanceof TrustlogError
      ? err
      : isDatabaseUnavailable(err)
        ? databaseUnavailable(err)
        : new TrustlogError("INTERNAL", "internal error; see the server log");
  const status = statusOf(e.code);
  if (status === 429 || status === 503) c.header("Retry-After", String(RETRY_AFTER_SECONDS));
  return c.json({ error: errorBody(e) }, status);
}
