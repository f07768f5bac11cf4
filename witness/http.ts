// Outgoing HTTP for pull mode and gossip: plain fetch with a timeout. Everything fetched is
// attacker-controlled and is checked against signatures or roots before it is believed.

import { fromBase64 } from "../core/bytes.js";
import { TrustlogError } from "../core/errors.js";
import { type TileId, tilePath } from "../core/tiles.js";

/** Largest response read from a log or peer (a full tile is 8 KiB; notes are capped at 1 MiB). */
const MAX_RESPONSE_BYTES = 4 << 20;

export interface HttpResult {
  status: number;
  contentType: string;
  body: Uint8Array;
}

export async function httpGet(url: string, timeoutMs: number): Promise<HttpResult> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
  } catch (e) {
    throw new TrustlogError("FETCH_FAILED", `GET ${url}: ${(e as Error).message}`);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > MAX_RESPONSE_BYTES)
    throw new TrustlogError("FETCH_FAILED", `GET ${url}: response too large`);
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", body };
}

/** GET that must answer 200; returns the body. */
export async function httpGetOk(url: string, timeoutMs: number): Promise<Uint8Array> {
  const r = await httpGet(url, timeoutMs);
  if (r.status !== 200)
    throw new TrustlogError("FETCH_FAILED", `GET ${url}: HTTP ${r.status}`, { status: r.status });
  return r.body;
}

/** Reads tlog-tiles hash tiles from `<baseUrl>/tile/…` (for core's tileHashReader). */
export function httpTileReader(baseUrl: string, timeoutMs: number): (t: TileId) => Promise<Uint8Array> {
  return (t) => httpGetOk(`${baseUrl}/${tilePath(t)}`, timeoutMs);
}

/** Asks a trustlog log for a consistency proof (`GET <url>/v1/proof/consistency`). */
export async function fetchConsistencyProof(
  baseUrl: string,
  from: number,
  to: number,
  timeoutMs: number,
): Promise<Uint8Array[]> {
  const body = await httpGetOk(`${baseUrl}/v1/proof/consistency?from=${from}&to=${to}`, timeoutMs);
  const json = JSON.parse(new TextDecoder().decode(body)) as { hashes?: unknown };
  if (!Array.isArray(json.hashes) || json.hashes.some((h) => typeof h !== "string")) {
    throw new TrustlogError("FETCH_FAILED", "consistency proof answer has no hashes");
  }
  return (json.hashes as string[]).map((h) => fromBase64(h));
}
