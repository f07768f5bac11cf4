// Outgoing HTTP for pull mode and gossip: fetch with a timeout, and a size cap per kind of answer
// that holds while reading (a hostile log or peer cannot make the witness buffer a huge answer).
// Everything fetched is attacker-controlled and is checked against signatures or roots before
// it is believed.

import { ANSWER_LIMITS, readBounded } from "../client/bounded-read.js";
import { fromBase64 } from "../core/bytes.js";
import { decodeEntryBundle } from "../core/entry-bundle.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { entriesPath, TILE_WIDTH, type TileId, tilePath } from "../core/tile-paths.js";

/**
 * The cap of each kind of answer (client/bounded-read.ts): a checkpoint note, a hash tile, or
 * JSON (a peer's evidence list, a consistency proof; 4 MiB is far above either).
 */
export const WITNESS_ANSWER_LIMITS = {
  checkpoint: ANSWER_LIMITS.checkpoint,
  tile: ANSWER_LIMITS.tile,
  /** An entry bundle (what an auditing witness replays). */
  entries: ANSWER_LIMITS.entries,
  json: 4 << 20,
} as const;

export type AnswerKind = keyof typeof WITNESS_ANSWER_LIMITS;

export interface HttpResult {
  status: number;
  contentType: string;
  body: Uint8Array;
}

/**
 * GET `url`; the body is read as a stream and refused with RESPONSE_TOO_LARGE as soon as it
 * passes the cap of `kind`, so a hostile log or peer cannot make the witness buffer a huge answer.
 */
export async function httpGet(url: string, timeoutMs: number, kind: AnswerKind): Promise<HttpResult> {
  let res: Response;
  let body: Uint8Array;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
    body = await readBounded(res, WITNESS_ANSWER_LIMITS[kind], `GET ${url}`);
  } catch (e) {
    if (e instanceof TrustlogError) throw e;
    throw new TrustlogError("FETCH_FAILED", `GET ${url}: ${(e as Error).message}`);
  }
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", body };
}

/** A failed fetch: nothing could be read, so nothing can be concluded from it. */
export function isFetchError(e: unknown): boolean {
  return isTrustlogError(e, "FETCH_FAILED") || isTrustlogError(e, "RESPONSE_TOO_LARGE");
}

/** GET that must answer 200; returns the body. */
export async function httpGetOk(url: string, timeoutMs: number, kind: AnswerKind): Promise<Uint8Array> {
  const r = await httpGet(url, timeoutMs, kind);
  if (r.status !== 200)
    throw new TrustlogError("FETCH_FAILED", `GET ${url}: HTTP ${r.status}`, { status: r.status });
  return r.body;
}

/** Reads tlog-tiles hash tiles from `<baseUrl>/tile/…` (for core's tileHashReader). */
export function httpTileReader(baseUrl: string, timeoutMs: number): (t: TileId) => Promise<Uint8Array> {
  return (t) => httpGetOk(`${baseUrl}/${tilePath(t)}`, timeoutMs, "tile");
}

/** Asks a trustlog log for a consistency proof (`GET <url>/v1/proof/consistency`). */
export async function fetchConsistencyProof(
  baseUrl: string,
  from: number,
  to: number,
  timeoutMs: number,
): Promise<Uint8Array[]> {
  const body = await httpGetOk(`${baseUrl}/v1/proof/consistency?from=${from}&to=${to}`, timeoutMs, "json");
  const json = JSON.parse(new TextDecoder().decode(body)) as { hashes?: unknown };
  if (!Array.isArray(json.hashes) || json.hashes.some((h) => typeof h !== "string")) {
    throw new TrustlogError("FETCH_FAILED", "consistency proof answer has no hashes");
  }
  return (json.hashes as string[]).map((h) => fromBase64(h));
}

/**
 * Reads entries [from, to) of the log's tree of size `to` from its entry bundles
 * (`<url>/tile/entries/<N>[.p/<W>]`), `parallel` bundles at a time. Nothing is authenticated
 * here: the auditor hashes what it gets into the tree and compares roots.
 */
export async function fetchEntries(
  baseUrl: string,
  from: number,
  to: number,
  timeoutMs: number,
  parallel = 8,
): Promise<Uint8Array[]> {
  if (from >= to) return [];
  const first = Math.floor(from / TILE_WIDTH);
  const last = Math.ceil(to / TILE_WIDTH) - 1;
  const bundles: Uint8Array[][] = new Array(last - first + 1);
  let next = first;
  const worker = async () => {
    while (next <= last) {
      const n = next++;
      const width = Math.min(TILE_WIDTH, to - n * TILE_WIDTH);
      const data = await httpGetOk(`${baseUrl}/${entriesPath(n, width)}`, timeoutMs, "entries");
      try {
        bundles[n - first] = decodeEntryBundle(data, width);
      } catch (e) {
        throw new TrustlogError("FETCH_FAILED", `entry bundle ${n}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, last - first + 1) }, worker));
  const out: Uint8Array[] = [];
  for (let n = first; n <= last; n++) {
    const b = bundles[n - first]!;
    const lo = Math.max(from, n * TILE_WIDTH) - n * TILE_WIDTH;
    for (let i = lo; i < b.length; i++) out.push(b[i]!);
  }
  return out;
}
