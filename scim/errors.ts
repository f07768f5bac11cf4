// SCIM errors (RFC 7644 §3.12): every refusal the bridge answers is a ScimError with an HTTP
// status and, where RFC 7644 defines one, a `scimType`. The body is always
// {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "<status>", "scimType"?, "detail"}.

import { type ErrorCode, TrustlogError } from "../core/errors.js";

export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

export type ScimType =
  | "invalidFilter"
  | "tooMany"
  | "uniqueness"
  | "mutability"
  | "invalidSyntax"
  | "invalidPath"
  | "noTarget"
  | "invalidValue"
  | "invalidVers"
  | "sensitive";

export class ScimError extends TrustlogError {
  constructor(
    readonly status: number,
    readonly scimType: ScimType | undefined,
    detail: string,
    code: ErrorCode = scimType ? `SCIM_${scimType.toUpperCase()}` : `SCIM_${status}`,
  ) {
    super(code, detail, { status, ...(scimType ? { scimType } : {}) });
  }

  body(): Record<string, unknown> {
    return {
      schemas: [ERROR_SCHEMA],
      status: String(this.status),
      ...(this.scimType ? { scimType: this.scimType } : {}),
      detail: this.message,
    };
  }
}

export const badRequest = (scimType: ScimType, detail: string) => new ScimError(400, scimType, detail);
export const notFound = (detail: string) => new ScimError(404, undefined, detail, "SCIM_NOT_FOUND");
