// Pull mode: for logs with a URL, the witness fetches the log's checkpoint and tiles itself,
// builds the consistency proof from its own recorded size, and runs the very same
// add-checkpoint logic (Witness.add). A log that never pushes is still witnessed, and a log
// whose own tiles contradict what this witness cosigned yields portable evidence.

import { equalBytes, fromUtf8 } from "../core/bytes.js";
import { type Checkpoint, parseCheckpoint } from "../core/checkpoint.js";
import { isTrustlogError } from "../core/errors.js";
import { openNote, parseNote } from "../core/note.js";
import { proveConsistency } from "../core/proof.js";
import { tileHashReader } from "../core/tile-reader.js";
import type { Logger } from "../node/log.js";
import { proveInconsistency } from "./evidence.js";
import { httpGetOk, httpTileReader, isFetchError } from "./http.js";
import type { WitnessMetrics } from "./metrics.js";
import type { Witness } from "./witness.js";

export type PullResult =
  | "cosigned"
  | "unchanged"
  | "behind"
  | "refused"
  | "conflict"
  | "evidence"
  | "rejected";

export interface PullerOptions {
  witness: Witness;
  /** Origin → base URL of the log's tlog-tiles API. */
  urls: ReadonlyMap<string, string>;
  logger: Logger;
  metrics: WitnessMetrics;
  timeoutMs: number;
}

export function checkpointOfNote(note: string): Checkpoint {
  return parseCheckpoint(parseNote(note).body);
}

export class Puller {
  constructor(private readonly opts: PullerOptions) {}

  /** One round over every log with a URL; errors are logged per log, never thrown. */
  async runOnce(): Promise<Map<string, PullResult | "error">> {
    const out = new Map<string, PullResult | "error">();
    await Promise.all(
      [...this.opts.urls.keys()].map(async (origin) => {
        let r: PullResult | "error";
        try {
          r = await this.pull(origin);
        } catch (err) {
          this.opts.logger.warn({ origin, err: (err as Error).message }, "pull failed");
          r = "error";
        }
        this.opts.metrics.pulls.inc({ origin, result: r });
        out.set(origin, r);
      }),
    );
    return out;
  }

  /** Fetches the log's checkpoint and cosigns it if it extends the recorded one. */
  async pull(origin: string): Promise<PullResult> {
    const { witness, timeoutMs } = this.opts;
    const url = this.opts.urls.get(origin);
    const log = witness.log(origin);
    if (!url || !log) throw new Error(`no URL for ${origin}`);
    const note = fromUtf8(await httpGetOk(`${url}/checkpoint`, timeoutMs, "checkpoint"));
    const cp = parseCheckpoint(openNote(note, log.verifiers).body);
    if (cp.origin !== origin) throw new Error("the log served a checkpoint of another origin");
    const state = await witness.state(origin);
    if (!state) throw new Error(`log ${origin} is not registered`);
    if (state.refused) return "refused";
    const readTile = httpTileReader(url, timeoutMs);
    if (cp.size < state.size) {
      // A log serving an older checkpoint is fine if it is consistent with what we cosigned.
      if (cp.size === 0 || state.note === null) return "behind";
      const ours = { note: state.note, checkpoint: checkpointOfNote(state.note) };
      let e: Awaited<ReturnType<typeof proveInconsistency>>;
      try {
        e = await proveInconsistency(
          origin,
          { note, checkpoint: cp },
          ours,
          tileHashReader(readTile, state.size),
        );
      } catch (err) {
        // Tiles of the larger tree may be missing (a stale mirror): nothing to conclude.
        if (isFetchError(err) || isTrustlogError(err, "LOG_TREE_MISMATCH")) return "behind";
        throw err;
      }
      if (!e) return "behind";
      await witness.recordEvidence(e, "pull");
      return "evidence";
    }
    if (cp.size === state.size && state.note !== null && equalBytes(state.root, cp.root)) {
      return "unchanged";
    }
    const reader = tileHashReader(readTile, cp.size);
    const proof =
      state.size === 0 || cp.size === state.size ? [] : await proveConsistency(state.size, cp.size, reader);
    try {
      await witness.add({ oldSize: state.size, proof, note }, "pull");
      return "cosigned";
    } catch (err) {
      if (isTrustlogError(err, "OLD_SIZE_MISMATCH")) return "conflict";
      if (isTrustlogError(err, "LOG_EQUIVOCATED")) return "refused";
      if (isTrustlogError(err, "ROOT_MISMATCH")) return "evidence";
      if (isTrustlogError(err, "BAD_PROOF") && state.note !== null && state.size > 0) {
        const ours = { note: state.note, checkpoint: checkpointOfNote(state.note) };
        const e = await proveInconsistency(origin, ours, { note, checkpoint: cp }, reader);
        if (e) {
          await witness.recordEvidence(e, "pull");
          return "evidence";
        }
      }
      if (isTrustlogError(err)) {
        this.opts.logger.warn({ origin, code: err.code, err: err.message }, "pulled checkpoint rejected");
        return "rejected";
      }
      throw err;
    }
  }
}
