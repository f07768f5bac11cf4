// C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the body of a log's signed tree head.
//
//   <origin>\n
//   <tree size, decimal, no leading zeros>\n
//   <base64 of the 32-byte RFC 6962 root hash>\n
//   [<extension line>\n ...]
//
// The body is attacker-controlled when it arrives from a log; parsing is strict: it must
// re-encode to exactly the input, so that two parties never read one text two ways.

import { fromBase64, parseDecimal, toBase64 } from "./bytes.js";
import { TrustlogError } from "./errors.js";

export const MAX_CHECKPOINT_BYTES = 1 << 20;

/**
 * A tree head. `origin` names the log (a schemeless URL such as `example.com/log`; Go's checksum
 * database uses `go.sum database tree`, so spaces are allowed). trustlog publishes no extension
 * lines but parses them, since witnesses cosign other logs.
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions: string[];
}

const CONTROL = /[\x00-\x1f]/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function malformed(message: string): TrustlogError {
  return new TrustlogError("CHECKPOINT_MALFORMED", message);
}

function checkLine(line: string, what: string): void {
  if (line.length === 0) throw malformed(`${what} is empty`);
  if (CONTROL.test(line) || LONE_SURROGATE.test(line)) throw malformed(`${what} has a control character`);
}

/** The checkpoint body, ending in "\n". Throws CHECKPOINT_MALFORMED for values it cannot encode. */
export function formatCheckpoint(c: Checkpoint): string {
  checkLine(c.origin, "origin");
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw malformed("size is not a non-negative integer");
  if (!(c.root instanceof Uint8Array) || c.root.length !== 32) throw malformed("root hash is not 32 bytes");
  for (const e of c.extensions) checkLine(e, "extension line");
  return `${c.origin}\n${c.size}\n${toBase64(c.root)}\n${c.extensions.map((e) => `${e}\n`).join("")}`;
}

/** Parses a checkpoint body (the note text, without signatures). Throws CHECKPOINT_MALFORMED. */
export function parseCheckpoint(body: string): Checkpoint {
  if (typeof body !== "string") throw malformed("checkpoint must be text");
  if (body.length > MAX_CHECKPOINT_BYTES) throw malformed("checkpoint too large");
  if (!body.endsWith("\n")) throw malformed("checkpoint must end in a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw malformed("checkpoint has fewer than three lines");
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  const size = parseDecimal(sizeText);
  if (size === undefined) throw malformed("tree size is not a canonical decimal");
  let root: Uint8Array;
  try {
    root = fromBase64(rootText);
  } catch {
    throw malformed("root hash is not valid base64");
  }
  if (root.length !== 32) throw malformed("root hash is not 32 bytes");
  const c: Checkpoint = { origin, size, root, extensions };
  // formatCheckpoint checks origin and extension lines; equality catches everything else.
  if (formatCheckpoint(c) !== body) throw malformed("checkpoint is not in canonical form");
  return c;
}
