// Every error code trustlog gives, with its kind: the registry clients, tests and docs match
// on. A code is stable; the message that comes with it is for humans. Each process maps a kind
// to an HTTP status in one place (server/http-errors.ts, witness/app.ts, scim/errors.ts), so a
// code means the same answer wherever it is thrown, and `TrustlogError` accepts no code that is
// not here: the compiler refuses a new code until it has a kind.

/**
 * - malformed: the input is not well-formed (400); fix it before retrying.
 * - unauthorized: no valid credentials (401).
 * - forbidden: well-formed, but a rule refuses it (403): the policy, a bad log signature.
 * - not_found (404), conflict (409: the state moved; the answer says how), too_large (413),
 *   unprocessable (422: C2SP tlog-witness's answer to a bad consistency proof).
 * - pushback: nothing is wrong with the request; retry after Retry-After (429).
 * - unavailable: the service cannot answer now; retry after Retry-After (503).
 * - refused: a verifier refused what it was served (a log, a bundle, a proof, evidence): the
 *   client's verdict, never an answer of the party that served it.
 * - upstream: a party this process called failed or could not be reached (502 when relayed).
 * - local: this process's own configuration, files or flags are wrong.
 * - internal: a bug (500).
 */
export type ErrorKind =
  | "malformed"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "too_large"
  | "unprocessable"
  | "pushback"
  | "unavailable"
  | "refused"
  | "upstream"
  | "local"
  | "internal";

const REGISTRY = {
  // -- parsing (core/event.ts, core/bytes.ts, request parameters) ------------------------------
  MALFORMED: "malformed",
  TOO_MANY_SIGNATURES: "malformed",
  BAD_BASE64: "malformed",
  BAD_HEX: "malformed",
  BAD_UTF8: "malformed",
  BAD_INTEGER: "malformed",
  BAD_TIME: "malformed",
  BAD_TIMESTAMP: "malformed",
  BAD_NAME: "malformed",
  BAD_KEY: "malformed",
  BAD_HASH: "malformed",
  BAD_REQUEST: "malformed",
  BAD_QUERY: "malformed",
  BAD_TILE_PATH: "malformed",
  BAD_RANGE: "malformed",
  BAD_ARGUMENT: "malformed",
  OUT_OF_RANGE: "malformed",
  TOO_LARGE: "too_large",
  ENTRY_TOO_LARGE: "too_large",

  // -- the policy (core/policy.ts; docs/events.md) ----------------------------------------------
  CHAIN_CONFLICT: "conflict",
  ORG_EXISTS: "conflict",
  ACCOUNT_EXISTS: "conflict",
  SIG_INVALID: "forbidden",
  SIG_UNEXPECTED: "forbidden",
  SIG_MISSING: "forbidden",
  ORG_UNKNOWN: "forbidden",
  ACCOUNT_UNKNOWN: "forbidden",
  NOT_ADMIN: "forbidden",
  THRESHOLD_NOT_MET: "forbidden",
  ROLE_FORBIDDEN: "forbidden",
  GRANT_UNKNOWN: "forbidden",
  GRANT_KEY_MISMATCH: "forbidden",
  GRANT_REVOKED: "forbidden",
  GRANT_EXPIRED: "forbidden",
  GRANT_NOT_YET_VALID: "forbidden",
  GRANT_EXISTS: "forbidden",
  OUT_OF_SCOPE: "forbidden",
  OP_NOT_DELEGABLE: "forbidden",
  DELEGATE_CANNOT_ADD_KEY: "forbidden",
  ACCOUNT_SUSPENDED: "forbidden",
  ACCOUNT_DELETED: "forbidden",
  INVITE_SIG_MISSING: "forbidden",
  INVITE_KEY_USED: "forbidden",
  KEY_EXISTS: "forbidden",
  KEY_UNKNOWN: "forbidden",
  KEY_REVOKED: "forbidden",
  ADMIN_EXISTS: "forbidden",
  ADMIN_UNKNOWN: "forbidden",
  LAST_ADMIN: "forbidden",
  WRONG_STATE: "forbidden",
  SKEW: "forbidden",
  GRANT_LIMIT: "forbidden",
  ADMIN_LIMIT: "forbidden",
  KEY_LIMIT: "forbidden",

  // -- serving: the log server, the witness, the SCIM bridge ------------------------------------
  UNAUTHORIZED: "unauthorized",
  NOT_FOUND: "not_found",
  UNKNOWN_ORIGIN: "not_found",
  TOKEN_EXISTS: "conflict",
  QUEUE_FULL: "pushback",
  RATE_LIMITED: "pushback",
  NOT_LEADER: "unavailable",
  SHUTTING_DOWN: "unavailable",
  SEQUENCER_FAILED: "unavailable",
  DATABASE_UNAVAILABLE: "unavailable",
  UNAVAILABLE: "unavailable",
  INTERNAL: "internal",
  // tlog-witness (witness/witness.ts): C2SP's own statuses.
  LOG_EQUIVOCATED: "forbidden",
  LOG_VIOLATION: "forbidden",
  OLD_SIZE_MISMATCH: "conflict",
  ROOT_MISMATCH: "conflict",
  BAD_PROOF: "unprocessable",
  AUDIT_SYNCING: "unavailable",
  AUDIT_SIZE_UNKNOWN: "unavailable",
  AUDIT_ROOT_MISMATCH: "conflict",
  // The SCIM bridge's grant (scim/grant.ts).
  GRANT_MISSING_OP: "local",
  GRANT_INVALID: "unavailable",
  GRANT_UNCHECKED: "unavailable",

  // -- verification: what a client, auditor or witness refuses ---------------------------------
  LOG_SIGNATURE_INVALID: "forbidden",
  ORIGIN_MISMATCH: "refused",
  CHECKPOINT_MALFORMED: "refused",
  COSIGNATURE_MALFORMED: "refused",
  NOTE_MALFORMED: "refused",
  NOTE_SIG_INVALID: "refused",
  NOTE_UNVERIFIED: "refused",
  NOTE_AMBIGUOUS_KEY: "refused",
  QUORUM_NOT_MET: "refused",
  AUDIT_QUORUM_NOT_MET: "refused",
  CHECKPOINT_STALE: "refused",
  ROLLBACK: "refused",
  INCONSISTENT: "refused",
  INCLUSION_INVALID: "refused",
  CONSISTENCY_PROOF_INVALID: "refused",
  BUNDLE_MALFORMED: "refused",
  EVENT_MALFORMED: "refused",
  CHAIN_BROKEN: "refused",
  POLICY_VIOLATION: "refused",
  GENESIS_MISMATCH: "refused",
  HISTORY_TRUNCATED: "refused",
  HISTORY_FORKED: "refused",
  INDEX_PROOF_INVALID: "refused",
  INDEX_ENTRY_INVALID: "refused",
  INDEX_INVALID: "refused",
  INDEX_MISMATCH: "refused",
  INDEX_MISSING: "refused",
  NODE_NOT_FOUND: "refused",
  TILE_MISSING: "refused",
  TILE_MISMATCH: "refused",
  TILE_INVALID: "refused",
  BAD_TILE: "refused",
  BAD_ENTRY_BUNDLE: "refused",
  ENTRY_BUNDLE_INVALID: "refused",
  LOG_TREE_MISMATCH: "refused",
  EVIDENCE_INVALID: "refused",
  SNAPSHOT_INVALID: "refused",
  RESPONSE_TOO_LARGE: "refused",
  BAD_RESPONSE: "refused",
  KEY_NOT_ACTIVE: "refused",
  ACCOUNT_NOT_ACTIVE: "refused",
  INVITE_MISMATCH: "refused",
  UNKNOWN_HEAD: "refused",
  INVITE_NOT_LOGGED: "refused",

  // -- calling others ---------------------------------------------------------------------------
  LOG_UNREACHABLE: "upstream",
  FETCH_FAILED: "upstream",
  WEBHOOK_UNREACHABLE: "upstream",
  WEBHOOK_FAILED: "upstream",
  SMTP_FAILED: "upstream",
  DELIVERY_FAILED: "upstream",

  // -- this process's own set-up ----------------------------------------------------------------
  BAD_FLAG: "local",
  BAD_CONFIG: "local",
  CONFIG_INVALID: "local",
  CONFIG_MISMATCH: "local",
  BAD_POLICY: "local",
  NO_WITNESS_POLICY: "local",
  TRUST_STATE_CORRUPT: "local",
  TRUST_STORE_BUSY: "local",
  NO_KEY: "local",
  NO_ADDRESS: "local",
  NO_DELEGATE_KEY: "local",
  KEY_FILE_EXISTS: "local",
  LOG_CORRUPT: "local",
} as const satisfies Record<string, ErrorKind>;

/**
 * A registered code, or one of two families named by pattern: `HTTP_<status>` (a remote
 * answered with that status and no code of its own) and `SCIM_<scimType or status>` (the SCIM
 * bridge's RFC 7644 errors, whose kind follows their status: scim/errors.ts).
 */
export type ErrorCode = keyof typeof REGISTRY | `HTTP_${number}` | `SCIM_${string}`;

/** Every registered code (the families aside). */
export const ERROR_CODES: readonly (keyof typeof REGISTRY)[] = Object.keys(
  REGISTRY,
) as (keyof typeof REGISTRY)[];

/** The kind of a code; `upstream` for HTTP_<status>, by status for SCIM_ codes (see scim/). */
export function errorKind(code: ErrorCode, status?: number): ErrorKind {
  if (Object.hasOwn(REGISTRY, code)) return REGISTRY[code as keyof typeof REGISTRY];
  if (code.startsWith("HTTP_")) return "upstream";
  return kindOfStatus(status ?? 500);
}

/**
 * The HTTP status of each kind, as the log server and the witness answer (the bridge answers
 * `unprocessable` with 400, as SCIM has no 422). A verifier's refusal, an upstream failure or a
 * local problem reaching a request handler unhandled is the answering process's own failure.
 */
export const HTTP_STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  malformed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unprocessable: 422,
  pushback: 429,
  unavailable: 503,
  refused: 500,
  upstream: 500,
  local: 500,
  internal: 500,
};

/** The kind whose usual status is `status` (for codes that carry their own status). */
export function kindOfStatus(status: number): ErrorKind {
  switch (status) {
    case 400:
      return "malformed";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 409:
    case 412:
      return "conflict";
    case 413:
      return "too_large";
    case 422:
      return "unprocessable";
    case 429:
      return "pushback";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "malformed";
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(REGISTRY, code) || /^HTTP_[0-9]{3}$/.test(code) || /^SCIM_[A-Z0-9_]+$/.test(code);
}

/**
 * A code received from another party, if this version knows it; otherwise `fallback`: a newer
 * peer may name errors this version cannot judge (keep the original in details where it helps).
 */
export function knownCode(code: unknown, fallback: ErrorCode): ErrorCode {
  return typeof code === "string" && isErrorCode(code) ? code : fallback;
}
