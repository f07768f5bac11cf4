// C2SP tlog-witness (c2sp.org/tlog-witness) on the wire, apart from HTTP and from the checks a
// witness makes: the add-checkpoint request body and the two answers a log reads back. The log
// (server/witnessing.ts) writes requests and reads answers; the witness (witness/app.ts,
// witness/witness.ts) does the opposite; both through here, so the two cannot drift apart.
//
//   request   POST <prefix>/add-checkpoint
//             "old <size>\n", 0..63 base64 consistency-proof lines, "\n", the signed checkpoint
//   200       one or more cosignature lines, each ending in "\n"
//   409       Content-Type exactly "text/x.tlog.size" (no charset: Go clients compare the
//             string), body "<the witness's latest cosigned size>\n"

import { fromBase64, fromUtf8, parseDecimal, toBase64 } from "./bytes.js";
import { TrustlogError } from "./errors.js";

/** The submission path below a witness's prefix. */
export const ADD_CHECKPOINT_PATH = "/add-checkpoint";

/** The content type of a 409 that carries the witness's size. */
export const TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size";

/** A consistency proof between sizes below 2^63 has at most 63 hashes. */
export const MAX_PROOF_LINES = 63;

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** The signed checkpoint note, as received. */
  note: string;
}

function bad(message: string): TrustlogError {
  return new TrustlogError("BAD_REQUEST", message);
}

/**
 * Parses an add-checkpoint body: `old <size>\n`, up to 63 base64 proof lines, an empty line,
 * then the signed checkpoint (not parsed here). Throws BAD_REQUEST. The body is
 * attacker-controlled.
 */
export function parseAddCheckpoint(body: Uint8Array | string): AddCheckpointRequest {
  let text: string;
  if (typeof body === "string") text = body;
  else {
    try {
      text = fromUtf8(body);
    } catch {
      throw bad("body is not UTF-8");
    }
  }
  const split = text.indexOf("\n\n");
  if (split < 0) throw bad("body has no empty line before the checkpoint");
  const head = text.slice(0, split).split("\n");
  const first = head[0]!;
  if (!first.startsWith("old ")) throw bad('body must start with "old <size>"');
  const oldSize = parseDecimal(first.slice(4));
  if (oldSize === undefined) throw bad("old size is not a canonical decimal");
  const proofLines = head.slice(1);
  if (proofLines.length > MAX_PROOF_LINES) throw bad(`more than ${MAX_PROOF_LINES} proof lines`);
  const proof = proofLines.map((line) => {
    let h: Uint8Array;
    try {
      h = fromBase64(line);
    } catch {
      throw bad("proof line is not base64");
    }
    if (h.length !== 32) throw bad("proof hash is not 32 bytes");
    return h;
  });
  return { oldSize, proof, note: text.slice(split + 2) };
}

/**
 * Formats an add-checkpoint body (what a log sends). It checks nothing, so that tests can send
 * what a broken log would.
 */
export function formatAddCheckpoint(oldSize: number, proof: readonly Uint8Array[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => `${toBase64(h)}\n`).join("")}\n${note}`;
}

/** The 200 answer: the cosignature lines (given without their "\n"). */
export function formatCosignatureResponse(lines: readonly string[]): string {
  return lines.map((l) => `${l}\n`).join("");
}

/**
 * The lines of a 200 answer, without their "\n". Throws BAD_RESPONSE unless it is one or more
 * non-empty lines each ending in "\n"; the lines themselves are checked as signatures of the
 * checkpoint by whoever adds them to its note (core/note.ts openNote).
 */
export function parseCosignatureResponse(text: string): string[] {
  if (text.length === 0 || !text.endsWith("\n"))
    throw new TrustlogError("BAD_RESPONSE", "a witness's answer must be lines ending in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.some((l) => l.length === 0))
    throw new TrustlogError("BAD_RESPONSE", "a witness's answer holds an empty line");
  return lines;
}

/** The body of the 409 `text/x.tlog.size` answer. */
export function formatSizeResponse(size: number): string {
  return `${size}\n`;
}

/**
 * The size in a 409 `text/x.tlog.size` answer. Surrounding white space is tolerated (the spec
 * writes one "\n"); anything but a decimal safe integer is BAD_RESPONSE.
 */
export function parseSizeResponse(text: string): number {
  const t = text.trim();
  const size = Number.parseInt(t, 10);
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(size))
    throw new TrustlogError("BAD_RESPONSE", "a witness's size answer is not a decimal size");
  return size;
}
