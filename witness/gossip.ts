// Gossip between witnesses: each round, for every peer and every log this witness knows, fetch
// the peer's latest cosigned checkpoint (GET <peer>/v1/logs/<origin>/checkpoint) and compare it
// with ours; then fetch the peer's evidence (GET <peer>/v1/evidence), re-verify each piece
// against the log keys configured here, and keep what holds. A log that shows two histories
// to two witnesses is caught as soon as they talk, and every witness ends up with the proof.
//
// Nothing from a peer is trusted: a peer's checkpoint only counts if the log signed it, and a
// contradiction is only stored once it is checkable by anyone (witness/evidence.ts).

import { equalBytes, fromUtf8, toBase64 } from "../core/bytes.js";
import { parseCheckpoint } from "../core/checkpoint.js";
import { isTrustlogError } from "../core/errors.js";
import { Lru } from "../core/lru.js";
import { openNote } from "../core/note.js";
import { checkConsistency } from "../core/proof.js";
import { tileHashReader } from "../core/tile-reader.js";
import type { Logger } from "../node/log.js";
import { confirmByReplay } from "./audit-confirm.js";
import {
  type AuditEvidence,
  anyEvidenceFromJson,
  auditEvidenceFingerprint,
  checkAuditEvidence,
  isAuditEvidence,
} from "./audit-evidence.js";
import { checkEvidence, proveInconsistency, sameSizeEvidence } from "./evidence.js";
import { fetchConsistencyProof, httpGet, httpGetOk, httpTileReader, isFetchError } from "./http.js";
import type { WitnessMetrics } from "./metrics.js";
import { checkpointOfNote } from "./pull.js";
import type { Witness } from "./witness.js";

export interface Peer {
  url: string;
}

export interface GossipOptions {
  witness: Witness;
  peers: readonly Peer[];
  /** Origin → base URL of the log, to ask it for a consistency proof or tiles. */
  logUrls: ReadonlyMap<string, string>;
  logger: Logger;
  metrics: WitnessMetrics;
  timeoutMs: number;
  /** How many settled pairs to remember (default DEFAULT_SETTLED_PAIRS). */
  maxSettledPairs?: number;
}

/**
 * Settled pairs remembered: far more than the pairs a round meets (one per peer and log, each
 * peer's checkpoint against ours), so a quiet network costs no tile fetches; peers that keep
 * showing new checkpoints only push the oldest pairs out.
 */
export const DEFAULT_SETTLED_PAIRS = 4096;

export type CompareResult = "consistent" | "evidence" | "unproven" | "skipped";

export class Gossip {
  // Pairs already shown consistent, so a quiet log costs no tile fetches round after round.
  // Bounded: every new checkpoint a peer shows makes a new pair, so an unbounded set would grow
  // for as long as the witness runs. A forgotten pair is only proved again.
  private readonly settled: Lru<string, true>;
  // Audit evidence already judged (fingerprint → confirmed), so that a peer serving the same
  // piece round after round costs one replay, not one per round.
  private readonly judged = new Lru<string, boolean>(1024);

  constructor(private readonly opts: GossipOptions) {
    this.settled = new Lru(opts.maxSettledPairs ?? DEFAULT_SETTLED_PAIRS);
  }

  /** How many settled pairs are remembered (at most maxSettledPairs). */
  get settledPairs(): number {
    return this.settled.size;
  }

  async runOnce(): Promise<void> {
    await Promise.all(this.opts.peers.map((p) => this.gossipWith(p)));
  }

  private async gossipWith(peer: Peer): Promise<void> {
    const { witness, logger, metrics, timeoutMs } = this.opts;
    const source = `gossip ${peer.url}`;
    for (const origin of witness.origins()) {
      try {
        const r = await httpGet(
          `${peer.url}/v1/logs/${encodeURIComponent(origin)}/checkpoint`,
          timeoutMs,
          "checkpoint",
        );
        if (r.status === 404) continue;
        if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
        const result = await this.compare(origin, fromUtf8(r.body), source);
        metrics.gossip.inc({ peer: peer.url, result });
      } catch (err) {
        metrics.gossip.inc({ peer: peer.url, result: "error" });
        logger.warn(
          { peer: peer.url, origin, err: (err as Error).message },
          "gossip: checkpoint fetch failed",
        );
      }
    }
    try {
      const body = await httpGetOk(`${peer.url}/v1/evidence`, timeoutMs, "json");
      const list = JSON.parse(fromUtf8(body)) as unknown;
      if (!Array.isArray(list)) throw new Error("evidence answer is not a list");
      for (const item of list) {
        try {
          const e = anyEvidenceFromJson(item);
          const log = witness.log(e.origin);
          if (!log) continue;
          if (isAuditEvidence(e)) {
            await this.auditEvidence(e, peer);
            continue;
          }
          checkEvidence(e, log.verifiers);
          await witness.recordEvidence(e, `peer ${peer.url}`);
        } catch (err) {
          logger.warn(
            { peer: peer.url, err: (err as Error).message },
            "gossip: peer evidence does not check",
          );
        }
      }
    } catch (err) {
      logger.warn({ peer: peer.url, err: (err as Error).message }, "gossip: evidence fetch failed");
    }
  }

  /**
   * A peer's evidence that the log broke a rule: stored when the evidence proves it alone, or
   * when replaying the log up to its checkpoint finds that very violation (witness/audit-confirm.ts).
   * A witness without the log's URL cannot replay, and keeps only self-contained evidence.
   */
  private async auditEvidence(e: AuditEvidence, peer: Peer): Promise<void> {
    const { witness, logger, timeoutMs } = this.opts;
    const log = witness.log(e.origin)!;
    const fp = auditEvidenceFingerprint(e);
    if (this.judged.get(fp) !== undefined) return;
    const { checkpoint, verdict } = checkAuditEvidence(e, log.verifiers);
    let confirmed = verdict === "proven";
    if (!confirmed) {
      const url = this.opts.logUrls.get(e.origin);
      const state = await witness.state(e.origin);
      if (state?.refused) return; // already refused: not worth a replay
      if (!url) {
        logger.warn(
          { peer: peer.url, origin: e.origin, violation: e.violation },
          "gossip: audit evidence needs a replay, and this witness has no URL for the log",
        );
        return;
      }
      confirmed = await confirmByReplay(url, e, checkpoint, timeoutMs);
    }
    this.judged.set(fp, confirmed);
    if (confirmed) await witness.recordEvidence(e, `peer ${peer.url}`);
    else
      logger.warn(
        { peer: peer.url, origin: e.origin, violation: e.violation },
        "gossip: audit evidence refuted",
      );
  }

  /**
   * Compares a log-signed note from elsewhere with the latest checkpoint this witness cosigned,
   * storing evidence when they cannot both be true.
   */
  async compare(origin: string, theirNote: string, source: string): Promise<CompareResult> {
    const { witness, logger, metrics, timeoutMs } = this.opts;
    const log = witness.log(origin);
    if (!log) return "skipped";
    // Throws when the log did not sign it: a peer's word alone is worth nothing.
    const theirs = parseCheckpoint(openNote(theirNote, log.verifiers).body);
    if (theirs.origin !== origin) throw new Error("checkpoint of another origin");
    const state = await witness.state(origin);
    if (!state || state.note === null) return "skipped";
    const ours = checkpointOfNote(state.note);
    if (ours.size === theirs.size) {
      if (equalBytes(ours.root, theirs.root)) return "consistent";
      await witness.recordEvidence(sameSizeEvidence(origin, state.note, theirNote), source);
      return "evidence";
    }
    const [small, big] =
      ours.size < theirs.size
        ? [
            { note: state.note, checkpoint: ours },
            { note: theirNote, checkpoint: theirs },
          ]
        : [
            { note: theirNote, checkpoint: theirs },
            { note: state.note, checkpoint: ours },
          ];
    if (small.checkpoint.size === 0) return "consistent";
    const pairKey = `${origin}\n${small.checkpoint.size}/${toBase64(small.checkpoint.root)}\n${big.checkpoint.size}/${toBase64(big.checkpoint.root)}`;
    if (this.settled.get(pairKey)) return "consistent";
    const url = this.opts.logUrls.get(origin);
    if (url) {
      try {
        const reader = tileHashReader(httpTileReader(url, timeoutMs), big.checkpoint.size);
        const e = await proveInconsistency(origin, small, big, reader);
        if (!e) {
          this.settled.set(pairKey, true);
          return "consistent";
        }
        await witness.recordEvidence(e, source);
        return "evidence";
      } catch (err) {
        if (!isFetchError(err) && !isTrustlogError(err, "LOG_TREE_MISMATCH")) throw err;
      }
      try {
        const proof = await fetchConsistencyProof(url, small.checkpoint.size, big.checkpoint.size, timeoutMs);
        checkConsistency(
          small.checkpoint.size,
          big.checkpoint.size,
          small.checkpoint.root,
          big.checkpoint.root,
          proof,
        );
        this.settled.set(pairKey, true);
        return "consistent";
      } catch {
        // Fall through: the log cannot show these two checkpoints are consistent.
      }
    }
    metrics.unproven.inc({ origin });
    logger.warn(
      { origin, source, sizes: [small.checkpoint.size, big.checkpoint.size] },
      "two signed checkpoints of different sizes that the log does not prove consistent",
    );
    return "unproven";
  }
}
