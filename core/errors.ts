// One error type for all of trustlog. `code` is stable (clients and tests match on it, HTTP
// maps it to a status in one place); `message` is for humans and may change.

export class TrustlogError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "TrustlogError";
    this.code = code;
    this.details = details;
  }
}

export function isTrustlogError(e: unknown, code?: string): e is TrustlogError {
  return e instanceof TrustlogError && (code === undefined || e.code === code);
}
