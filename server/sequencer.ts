// The sequencer: the only writer of a log. It takes submitted envelopes (already parsed and
// signature-checked) in batches, decides each against the policy in order, and commits a batch
// (entries, tiles, derived state, signed checkpoint, log head) in ONE transaction. Waiters are
// answered only after COMMIT returns, so nothing acknowledged can be lost and no checkpoint
// commits to anything that is not durable (perf-reliability.md §3.1).
//
// Crash windows, and why each is safe:
//   - before COMMIT (building, signing, mid-transaction): PostgreSQL rolls the whole batch back;
//     nothing was answered, the signed checkpoint never left the process; submitters retry.
//   - COMMIT sent, process dies before answering: the batch is durable and consistent; the
//     submitters get a connection error, retry, and are answered as duplicates.
//   - COMMIT fails with an unknown outcome (connection lost mid-commit): we cannot tell whether
//     it landed, so the batch is failed as retryable and every cache is dropped; the next batch
//     reloads the head from the database, and a retry is answered as a duplicate if it landed.
//   - another process sequenced meanwhile (two believed they led): our compare-and-swap on
//     log_head matches no row, the transaction rolls back, we drop caches and step down.

import type { Logger } from "pino";
import { equalBytes } from "../core/bytes.js";
import { formatIndexLeaf, INDEX_LEAF_TYPE, isIndexLeaf, parseIndexLeaf } from "../core/chain-index.js";
import { formatCheckpoint } from "../core/checkpoint.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { type Envelope, parseStoredEnvelope } from "../core/event.js";
import { accountEntry, grantEntry, orgEntries, type TrieEntry } from "../core/index-entries.js";
import { leafHash as computeLeafHash, EMPTY_ROOT } from "../core/merkle.js";
import type { Trie } from "../core/mpt.js";
import { type NoteSigner, signNote } from "../core/note.js";
import { DEFAULT_LIMITS, type PolicyLimits } from "../core/policy.js";
import { proveInclusions } from "../core/proof.js";
import { appendLeaves } from "../core/tile-append.js";
import { TILE_WIDTH, type TileId, tilesForSize } from "../core/tile-paths.js";
import { type Database, type Drizzle, databaseUnavailable, isDatabaseUnavailable } from "../node/db.js";
import { decideBatch, positionKey, type SubmitItem, sameEvent } from "./batch.js";
import { acquireLeadership, type Leadership } from "./leader.js";
import { commitBatch, initializeLog } from "./storage/commit.js";
import type { LogStore } from "./storage/log-store.js";
import { StateCache } from "./storage/state.js";

export type { SubmitItem };

export interface SubmitOk {
  index: number;
  leafHash: Uint8Array;
  /** Inclusion proof of `index` in the tree of `treeSize` leaves. */
  inclusion: Uint8Array[];
  /** The signed checkpoint (note text) of size `treeSize`. */
  checkpoint: string;
  treeSize: number;
  /** True when the event was already in the log (identical resubmission). */
  duplicate: boolean;
}

export type SubmitResult = SubmitOk | { error: TrustlogError };

export interface BatchInfo {
  /** Events in the batch (accepted, refused and duplicates). */
  size: number;
  durationMs: number;
  queueDepth: number;
  treeSize: number;
}

/** Test-only fault injection, named for what it simulates. */
export interface SequencerFaults {
  /** Runs inside the batch transaction after the checkpoint is signed and written, before COMMIT. */
  beforeCommit?: (size: number, tx: Pick<Drizzle, "execute">) => Promise<void> | void;
}

export interface SequencerOptions {
  database: Database;
  store: LogStore;
  signer: NoteSigner;
  origin: string;
  batchSize?: number;
  batchDelayMs?: number;
  queueLimit?: number;
  skewSeconds?: number;
  /** Milliseconds since the epoch. */
  clock?: () => number;
  logger?: Logger;
  onBatch?: (info: BatchInfo) => void;
  onCheckpoint?: (note: string, size: number) => void;
  /** Follower retry / leader heartbeat period for the advisory lock (default 1000 ms). */
  leaderRetryMs?: number;
  /** Advisory lock key, when several logs share one PostgreSQL database. */
  lockKey?: string;
  /** Records (orgs, grants and accounts, present or absent) the state cache keeps; default 200,000. */
  stateCacheSize?: number;
  /** Per-org and per-account limits applied when admitting events (default DEFAULT_LIMITS). */
  limits?: PolicyLimits;
  /**
   * Whether results carry inclusion proofs (default true). The log server answers writes from
   * the checkpoint it publishes and proves there, once (server/publication.ts answer), so it
   * passes false; results then carry an empty `inclusion`.
   */
  proofs?: boolean;
  faults?: SequencerFaults;
}

interface Waiter {
  item: SubmitItem;
  resolve: (r: SubmitResult) => void;
}

/** What the batch decided for one item: refused, already logged at dupOf, or appended at pending. */
interface Head {
  size: number;
  root: Uint8Array;
  note: string;
  /** The index of chain heads after every entry of the tree (core/chain-index.ts). */
  trie: Trie;
  /** Time of the latest index leaf (ms): the next one never goes back in time. */
  indexTime: number;
}

/** Retryable errors: the client may resubmit the same envelope (it will dedupe if it landed). */
const notLeader = () => new TrustlogError("NOT_LEADER", "this server is not the log's sequencer; retry");

export class Sequencer {
  private readonly opts: Required<
    Pick<SequencerOptions, "batchSize" | "batchDelayMs" | "queueLimit" | "skewSeconds" | "clock" | "limits">
  > &
    SequencerOptions;
  private queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private leadership: Leadership | undefined;
  private stopping = false;
  private head: Head | undefined;
  /** Right-edge (partial) tiles of the current head, for appendLeaves. */
  private edge = new Map<string, Uint8Array>();
  private state: StateCache;

  constructor(opts: SequencerOptions) {
    this.opts = {
      batchSize: 1000,
      batchDelayMs: 100,
      queueLimit: 10000,
      skewSeconds: 300,
      clock: Date.now,
      limits: DEFAULT_LIMITS,
      ...opts,
    };
    this.state = new StateCache(opts.database.db, opts.stateCacheSize);
  }

  get isLeader(): boolean {
    return !this.stopping && this.leadership?.isLeader === true;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  get treeSize(): number | undefined {
    return this.head?.size;
  }

  /**
   * Starts competing for leadership. Resolves once the first attempt is over: on PGlite or when
   * no other process holds the lock, this process leads (and the log has a checkpoint) by then.
   */
  async start(): Promise<void> {
    if (this.leadership) return;
    this.stopping = false;
    this.leadership = acquireLeadership(this.opts.database, {
      retryMs: this.opts.leaderRetryMs,
      lockKey: this.opts.lockKey,
      onAcquired: () => this.becomeLeader(),
      onLost: (e) => this.stepDown(e),
      onError: (e) => this.opts.logger?.warn({ err: e }, "sequencer leadership attempt failed"),
    });
    await this.leadership.ready;
  }

  /**
   * Stops: refuses new submissions, sequences what is already queued if this process leads (or
   * fails it with NOT_LEADER), waits for the batch in flight, then gives up leadership.
   * Every waiter is answered before this resolves.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running) await this.running;
    if (this.leadership?.isLeader && this.head) {
      while (this.queue.length > 0) await this.runBatch();
    }
    this.failQueue(new TrustlogError("SHUTTING_DOWN", "the log server is shutting down; retry"));
    await this.leadership?.release();
    this.leadership = undefined;
    this.head = undefined;
  }

  /**
   * Queues events and resolves once they are decided: each gets its index, inclusion proof and
   * the checkpoint that covers it, or the error that refused it. Throws QUEUE_FULL (HTTP 503 with
   * Retry-After) when the queue cannot take them all, NOT_LEADER when another process sequences.
   */
  submit(items: SubmitItem[]): Promise<SubmitResult[]> {
    if (this.stopping) throw new TrustlogError("SHUTTING_DOWN", "the log server is shutting down; retry");
    if (!this.isLeader) throw notLeader();
    if (this.queue.length + items.length > this.opts.queueLimit) {
      throw new TrustlogError("QUEUE_FULL", "the sequencer queue is full; retry later", {
        queueDepth: this.queue.length,
        limit: this.opts.queueLimit,
      });
    }
    const promises = items.map(
      (item) => new Promise<SubmitResult>((resolve) => this.queue.push({ item, resolve })),
    );
    this.schedule();
    return Promise.all(promises);
  }

  private schedule(): void {
    if (this.running) return; // the loop re-schedules when the batch in flight ends
    if (this.queue.length >= this.opts.batchSize) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.kick();
    } else if (!this.timer && this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.opts.batchDelayMs);
    }
  }

  private kick(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = this.runBatch().finally(() => {
      this.running = undefined;
      if (!this.stopping) this.schedule();
    });
  }

  private failQueue(error: TrustlogError): void {
    const q = this.queue;
    this.queue = [];
    for (const w of q) w.resolve({ error });
  }

  private dropCaches(): void {
    this.head = undefined;
    this.edge.clear();
    this.state.clear();
    this.opts.store.dropTileCache();
  }

  private async becomeLeader(): Promise<void> {
    this.dropCaches();
    await this.initLog();
    await this.loadHead();
    this.opts.logger?.info({ size: this.head?.size }, "sequencer: leading the log");
  }

  private stepDown(reason: Error): void {
    this.opts.logger?.warn({ err: reason }, "sequencer: leadership lost");
    this.dropCaches();
    this.failQueue(notLeader());
  }

  /** An empty log gets a signed size-0 checkpoint at first start, so /checkpoint always answers. */
  private async initLog(): Promise<void> {
    await initializeLog(this.opts.database, () => ({ root: EMPTY_ROOT, note: this.sign(0, EMPTY_ROOT) }));
  }

  private async loadHead(): Promise<void> {
    const store = this.opts.store;
    const head = await store.head();
    const cp = head ? await store.checkpointAt(head.size) : undefined;
    if (!head || !cp || !equalBytes(cp.root, head.root)) {
      throw new TrustlogError("LOG_CORRUPT", "the log head has no matching checkpoint");
    }
    if (!cp.note.startsWith(`${this.opts.origin}\n`)) {
      throw new TrustlogError(
        "CONFIG_MISMATCH",
        `the database holds a log whose origin is not ${this.opts.origin}`,
      );
    }
    const edge = new Map<string, Uint8Array>();
    for (const t of tilesForSize(head.size)) {
      if (t.width === TILE_WIDTH) continue;
      const data = await store.readTile(t.level, t.index);
      if (!data || data.length < t.width * 32) {
        throw new TrustlogError("LOG_CORRUPT", `edge tile ${t.level}/${t.index} is missing or short`);
      }
      edge.set(`${t.level}/${t.index}`, data.subarray(0, t.width * 32));
    }
    // The index of chain heads, rebuilt from the derived state, must be the one the log's last
    // index leaf committed to: a mismatch means the state tables and the entries disagree.
    const index = await store.chainIndex.atHead();
    let indexTime = 0;
    if (index.size !== head.size) throw new TrustlogError("LOG_CORRUPT", "the log head moved while loading");
    if (head.size > 0) {
      // Every checkpoint the log signs ends with its index leaf (DESIGN.md §4).
      const last = await store.getEntry(head.size - 1);
      if (!last || !isIndexLeaf(last.envelope)) {
        throw new TrustlogError(
          "LOG_CORRUPT",
          `the log's last entry (${head.size - 1}) is not an index leaf`,
        );
      }
      const leaf = parseIndexLeaf(last.envelope);
      if (!equalBytes(leaf.root, index.trie.root())) {
        throw new TrustlogError(
          "LOG_CORRUPT",
          "the chain index rebuilt from the state tables does not match the last index leaf",
        );
      }
      indexTime = leaf.time;
    }
    this.edge = edge;
    this.head = { size: head.size, root: head.root, note: cp.note, trie: index.trie, indexTime };
  }

  private sign(size: number, root: Uint8Array): string {
    return signNote(formatCheckpoint({ origin: this.opts.origin, size, root, extensions: [] }), [
      this.opts.signer,
    ]);
  }

  private async runBatch(): Promise<void> {
    const batch = this.queue.splice(0, this.opts.batchSize);
    if (batch.length === 0) return;
    const started = performance.now();
    let results: SubmitResult[];
    try {
      if (!this.head) await this.loadHead();
      results = await this.sequence(batch.map((w) => w.item));
    } catch (e) {
      // The database going away is pushback (503 DATABASE_UNAVAILABLE), not a failure of ours.
      const unavailable = !isTrustlogError(e) && isDatabaseUnavailable(e);
      const error = isTrustlogError(e)
        ? e
        : unavailable
          ? databaseUnavailable(e)
          : new TrustlogError("SEQUENCER_FAILED", "the batch could not be committed; retry", {
              cause: String(e),
            });
      this.opts.logger?.[unavailable ? "warn" : "error"](
        { err: e, batch: batch.length },
        "sequencer: batch failed, nothing acknowledged",
      );
      this.dropCaches();
      results = batch.map(() => ({ error }));
      if (isTrustlogError(e, "NOT_LEADER")) await this.leadership?.abdicate(e);
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
    this.opts.onBatch?.({
      size: batch.length,
      durationMs: performance.now() - started,
      queueDepth: this.queue.length,
      treeSize: this.head?.size ?? 0,
    });
  }

  /** Decides and commits one batch; throws (committing nothing) when storage fails. */
  private async sequence(items: SubmitItem[]): Promise<SubmitResult[]> {
    const head = this.head!;
    const store = this.opts.store;
    await this.state.preload(items.map((it) => it.envelope.event));
    // One reading of the clock judges the batch and dates its index leaf.
    const now = this.opts.clock();
    const decided = decideBatch(items, this.state, {
      size: head.size,
      nowSeconds: Math.floor(now / 1000),
      skewSeconds: this.opts.skewSeconds,
      limits: this.opts.limits,
    });
    const out = decided.decisions;
    const { accepted, maybeLogged } = decided;
    const overlayOrgs = decided.orgs;
    const overlayGrants = decided.grants;
    const overlayAccounts = decided.accounts;
    if (maybeLogged.length > 0) {
      const found = await store.eventsAt(maybeLogged.map((i) => items[i]!.envelope.event));
      const byPosition = new Map<string, (typeof found)[number]>();
      for (const f of found) {
        if (f.type === INDEX_LEAF_TYPE) continue;
        byPosition.set(positionKey({ ...f, type: f.type as Envelope["event"]["type"] }), f);
      }
      for (const i of maybeLogged) {
        const it = items[i]!;
        const f = byPosition.get(positionKey(it.envelope.event));
        if (f && sameEvent(parseStoredEnvelope(f.envelope).envelope, it.envelope)) {
          out[i] = { dupOf: f.index, leafHash: f.leafHash };
        }
      }
    }
    let newHead = head;
    let changedTiles: { tile: TileId; data: Uint8Array }[] = [];
    if (accepted.length > 0) {
      // The batch's last leaf is the log's index leaf: the trie of chain heads after it.
      const updates: TrieEntry[] = [];
      for (const o of overlayOrgs.values()) updates.push(...orgEntries(o));
      for (const g of overlayGrants.values()) updates.push(grantEntry(g));
      for (const a of overlayAccounts.values()) updates.push(accountEntry(a));
      const trie = head.trie.setMany(updates);
      const indexTime = Math.max(now, head.indexTime);
      const indexLeaf = formatIndexLeaf({
        size: head.size + accepted.length,
        time: indexTime,
        root: trie.root(),
      });
      const leaves = [...accepted, { leaf: indexLeaf, leafHash: computeLeafHash(indexLeaf) }];
      const appended = appendLeaves(
        head.size,
        (t) => this.edge.get(`${t.level}/${t.index}`)?.subarray(0, t.width * 32),
        leaves.map((it) => it.leafHash),
      );
      changedTiles = appended.tiles;
      const note = this.sign(appended.size, appended.root);
      newHead = { size: appended.size, root: appended.root, note, trie, indexTime };
      await commitBatch(
        this.opts.database,
        head,
        newHead,
        {
          events: accepted,
          indexLeaf,
          tiles: changedTiles,
          orgs: overlayOrgs.values(),
          grants: overlayGrants.values(),
          accounts: overlayAccounts.values(),
        },
        this.opts.faults?.beforeCommit,
      );
      // Committed: from here on the batch is durable and may be acknowledged.
      this.head = newHead;
      store.chainIndex.remember(newHead.size, trie);
      for (const { tile, data } of changedTiles) {
        store.rememberTile(tile.level, tile.index, data);
        if (tile.width === TILE_WIDTH) this.edge.delete(`${tile.level}/${tile.index}`);
        else this.edge.set(`${tile.level}/${tile.index}`, data);
      }
      this.state.update(overlayOrgs.values(), overlayGrants.values(), overlayAccounts.values());
      this.opts.onCheckpoint?.(note, newHead.size);
    }

    // Inclusion proofs against the new head, every needed hash fetched once for the batch.
    const indices = new Set<number>();
    for (const r of out) {
      if ("pending" in r) indices.add(r.pending);
      else if ("dupOf" in r) indices.add(r.dupOf);
    }
    const proofs =
      this.opts.proofs === false
        ? new Map<number, Uint8Array[]>()
        : await proveInclusions([...indices], newHead.size, this.opts.store.hashReader(newHead.size));
    return out.map((r) => {
      if ("error" in r) return r;
      const index = "pending" in r ? r.pending : r.dupOf;
      return {
        index,
        leafHash: r.leafHash,
        inclusion: proofs.get(index) ?? [],
        checkpoint: newHead.note,
        treeSize: newHead.size,
        duplicate: "dupOf" in r,
      };
    });
  }
}
