// The log's HTTP API (DESIGN.md §4) seen from a client: fetch only, so it runs in browsers.
// Nothing returned here is trusted: every answer is checked by the caller (bundle.ts,
// verify-key.ts, audit.ts) against signatures and proofs.

import type {
  AccountAnswer,
  ApiErrorAnswer,
  ConsistencyProofAnswer,
  EntryAnswer,
  HistoryBundleJson,
  InclusionProofAnswer,
  LogInfo,
  OrgAnswer,
  SubmitAnswer,
  SubmitResult,
} from "../core/api-types.js";
import { fromBase64 } from "../core/bytes.js";
import { type ErrorCode, knownCode } from "../core/error-codes.js";
import { TrustlogError } from "../core/errors.js";
import type { Envelope } from "../core/event.js";
import { entriesPath, type TileId, tilePath } from "../core/tile-paths.js";
import { ANSWER_LIMITS, readBounded, readBoundedText } from "./bounded-read.js";

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

// The answers' JSON is declared once for the server and the client (core/api-types.ts).
export type { LogInfo, SubmitResult } from "../core/api-types.js";

export interface LogClientOptions {
  fetch?: Fetch;
  /** Per-request timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
  /** Largest JSON answer read (default ANSWER_LIMITS.json, 8 MiB); larger is RESPONSE_TOO_LARGE. */
  maxJsonBytes?: number;
  /** A writer's bearer token, sent with submissions to a log that requires one. */
  token?: string;
}

export class LogClient {
  readonly url: string;
  private readonly fetchImpl: Fetch;
  private readonly timeoutMs: number;
  private readonly maxJsonBytes: number;
  private readonly token: string | undefined;

  constructor(url: string, opts: LogClientOptions = {}) {
    this.token = opts.token;
    this.url = url.replace(/\/+$/, "");
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxJsonBytes = opts.maxJsonBytes ?? ANSWER_LIMITS.json;
  }

  private async request(path: string, init?: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.url}/${path}`, {
        ...init,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new TrustlogError("LOG_UNREACHABLE", `cannot reach ${this.url}: ${(e as Error).message}`);
    }
    if (!res.ok) throw await httpError(res, path);
    return res;
  }

  /**
   * The body of an answer, read as a stream and refused (RESPONSE_TOO_LARGE) as soon as it passes
   * `maxBytes` (ANSWER_LIMITS), so a hostile log cannot exhaust memory with one answer.
   */
  private async body(path: string, maxBytes: number, init?: RequestInit): Promise<Uint8Array> {
    const res = await this.request(path, init);
    try {
      return await readBounded(res, maxBytes, path);
    } catch (e) {
      if (e instanceof TrustlogError) throw e;
      throw new TrustlogError(
        "LOG_UNREACHABLE",
        `${path}: reading the answer failed: ${(e as Error).message}`,
      );
    }
  }

  private async json<T>(path: string, init?: RequestInit): Promise<T> {
    const text = new TextDecoder().decode(await this.body(path, this.maxJsonBytes, init));
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new TrustlogError("BAD_RESPONSE", `${path}: answer is not JSON`);
    }
  }

  info(): Promise<LogInfo> {
    return this.json("v1/log");
  }

  /** The latest checkpoint note, with the cosignatures the log collected. */
  async checkpoint(): Promise<string> {
    return new TextDecoder().decode(await this.body("checkpoint", ANSWER_LIMITS.checkpoint));
  }

  tile(t: TileId): Promise<Uint8Array> {
    return this.body(tilePath(t), ANSWER_LIMITS.tile);
  }

  entryBundle(index: number, width: number): Promise<Uint8Array> {
    return this.body(entriesPath(index, width), ANSWER_LIMITS.entries);
  }

  async consistency(from: number, to: number): Promise<Uint8Array[]> {
    const r = await this.json<ConsistencyProofAnswer>(`v1/proof/consistency?from=${from}&to=${to}`);
    return decodeHashes(r.hashes, "consistency proof");
  }

  async inclusion(index: number, size: number): Promise<Uint8Array[]> {
    const r = await this.json<InclusionProofAnswer>(`v1/proof/inclusion?index=${index}&size=${size}`);
    return decodeHashes(r.hashes, "inclusion proof");
  }

  entry(index: number): Promise<EntryAnswer> {
    return this.json(`v1/entries/${index}`);
  }

  /** The history proof bundle of an account; `from` asks for a consistency proof from that size. */
  accountProof(org: string, account: string, from?: number): Promise<HistoryBundleJson> {
    const q = from ? `?from=${from}` : "";
    return this.json(`v1/orgs/${encodeURIComponent(org)}/accounts/${encodeURIComponent(account)}/proof${q}`);
  }

  orgProof(org: string, from?: number): Promise<HistoryBundleJson> {
    const q = from ? `?from=${from}` : "";
    return this.json(`v1/orgs/${encodeURIComponent(org)}/proof${q}`);
  }

  /** The log's (unverified) view of an account: used only to learn a chain head quickly. */
  account(org: string, account: string): Promise<AccountAnswer> {
    return this.json(`v1/orgs/${encodeURIComponent(org)}/accounts/${encodeURIComponent(account)}`);
  }

  org(org: string): Promise<OrgAnswer> {
    return this.json(`v1/orgs/${encodeURIComponent(org)}`);
  }

  /** Submits one envelope; resolves once a signed checkpoint covers it. */
  async submit(envelope: Envelope): Promise<{ result: SubmitResult; checkpoint: string }> {
    const r = await this.json<Partial<SubmitAnswer> & Partial<SubmitResult>>("v1/events", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: JSON.stringify(envelope),
    });
    // One envelope gets one result object: accept it bare or wrapped in `results`.
    const result = (Array.isArray(r.results) ? r.results[0] : r) as SubmitResult & Partial<ApiErrorAnswer>;
    if (result?.error)
      throw new TrustlogError(knownCode(result.error.code, "BAD_RESPONSE"), result.error.message, {
        ...result.error,
      });
    return { result, checkpoint: r.checkpoint as string };
  }
}

function decodeHashes(v: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(v)) throw new TrustlogError("BAD_RESPONSE", `${what} is not a list`);
  return v.map((h) => {
    const b = typeof h === "string" ? fromBase64(h) : undefined;
    if (b === undefined || b.length !== 32)
      throw new TrustlogError("BAD_RESPONSE", `${what} holds a bad hash`);
    return b;
  });
}

/** Turns an error answer into a TrustlogError carrying the log's code, status and details. */
async function httpError(res: Response, path: string): Promise<TrustlogError> {
  let code: ErrorCode = res.status === 404 ? "NOT_FOUND" : `HTTP_${res.status}`;
  let message = `${path}: HTTP ${res.status}`;
  let extra: Record<string, unknown> = {};
  try {
    // Only the code and message matter: a huge error body is not read past a small cap.
    const { error, ...rest } = JSON.parse(await readBoundedText(res, ANSWER_LIMITS.error, path)) as {
      error?: Partial<ApiErrorAnswer["error"]> & Record<string, unknown>;
    } & Record<string, unknown>;
    if (error?.code) {
      code = knownCode(error.code, `HTTP_${res.status}`);
      message = error.message ?? message;
      extra = { ...rest, ...error, ...(code !== error.code ? { remoteCode: error.code } : {}) };
    }
  } catch {
    // not JSON: keep the status code
  }
  const retryAfter = res.headers.get("retry-after");
  return new TrustlogError(code, message, {
    ...extra,
    status: res.status,
    ...(retryAfter !== null ? { retryAfter: Number(retryAfter) } : {}),
  });
}
