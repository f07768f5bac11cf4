// The JSON of the log's public HTTP API (docs/api.md), declared once for both sides of the wire:
// the server's routes (server/routes/) build these and the client (client/log-client.ts,
// client/bundle.ts, the explorer) reads them, so a change on one side fails to compile on the
// other. Types only. Bytes are standard base64 with padding; sizes and indices are numbers.
// A client trusts none of it: every answer is checked against signatures and proofs.

import type { LookupJson } from "./chain-index.js";
import type { AccountKey, AccountState, Grant, OrgState } from "./state.js";

/** An error answer's `error` (any status): a stable code (core/error-codes.ts) and a message. */
export interface ApiErrorBody {
  code: string;
  message: string;
  /** CHAIN_CONFLICT only: the chain's current head, to retry from. */
  head?: unknown;
}

/** Every error answer: `{"error": {...}}`. */
export interface ApiErrorAnswer {
  error: ApiErrorBody;
}

/** GET /v1/log: what a client pins (informational: clients pin their own copy). */
export interface LogInfo {
  origin: string;
  vkey: string;
  witnesses: { name: string; vkey: string; url: string }[];
  quorum: number;
}

/** One accepted event of POST /v1/events: where it is, with its proof against `checkpoint`. */
export interface SubmitResult {
  index: number;
  leafHash: string;
  inclusion: string[];
  /** The same envelope was already logged: this is where. */
  duplicate?: true;
}

/** One item of POST /v1/events's `results`, in the order of the request. */
export type SubmitItemResult = SubmitResult | { error: ApiErrorBody };

/**
 * POST /v1/events (200): a result per envelope and the checkpoint the proofs are against. A
 * single envelope that is refused gets an error answer instead.
 */
export interface SubmitAnswer {
  results: SubmitItemResult[];
  checkpoint?: string;
}

/** GET /v1/entries/:index. */
export interface EntryAnswer {
  index: number;
  leafHash: string;
  /** The stored envelope, parsed (the leaf is its RFC 8785 form). */
  envelope: unknown;
}

/** GET /v1/proof/inclusion (RFC 9162 §2.1.3). */
export interface InclusionProofAnswer {
  index: number;
  size: number;
  leafHash: string;
  hashes: string[];
}

/** GET /v1/proof/consistency (RFC 9162 §2.1.4). */
export interface ConsistencyProofAnswer {
  from: number;
  to: number;
  hashes: string[];
}

/** An event of a chain in the org and account answers, with its inclusion proof. */
export interface ChainEventJson {
  index: number;
  seq: number;
  type: string;
  leafHash: string;
  inclusion: string[];
}

/** What the org and account answers add to their state record. */
interface SubjectAnswer {
  events: ChainEventJson[];
  /** The checkpoint note the proofs are against, with its cosignatures. */
  checkpoint: string;
}

/** GET /v1/orgs/:org: the org's state record (core/state.ts), its grants by id, its events. */
export type OrgAnswer = OrgState & SubjectAnswer & { grants: Record<string, Grant> };

/** GET /v1/orgs/:org/accounts/:account: the account's state record, keys by id, its events. */
export type AccountAnswer = Omit<AccountState, "keys"> & SubjectAnswer & { keys: Record<string, AccountKey> };

/** GET /v1/orgs/:org[/accounts/:account]/lookup: the lookup proof of the chain heads. */
export interface LookupAnswer {
  checkpoint: string;
  org: string;
  account?: string;
  lookup: LookupJson;
}

/** An event of a history bundle: its exact leaf bytes and their inclusion proof. */
export interface BundleEventJson {
  index: number;
  /** Base64 of the canonical leaf bytes (the signed envelope's RFC 8785 JSON). */
  envelope: string;
  /** Base64 hashes of the inclusion proof against the bundle's checkpoint. */
  inclusion: string[];
}

/** GET /v1/orgs/:org[/accounts/:account]/proof (docs/client.md; verified by client/bundle.ts). */
export interface HistoryBundleJson {
  /** 1 for an org's bundle (its whole chain), 2 for an account's (a bounded part of it). */
  version: 1 | 2;
  /** The checkpoint note: log signature and witness cosignatures. */
  checkpoint: string;
  org: string;
  account?: string;
  orgEvents: BundleEventJson[];
  accountEvents?: BundleEventJson[];
  /** Present when asked with ?from=N: the proof that the checkpoint extends size N. */
  consistency?: { from: number; hashes: string[] };
  /** The lookup proof of the org's (and account's) chain head as of the checkpoint. */
  lookup: LookupJson;
  /** For each event, the index leaf that first covers it (its batch's last leaf), deduplicated. */
  covers: BundleEventJson[];
}

/** GET /explorer.json: the explorer's starting configuration (explorer/config.ts checks it). */
export interface ExplorerJson {
  origin: string;
  vkey: string;
  /** cosignature/v1 vkeys of the witnesses, `quorum` of them required. */
  witnesses: string[];
  quorum: number;
}
