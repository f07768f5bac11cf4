// What the log publishes, and how it gets its checkpoints witnessed (DESIGN.md §4, Witnessing).
//
// Every checkpoint the sequencer commits goes to the configured witnesses (C2SP tlog-witness,
// through WitnessCollector); each verified cosignature line is stored with its checkpoint, so
// /checkpoint serves the cosignatures collected so far and they survive a restart. While idle the
// latest checkpoint is re-submitted every `refreshSeconds`, so cosignature timestamps stay fresh
// and witnesses can vouch that the log is live.
//
// With `publishQuorum` k > 0, the log publishes (serves at /checkpoint, and answers writes with)
// only checkpoints that k distinct configured witnesses have cosigned; the tree above the
// latest published size is committed but not yet public, like a Tessera "await integration".

import { proveInclusions } from "../core/proof.js";
import type { Database } from "../node/db.js";
import type { Logger } from "../node/log.js";
import type { SubmitResult } from "./sequencer.js";
import type { LogStore, StoredCheckpoint } from "./storage/log-store.js";
import { type CollectorWitness, WitnessCollector } from "./witnessing.js";

export interface PublicationOptions {
  database: Database;
  store: LogStore;
  witnesses: readonly CollectorWitness[];
  publishQuorum: number;
  refreshSeconds: number;
  /** How long a write waits for the witness quorum before answering with what it has. */
  quorumWaitMs: number;
  logger: Logger;
  clock: () => number;
  /** Called when what /checkpoint serves may have changed. */
  onChange: () => void;
}

export class Publication {
  readonly collector: WitnessCollector | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly waiters = new Set<() => void>();
  /** Proofs being gathered for one answer size (prove). */
  private readonly proving = new Map<
    number,
    { wanted: Set<number>; proofs: Promise<Map<number, Uint8Array[]>> }
  >();

  constructor(private readonly opts: PublicationOptions) {
    if (opts.witnesses.length > 0) {
      this.collector = new WitnessCollector({
        witnesses: opts.witnesses,
        hashReader: (size) => opts.store.hashReader(size),
        logger: opts.logger,
        onCosignatures: (ev) => void this.record(ev.size, ev.witness, ev.lines),
      });
    }
  }

  /** Submits the latest stored checkpoint (after a restart) and starts the idle refresh. */
  async start(): Promise<void> {
    if (!this.collector) return;
    const cp = await this.opts.store.latestCheckpoint();
    if (cp) void this.collector.submit(cp.note, cp.size);
    if (this.opts.refreshSeconds > 0) {
      this.timer = setInterval(() => void this.collector?.refresh(), this.opts.refreshSeconds * 1000);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.waiters) w();
  }

  /** The sequencer committed a checkpoint: send it to the witnesses. */
  checkpointCommitted(note: string, size: number): void {
    void this.collector?.submit(note, size);
  }

  /** The checkpoint /checkpoint serves: the latest, or the latest with the quorum. */
  published(): Promise<StoredCheckpoint | undefined> {
    const k = this.opts.publishQuorum;
    return k > 0 ? this.latestWithCosignatures(k) : this.opts.store.latestCheckpoint();
  }

  /**
   * The one step that answers a write: picks the checkpoint the answer carries, the newest
   * any item was committed under (in quorum mode, the first published one that covers them all,
   * waiting for the witnesses up to quorumWaitMs; past that the events are committed either way
   * and the answer carries the newest log-signed checkpoint alone), and proves every item
   * against it in one batch (core proveInclusions), so each proof is made once.
   */
  async answer(results: SubmitResult[]): Promise<SubmitResult[]> {
    let top: { checkpoint: string; treeSize: number } | undefined;
    for (const r of results) if (!("error" in r) && (!top || r.treeSize > top.treeSize)) top = r;
    if (!top) return results;
    let answer = { note: top.checkpoint, size: top.treeSize };
    const k = this.opts.publishQuorum;
    if (k > 0) {
      const cp = await this.awaitPublished(k, top.treeSize);
      if (cp) answer = { note: cp.note + cp.cosignatures.join(""), size: cp.size };
      else
        this.opts.logger.warn(
          { size: top.treeSize, quorum: k },
          "witness quorum not reached in time; answering unwitnessed",
        );
    }
    const ok = results.filter((r): r is Exclude<SubmitResult, { error: unknown }> => !("error" in r));
    const proofs = await this.prove(
      ok.map((r) => r.index),
      answer.size,
    );
    return results.map((r) =>
      "error" in r
        ? r
        : { ...r, checkpoint: answer.note, treeSize: answer.size, inclusion: proofs.get(r.index)! },
    );
  }

  /**
   * Inclusion proofs against the tree of `size`, made together for every request answered at
   * that size in the same turn of the event loop: a batch's waiters are all answered at once, and
   * one proveInclusions over all their indices reads and hashes each shared node once instead of
   * once a request (with single-event requests, that hashing was the write path's largest cost
   * on the event loop: issue 13's profile).
   */
  private prove(indices: readonly number[], size: number): Promise<Map<number, Uint8Array[]>> {
    let group = this.proving.get(size);
    if (!group) {
      const wanted = new Set<number>();
      const proofs = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        // Requests arriving from here on start a group of their own.
        this.proving.delete(size);
        return proveInclusions([...wanted], size, this.opts.store.hashReader(size));
      });
      group = { wanted, proofs };
      this.proving.set(size, group);
    }
    for (const i of indices) group.wanted.add(i);
    return group.proofs;
  }

  /** The first checkpoint of at least `need` leaves with k cosignatures, within quorumWaitMs. */
  private async awaitPublished(k: number, need: number): Promise<StoredCheckpoint | undefined> {
    const deadline = Date.now() + this.opts.quorumWaitMs;
    let cp = await this.latestWithCosignatures(k, need);
    while (!cp && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiters.delete(done);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(done, Math.min(250, Math.max(1, deadline - Date.now())));
        this.waiters.add(done);
      });
      cp = await this.latestWithCosignatures(k, need);
    }
    return cp;
  }

  private async record(size: number, witness: string, lines: string[]): Promise<void> {
    try {
      // One line per witness and checkpoint (a witness key signs one line per request).
      for (const line of lines) await this.opts.store.addCosignature(size, witness, `${line}\n`);
      this.opts.onChange();
      for (const w of [...this.waiters]) w();
    } catch (err) {
      this.opts.logger.error({ err, size, witness }, "could not store a cosignature");
    }
  }

  private latestWithCosignatures(k: number, atLeast = 0): Promise<StoredCheckpoint | undefined> {
    return this.opts.store.latestCosignedBy(k, atLeast);
  }
}
