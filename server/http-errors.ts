// The one place where error codes become HTTP statuses. Handlers throw TrustlogError; app.onError
// (server/app.ts) and the per-item results of POST /v1/events both answer through here, so a
// code means the same status everywhere.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ApiErrorAnswer, ApiErrorBody } from "../core/api-types.js";
import { type ErrorCode, errorKind, HTTP_STATUS_OF_KIND } from "../core/error-codes.js";
import { TrustlogError } from "../core/errors.js";
import { databaseUnavailable, isDatabaseUnavailable } from "../node/db.js";

/** Seconds a pushed-back client should wait before retrying. */
export const RETRY_AFTER_SECONDS = 1;

/** The status for an error code. */
export function statusOf(code: ErrorCode): ContentfulStatusCode {
  return HTTP_STATUS_OF_KIND[errorKind(code)] as ContentfulStatusCode;
}

/** The JSON error object (declared with the rest of the API's JSON, core/api-types.ts). */
export type ErrorBody = ApiErrorBody;

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
  return c.json({ error: errorBody(e) } satisfies ApiErrorAnswer, status);
}
