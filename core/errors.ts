// One error type for all of trustlog. `code` is stable and registered with its kind in
// core/error-codes.ts (clients and tests match on it; each process maps the kind to an HTTP
// status in one place); `message` is for humans and may change; `cause` keeps what it wraps.

import { type ErrorCode, type ErrorKind, errorKind } from "./error-codes.js";

export type { ErrorCode, ErrorKind } from "./error-codes.js";

export class TrustlogError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "TrustlogError";
    this.code = code;
    this.details = details;
  }

  get kind(): ErrorKind {
    const status = this.details?.status;
    return errorKind(this.code, typeof status === "number" ? status : undefined);
  }
}

export function isTrustlogError(e: unknown, code?: ErrorCode): e is TrustlogError {
  return e instanceof TrustlogError && (code === undefined || e.code === code);
}
