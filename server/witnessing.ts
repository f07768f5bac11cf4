// The log side of C2SP tlog-witness: submits each new checkpoint to the configured witnesses
// and hands each verified cosignature to `onCosignatures` (server/publication.ts stores it with
// its checkpoint, and what the log serves is read back from there). Self-contained (core/ and
// node/log only).
//
// Per witness, requests run one at a time and in order (a witness's state only moves forward,
// so a newer checkpoint queued behind an older one makes the older one moot and it is skipped);
// witnesses run in parallel. The collector remembers each witness's last known size, starting
// at 0 ("old 0" is how the protocol lets a client learn a witness's state), and on a 409
// text/x.tlog.size rebuilds the proof from the size the witness reports and retries once.

import { equalBytes } from "../core/bytes.js";
import type { HashReader } from "../core/merkle.js";
import { formatNote, type NoteVerifier, openNote, parseNote } from "../core/note.js";
import { parseVerifierKey } from "../core/note-keys.js";
import { proveConsistency } from "../core/proof.js";
import {
  ADD_CHECKPOINT_PATH,
  formatAddCheckpoint,
  parseCosignatureResponse,
  parseSizeResponse,
  TLOG_SIZE_CONTENT_TYPE,
} from "../core/witness-protocol.js";

export interface CollectorWitness {
  name: string;
  /** The witness's cosignature vkey (type 0x04). */
  vkey: string;
  /** Submission prefix: requests go to `<url>/add-checkpoint`. */
  url: string;
}

/** The subset of a pino logger the collector uses. */
export interface CollectorLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WitnessCollectorOptions {
  witnesses: readonly CollectorWitness[];
  /** A reader of the log's tree at `size` (for consistency proofs from a witness's size). */
  hashReader: (size: number) => HashReader;
  logger: CollectorLogger;
  /** Called whenever a witness's cosignature for the latest checkpoint arrives. */
  onCosignatures?: (event: { size: number; witness: string; lines: string[] }) => void;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

interface Submission {
  note: string;
  body: string;
  size: number;
}

interface WitnessState {
  readonly config: CollectorWitness;
  readonly verifier: NoteVerifier;
  /** The witness's latest cosigned size as far as we know (0 until told otherwise). */
  size: number;
  lastError?: string;
  queue: Promise<void>;
}

export class WitnessCollector {
  private readonly witnesses: WitnessState[];
  private readonly timeoutMs: number;
  private latest: Submission | undefined;

  constructor(private readonly opts: WitnessCollectorOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.witnesses = opts.witnesses.map((w) => ({
      config: { ...w, url: w.url.replace(/\/+$/, "") },
      verifier: parseVerifierKey(w.vkey),
      size: 0,
      queue: Promise.resolve(),
    }));
  }

  /**
   * Submits a signed checkpoint (`size` is its tree size) to every witness. Resolves when each
   * witness has answered or failed; never rejects (failures are logged and kept in status()).
   */
  submit(checkpointNote: string, size: number): Promise<void> {
    const body = parseNote(checkpointNote).body;
    const sub: Submission = { note: checkpointNote, body, size };
    if (!this.latest || size >= this.latest.size) this.latest = sub;
    return Promise.all(
      this.witnesses.map((w) => {
        w.queue = w.queue.then(() => this.submitTo(w, sub));
        return w.queue;
      }),
    ).then(() => {});
  }

  /** Re-submits the latest checkpoint, so cosignature timestamps stay fresh while idle. */
  refresh(): Promise<void> {
    return this.latest ? this.submit(this.latest.note, this.latest.size) : Promise.resolve();
  }

  private async submitTo(w: WitnessState, sub: Submission): Promise<void> {
    // A newer checkpoint is already queued or done: this one is moot.
    if (this.latest && this.latest.size > sub.size) return;
    try {
      await this.exchange(w, sub, true);
    } catch (err) {
      w.lastError = (err as Error).message;
      this.opts.logger.warn(
        { witness: w.config.name, size: sub.size, err: w.lastError },
        "witness did not cosign",
      );
    }
  }

  private async exchange(w: WitnessState, sub: Submission, mayRetry: boolean): Promise<void> {
    if (w.size > sub.size) throw new Error(`witness is at size ${w.size}, beyond checkpoint ${sub.size}`);
    const proof =
      w.size === 0 || w.size === sub.size
        ? []
        : await proveConsistency(w.size, sub.size, this.opts.hashReader(sub.size));
    const res = await fetch(`${w.config.url}${ADD_CHECKPOINT_PATH}`, {
      method: "POST",
      body: formatAddCheckpoint(w.size, proof, sub.note),
      headers: { "Content-Type": "text/plain; charset=utf-8" },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await cappedText(res, MAX_WITNESS_ANSWER);
    if (res.status === 409 && res.headers.get("content-type")?.trim() === TLOG_SIZE_CONTENT_TYPE) {
      const size = parseSizeResponse(text);
      if (size === w.size || !mayRetry) throw new Error(`witness insists on size ${size}`);
      w.size = size;
      return this.exchange(w, sub, false);
    }
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.trim().slice(0, 200)}`);
    // Keep only lines that verify with this witness's key over this very checkpoint.
    const opened = openNote(formatNote(sub.body, parseCosignatureResponse(text)), [w.verifier]);
    const lines = opened.signatures
      .filter((s) => s.name === w.verifier.name && equalBytes(s.keyId, w.verifier.keyId))
      .map((s) => s.line);
    w.size = sub.size;
    w.lastError = undefined;
    this.opts.onCosignatures?.({ size: sub.size, witness: w.config.name, lines });
  }
}

/** A witness answers with a size line or a few cosignature lines: far below this. */
const MAX_WITNESS_ANSWER = 64 << 10;

/**
 * The body of a witness's answer, read as a stream and abandoned past `max` bytes: a broken or
 * hostile witness cannot make the log buffer a huge answer (the client's readers do the same,
 * client/bounded-read.ts; the server does not import client/).
 */
async function cappedText(res: Response, max: number): Promise<string> {
  const announced = Number(res.headers.get("content-length"));
  if (Number.isFinite(announced) && announced > max) {
    await res.body?.cancel();
    throw new Error(`witness answer of ${announced} bytes, more than ${max}`);
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new Error(`witness answer longer than ${max} bytes`);
    }
    parts.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(parts));
}
