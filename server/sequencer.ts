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
//
// Pipelining: while batch N commits, batch N+1 is prepared (state loaded, decided, trie, tiles
// and checkpoint signed) on top of N's outcome as if N had committed: the state N changed, its
// right-edge tiles, its head and the positions of its events. N+1 starts its own transaction
// only once N's COMMIT has returned; if N failed, N+1 was built on a head that never existed,
// so it is thrown away unanswered and its items go back to the front of the queue. Nothing of
// N+1 is written or answered before N is durable, so the crash windows above are unchanged.

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
import type { AccountState, Grant, OrgState, StateView } from "../core/state.js";
import { appendLeaves } from "../core/tile-append.js";
import { TILE_WIDTH, type TileId, tilesForSize } from "../core/tile-paths.js";
import { type Database, type Drizzle, databaseUnavailable, isDatabaseUnavailable } from "../node/db.js";
import {
  accountKey,
  type Decision,
  decideBatch,
  grantKey,
  positionKey,
  type SubmitItem,
  sameEvent,
} from "./batch.js";
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
  /** Runs when a batch is decided, with the tree size it builds on (committed or not). */
  prepared?: (baseSize: number, items: number) => void;
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

/** A tree head the sequencer builds on. */
interface Head {
  size: number;
  root: Uint8Array;
  note: string;
  /** The index of chain heads after every entry of the tree (core/chain-index.ts). */
  trie: Trie;
  /** Time of the latest index leaf (ms): the next one never goes back in time. */
  indexTime: number;
}

/**
 * What the next batch is built on: the committed log, or the outcome of the batch committing
 * now (its head, right-edge tiles, the records it changed and its events by chain position).
 */
interface Tip {
  head: Head;
  /** Right-edge (partial) tiles of `head`, for appendLeaves. */
  edge: Map<string, Uint8Array>;
  orgs: ReadonlyMap<string, OrgState>;
  grants: ReadonlyMap<string, Grant>;
  accounts: ReadonlyMap<string, AccountState>;
  positions: ReadonlyMap<string, { index: number; item: SubmitItem }>;
}

/** A batch decided and ready to commit (everything but the transaction and the answers). */
interface Prepared {
  waiters: Waiter[];
  started: number;
  /** The caches' generation it was built in: a batch from an older one is stale. */
  generation: number;
  decisions: Decision[];
  /** What the log is after this batch (its own tip, the base of the next batch). */
  tip: Tip;
  /** What commitBatch writes; undefined when the batch appends nothing. */
  write?: {
    base: Head;
    accepted: SubmitItem[];
    indexLeaf: Uint8Array;
    tiles: { tile: TileId; data: Uint8Array }[];
  };
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
  /** The committed head (undefined until loaded, and after the caches are dropped). */
  private head: Head | undefined;
  /** Right-edge (partial) tiles of the committed head, for appendLeaves. */
  private edge = new Map<string, Uint8Array>();
  private state: StateCache;
  /** Bumped whenever the caches are dropped: a batch prepared before is stale. */
  private generation = 0;
  /** Wakes a pump waiting for work while a batch commits (gather). */
  private nudge: (() => void) | undefined;

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
      while (this.queue.length > 0) await this.pump();
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
    if (this.running) {
      // The pump takes it: at once if it waits while a batch commits, else when it loops.
      this.nudge?.();
      return;
    }
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
    this.running = this.pump().finally(() => {
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
    this.generation++;
    this.head = undefined;
    // A new map, not clear(): a batch being prepared may hold the old one (it is stale now).
    this.edge = new Map();
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

  /**
   * Sequences what is queued, batch after batch, preparing each while the one before commits
   * (see the header); returns when the queue is empty and the last batch is answered.
   */
  private async pump(): Promise<void> {
    let committing: Promise<boolean> | undefined;
    let tip: Tip | undefined;
    for (;;) {
      if (committing) await this.gather(committing);
      const waiters = this.queue.splice(0, this.opts.batchSize);
      if (waiters.length === 0) break;
      const started = performance.now();
      let prepared: Prepared;
      try {
        if (!committing || !tip) {
          if (!this.head) await this.loadHead();
          tip = this.committedTip();
        }
        prepared = await this.prepare(waiters, tip, started);
      } catch (e) {
        // Settle the batch before first: if it failed, this one was built on nothing.
        if (committing && !(await committing)) this.requeue(waiters);
        else await this.fail(waiters, e, started);
        committing = undefined;
        continue;
      }
      if (committing && !(await committing)) {
        // Built on a batch that did not commit: back to the front of the queue, unanswered.
        this.requeue(waiters);
        committing = undefined;
        continue;
      }
      tip = prepared.tip;
      committing = this.finish(prepared);
    }
    await committing;
  }

  /**
   * While a batch commits, waits for the next one to gather: until the queue holds a full batch,
   * or batchDelayMs after it first holds anything, or until the commit settles. Returns with an
   * empty queue only once the commit has settled.
   */
  private async gather(committing: Promise<boolean>): Promise<void> {
    let settled = false;
    void committing.then(() => {
      settled = true;
      this.nudge?.();
    });
    let deadline: number | undefined;
    while (!settled && this.queue.length < this.opts.batchSize) {
      if (this.queue.length > 0) {
        deadline ??= performance.now() + this.opts.batchDelayMs;
        const left = deadline - performance.now();
        if (left <= 0) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          this.nudge = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      } else {
        await new Promise<void>((resolve) => {
          this.nudge = resolve;
        });
      }
      this.nudge = undefined;
    }
  }

  /** The committed log as the base of the next batch. */
  private committedTip(): Tip {
    return {
      head: this.head!,
      edge: this.edge,
      orgs: new Map(),
      grants: new Map(),
      accounts: new Map(),
      positions: new Map(),
    };
  }

  /** Items of a batch that was thrown away: queued again first, or refused if we no longer lead. */
  private requeue(waiters: Waiter[]): void {
    // While stopping, a leader still sequences what is queued (stop() drains the queue).
    if (!this.leadership?.isLeader) {
      for (const w of waiters) w.resolve({ error: notLeader() });
    } else {
      this.queue.unshift(...waiters);
    }
  }

  /** Answers a batch that failed (nothing of it committed) and drops every cache. */
  private async fail(waiters: Waiter[], e: unknown, started: number): Promise<void> {
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
      { err: e, batch: waiters.length },
      "sequencer: batch failed, nothing acknowledged",
    );
    this.dropCaches();
    for (const w of waiters) w.resolve({ error });
    this.report(waiters.length, started);
    if (isTrustlogError(e, "NOT_LEADER")) await this.leadership?.abdicate(e);
  }

  private report(size: number, started: number): void {
    this.opts.onBatch?.({
      size,
      durationMs: performance.now() - started,
      queueDepth: this.queue.length,
      treeSize: this.head?.size ?? 0,
    });
  }

  /**
   * Decides one batch on top of `tip` and builds what it commits (no write). Throws, deciding
   * nothing, when loading state fails.
   */
  private async prepare(waiters: Waiter[], tip: Tip, started: number): Promise<Prepared> {
    const generation = this.generation;
    const items = waiters.map((w) => w.item);
    const head = tip.head;
    const store = this.opts.store;
    await this.state.preload(items.map((it) => it.envelope.event));
    // The records the batch committing now changed take precedence over the cache.
    const view: StateView =
      tip.orgs.size + tip.grants.size + tip.accounts.size === 0
        ? this.state
        : {
            org: (id) => tip.orgs.get(id) ?? this.state.org(id),
            grant: (org, id) => tip.grants.get(grantKey(org, id)) ?? this.state.grant(org, id),
            account: (org, id) => tip.accounts.get(accountKey(org, id)) ?? this.state.account(org, id),
          };
    // One reading of the clock judges the batch and dates its index leaf.
    const now = this.opts.clock();
    const decided = decideBatch(items, view, {
      size: head.size,
      nowSeconds: Math.floor(now / 1000),
      skewSeconds: this.opts.skewSeconds,
      limits: this.opts.limits,
    });
    const out = decided.decisions;
    const { accepted, maybeLogged } = decided;
    this.opts.faults?.prepared?.(head.size, items.length);
    if (maybeLogged.length > 0) {
      const found = await store.eventsAt(maybeLogged.map((i) => items[i]!.envelope.event));
      const byPosition = new Map<string, { index: number; leafHash: Uint8Array; envelope: Envelope }>();
      for (const f of found) {
        if (f.type === INDEX_LEAF_TYPE) continue;
        const key = positionKey({ ...f, type: f.type as Envelope["event"]["type"] });
        byPosition.set(key, {
          index: f.index,
          leafHash: f.leafHash,
          envelope: parseStoredEnvelope(f.envelope).envelope,
        });
      }
      for (const i of maybeLogged) {
        const it = items[i]!;
        const key = positionKey(it.envelope.event);
        // Logged and committed, or appended by the batch committing now.
        const pending = tip.positions.get(key);
        const f =
          byPosition.get(key) ??
          (pending && {
            index: pending.index,
            leafHash: pending.item.leafHash,
            envelope: pending.item.envelope,
          });
        if (f && sameEvent(f.envelope, it.envelope)) out[i] = { dupOf: f.index, leafHash: f.leafHash };
      }
    }
    if (accepted.length === 0) {
      // Nothing appended: the next batch builds on the same tip (minus nothing it needs).
      return { waiters, started, generation, decisions: out, tip };
    }
    // The batch's last leaf is the log's index leaf: the trie of chain heads after it.
    const updates: TrieEntry[] = [];
    for (const o of decided.orgs.values()) updates.push(...orgEntries(o));
    for (const g of decided.grants.values()) updates.push(grantEntry(g));
    for (const a of decided.accounts.values()) updates.push(accountEntry(a));
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
      (t) => tip.edge.get(`${t.level}/${t.index}`)?.subarray(0, t.width * 32),
      leaves.map((it) => it.leafHash),
    );
    const edge = new Map(tip.edge);
    for (const { tile, data } of appended.tiles) {
      if (tile.width === TILE_WIDTH) edge.delete(`${tile.level}/${tile.index}`);
      else edge.set(`${tile.level}/${tile.index}`, data);
    }
    const positions = new Map<string, { index: number; item: SubmitItem }>();
    for (let k = 0; k < accepted.length; k++) {
      positions.set(positionKey(accepted[k]!.envelope.event), { index: head.size + k, item: accepted[k]! });
    }
    const note = this.sign(appended.size, appended.root);
    return {
      waiters,
      started,
      generation,
      decisions: out,
      tip: {
        head: { size: appended.size, root: appended.root, note, trie, indexTime },
        edge,
        orgs: decided.orgs,
        grants: decided.grants,
        accounts: decided.accounts,
        positions,
      },
      write: { base: head, accepted, indexLeaf, tiles: appended.tiles },
    };
  }

  /**
   * Commits a prepared batch (the one before it has committed), then answers it. Resolves false
   * when it failed (its waiters answered with the error) or was stale (queued again).
   */
  private async finish(p: Prepared): Promise<boolean> {
    if (p.generation !== this.generation || (p.write && this.head !== p.write.base)) {
      // The caches were dropped (a failure, a change of leadership) since it was built.
      this.requeue(p.waiters);
      return false;
    }
    const store = this.opts.store;
    const newHead = p.tip.head;
    try {
      if (p.write) {
        const w = p.write;
        await commitBatch(
          this.opts.database,
          w.base,
          newHead,
          {
            events: w.accepted,
            indexLeaf: w.indexLeaf,
            tiles: w.tiles,
            orgs: p.tip.orgs.values(),
            grants: p.tip.grants.values(),
            accounts: p.tip.accounts.values(),
          },
          this.opts.faults?.beforeCommit,
        );
        // Committed: from here on the batch is durable and may be acknowledged.
        this.head = newHead;
        this.edge = p.tip.edge;
        store.chainIndex.remember(newHead.size, newHead.trie);
        for (const { tile, data } of w.tiles) store.rememberTile(tile.level, tile.index, data);
        this.state.update(p.tip.orgs.values(), p.tip.grants.values(), p.tip.accounts.values());
        this.opts.onCheckpoint?.(newHead.note, newHead.size);
      }
      // Inclusion proofs against the new head, every needed hash fetched once for the batch.
      const indices = new Set<number>();
      for (const r of p.decisions) {
        if ("pending" in r) indices.add(r.pending);
        else if ("dupOf" in r) indices.add(r.dupOf);
      }
      const proofs =
        this.opts.proofs === false || indices.size === 0
          ? new Map<number, Uint8Array[]>()
          : await proveInclusions([...indices], newHead.size, store.hashReader(newHead.size));
      for (let i = 0; i < p.waiters.length; i++) {
        const r = p.decisions[i]!;
        if ("error" in r) {
          p.waiters[i]!.resolve(r);
          continue;
        }
        const index = "pending" in r ? r.pending : r.dupOf;
        p.waiters[i]!.resolve({
          index,
          leafHash: r.leafHash,
          inclusion: proofs.get(index) ?? [],
          checkpoint: newHead.note,
          treeSize: newHead.size,
          duplicate: "dupOf" in r,
        });
      }
      this.report(p.waiters.length, p.started);
      return true;
    } catch (e) {
      await this.fail(p.waiters, e, p.started);
      return false;
    }
  }
}
