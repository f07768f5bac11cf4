// Reading an HTTP answer with a size cap that holds while reading: the body is consumed as a
// stream and dropped (the stream cancelled, so the connection is closed) as soon as it passes
// the cap, so a hostile log or peer cannot make the reader hold more than the cap in memory,
// whatever it sends or announces. Fetch and ReadableStream only: runs in browsers and Node.
// Used by LogClient and by the witness's outgoing HTTP (witness/http.ts).

import { TrustlogError } from "../core/errors.js";
import { MAX_ENVELOPE_BYTES } from "../core/event.js";
import { FULL_TILE_BYTES, TILE_WIDTH } from "../core/tile-paths.js";

/**
 * The caps per kind of answer. A hash tile is at most 8 KiB (the small slack lets the tile check
 * report a wrong length itself). An entry bundle of a trustlog log holds at most 256 entries,
 * each a 2-byte length and an envelope of at most 16 KiB (DESIGN.md §3; the bundle format would
 * allow 65,535 bytes, but such an entry is refused as an envelope anyway). A checkpoint note is
 * a few lines and at most 100 signature lines (core/note.ts). JSON answers (proof bundles,
 * lookups, proofs) get 8 MiB by default (LogClientOptions.maxJsonBytes raises it).
 *
 * Why not more: while an answer is read, the HTTP stack's own copies of each chunk linger until
 * the garbage collector runs, so a reader may briefly hold two or three times the cap; these caps
 * keep a refused 600 MB answer under 64 MiB of memory (test/client/bounded-read.test.ts).
 */
export const ANSWER_LIMITS = {
  checkpoint: 64 << 10,
  tile: FULL_TILE_BYTES + 256,
  entries: TILE_WIDTH * (2 + MAX_ENVELOPE_BYTES),
  json: 8 << 20,
  /** The body of an error answer: only its code and message are read. */
  error: 64 << 10,
} as const;

/**
 * Reads `res`'s body, refusing it with RESPONSE_TOO_LARGE once more than `maxBytes` arrived (or
 * when its Content-Length announces more). At most `maxBytes` plus one network chunk is ever
 * held. Errors of the stream itself (timeouts, resets) pass through unchanged.
 */
export async function readBounded(res: Response, maxBytes: number, what: string): Promise<Uint8Array> {
  const tooLarge = () =>
    new TrustlogError("RESPONSE_TOO_LARGE", `${what}: the answer is larger than ${maxBytes} bytes`, {
      limit: maxBytes,
    });
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      chunks.length = 0;
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** readBounded, decoded as UTF-8 (invalid sequences become U+FFFD, as Response.text()). */
export async function readBoundedText(res: Response, maxBytes: number, what: string): Promise<string> {
  return new TextDecoder().decode(await readBounded(res, maxBytes, what));
}
