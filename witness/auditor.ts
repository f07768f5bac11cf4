// An auditing witness's replay of one log (docs/witness.md, "Auditing witnesses"). Before the
// witness cosigns a checkpoint of size N, the auditor must have replayed every entry below N
// with core's LogReplayer (the trustlog policy, every index leaf recomputed) and found nothing
// wrong, and the entries it replayed must hash to the checkpoint's root.
//
// One worker per log fetches entry bundles from the log's tiles API in chunks, replays them,
// and pushes their leaf hashes into a compact range. A prefix counts as audited ("verified")
// only once its root is checked: equal to a log-signed checkpoint's root, or proved consistent
// with one. Roots of audited sizes that end with an index leaf (the only sizes a trustlog
// checkpoint may have) are kept, so add-checkpoint answers from memory once the worker is past N.
//
// Persistence: every `snapshotEntries` entries or `snapshotSeconds` (whichever first, at the next
// index leaf) the replay state is written (witness/replay-snapshot.ts) with its size, after
// that prefix was verified. The audited size also moves in the transaction that moves the
// cosigned checkpoint (WitnessStore.advance). A restart resumes from the last snapshot and
// re-audits what lies after it before cosigning anything new; nothing below is replayed again.
//
// A violation stops the worker for good: the offending entries, proved included in the
// checkpoint being audited, become evidence (witness/audit-evidence.ts) and the log is refused.

import { setTimeout as sleep } from "node:timers/promises";
import { equalBytes } from "../core/bytes.js";
import { isIndexLeaf, parseLogEntry } from "../core/chain-index.js";
import type { Checkpoint } from "../core/checkpoint.js";
import { CompactRange } from "../core/compact-range.js";
import { TrustlogError } from "../core/errors.js";
import { isOrgEventType } from "../core/event.js";
import { LogReplayer, type Violation } from "../core/log-replay.js";
import { EMPTY_ROOT, leafHash } from "../core/merkle.js";
import { checkConsistency, proveConsistency } from "../core/proof.js";
import { TILE_WIDTH } from "../core/tile-paths.js";
import { tileHashReader } from "../core/tile-reader.js";
import type { Logger } from "../node/log.js";
import { type AuditEvidence, type AuditViolation, buildAuditEvidence } from "./audit-evidence.js";
import { fetchEntries, httpTileReader } from "./http.js";
import type { WitnessMetrics } from "./metrics.js";
import { type CapturedSnapshot, captureSnapshot, decodeSnapshot, encodeSnapshot } from "./replay-snapshot.js";
import type { WitnessStore } from "./store.js";

/** The audit spends at most about 1/SNAPSHOT_COST_FACTOR of its time on snapshots. */
const SNAPSHOT_COST_FACTOR = 10;

export interface AuditorSettings {
  /** Write a replay snapshot after this many entries … */
  snapshotEntries: number;
  /** … or this many seconds, whichever comes first (at the next index leaf). */
  snapshotSeconds: number;
  /** How long add-checkpoint waits for the audit of its checkpoint before answering 503. */
  waitMs: number;
  /** Entries fetched and replayed per round (rounded to whole tiles). */
  chunkEntries: number;
}

export const DEFAULT_AUDITOR_SETTINGS: AuditorSettings = {
  snapshotEntries: 100_000,
  snapshotSeconds: 60,
  waitMs: 5_000,
  chunkEntries: 64 * TILE_WIDTH,
};

export interface AuditorOptions extends Partial<AuditorSettings> {
  origin: string;
  /** Base URL of the log's tlog-tiles API. */
  url: string;
  store: WitnessStore;
  logger: Logger;
  metrics: WitnessMetrics;
  timeoutMs: number;
  /** Stores evidence and refuses the log (Witness.recordEvidence). */
  onEvidence: (e: AuditEvidence) => Promise<unknown>;
}

export type AuditPhase = "syncing" | "ready" | "refused";

export interface AuditStatus {
  origin: string;
  phase: AuditPhase;
  /** Entries [0, auditedSize) replayed clean and verified against the log's tree. */
  auditedSize: number;
  /** The audited size committed in the database (with the cosigned checkpoint or a snapshot). */
  committedSize: number;
  snapshotSize: number;
  /** Where this process started replaying (its snapshot, or 0). */
  resumedFrom: number;
  /** Entries replayed so far towards `targetSize` (which the worker is auditing to). */
  replayedSize: number;
  targetSize: number;
  /** Replay rate of the current run (entries per second). */
  entriesPerSecond: number;
  lastError?: string;
  violation?: AuditViolation;
}

interface Target {
  cp: Checkpoint;
  /** The log-signed note (log signature lines only): what evidence carries. */
  note: string;
}

/** Sizes ending with a clean index leaf whose roots are verified; a bounded memory. */
const MAX_CLEAN_SIZES = 200_000;

export class LogAuditor {
  readonly origin: string;
  private readonly settings: AuditorSettings;
  private replayer = new LogReplayer();
  private range = CompactRange.empty();
  /** Size of the verified prefix (≤ range.size). */
  private verified = 0;
  private readonly clean = new Map<number, Uint8Array>();
  /** Clean sizes replayed past `verified`, waiting for their prefix to be verified. */
  private pendingClean: [number, Uint8Array][] = [];
  private candidate: CapturedSnapshot | undefined;
  private snapshotSize = 0;
  private snapshotTime = Date.now();
  /** What the last snapshot cost (capture, encoding, writing), ms. */
  private snapshotCostMs = 0;
  private captureMs = 0;
  private committed = 0;
  private resumedFrom = 0;
  private target: Target | undefined;
  private worker: Promise<void> | undefined;
  private violation: AuditViolation | undefined;
  private lastError: string | undefined;
  private runStarted = { time: Date.now(), size: 0 };
  private lastProgressLog = 0;
  private readonly waiters = new Set<() => void>();
  private reporting = false;
  private lastIndexLeaf: Uint8Array | undefined;

  constructor(private readonly opts: AuditorOptions) {
    this.origin = opts.origin;
    this.settings = {
      snapshotEntries: opts.snapshotEntries ?? DEFAULT_AUDITOR_SETTINGS.snapshotEntries,
      snapshotSeconds: opts.snapshotSeconds ?? DEFAULT_AUDITOR_SETTINGS.snapshotSeconds,
      waitMs: opts.waitMs ?? DEFAULT_AUDITOR_SETTINGS.waitMs,
      chunkEntries: Math.max(
        TILE_WIDTH,
        Math.floor((opts.chunkEntries ?? DEFAULT_AUDITOR_SETTINGS.chunkEntries) / TILE_WIDTH) * TILE_WIDTH,
      ),
    };
    this.clean.set(0, EMPTY_ROOT);
  }

  /** Restores the last snapshot (or starts at 0). Call once before use. */
  async load(): Promise<void> {
    const row = await this.opts.store.getAudit(this.origin);
    const log = await this.opts.store.get(this.origin);
    this.committed = row?.auditedSize ?? 0;
    if (row?.snapshot && row.snapshotSize > 0) {
      const started = performance.now();
      const s = decodeSnapshot(row.snapshot);
      if (s.size !== row.snapshotSize)
        throw new TrustlogError("SNAPSHOT_INVALID", "snapshot size differs from its row");
      this.replayer = s.replayer;
      this.range = s.range;
      this.verified = s.size;
      this.snapshotSize = s.size;
      this.resumedFrom = s.size;
      this.clean.clear();
      this.clean.set(s.size, s.range.root());
      this.opts.logger.info(
        { origin: this.origin, size: s.size, ms: Math.round(performance.now() - started) },
        "audit: resumed from snapshot",
      );
    }
    if (log?.refused) this.lastError = "the log is refused";
    this.runStarted = { time: Date.now(), size: this.range.size };
    this.opts.metrics.auditSize.set({ origin: this.origin }, this.verified);
  }

  /** The audited size committed in the database. */
  get committedSize(): number {
    return this.committed;
  }

  status(): AuditStatus {
    const seconds = (Date.now() - this.runStarted.time) / 1000;
    const phase: AuditPhase = this.violation
      ? "refused"
      : this.target && this.target.cp.size > this.verified
        ? "syncing"
        : "ready";
    return {
      origin: this.origin,
      phase,
      auditedSize: this.verified,
      committedSize: this.committed,
      snapshotSize: this.snapshotSize,
      resumedFrom: this.resumedFrom,
      replayedSize: this.range.size,
      targetSize: Math.max(this.target?.cp.size ?? 0, this.verified),
      entriesPerSecond: seconds > 0 ? Math.round((this.range.size - this.runStarted.size) / seconds) : 0,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.violation ? { violation: this.violation } : {}),
    };
  }

  /**
   * Resolves once [0, cp.size) is audited clean and hashes to cp.root; the caller may then
   * cosign. Throws AUDIT_SYNCING while the audit has not got there within waitMs (the worker
   * carries on), LOG_VIOLATION when the log broke a rule, AUDIT_ROOT_MISMATCH when the log's
   * entries at that size hash to another root.
   */
  async require(cp: Checkpoint, note: string): Promise<void> {
    const deadline = Date.now() + this.settings.waitMs;
    for (;;) {
      if (this.violation) throw violationError(this.violation);
      const root = this.clean.get(cp.size);
      if (root) {
        if (equalBytes(root, cp.root)) return;
        throw new TrustlogError(
          "AUDIT_ROOT_MISMATCH",
          `the entries audited at size ${cp.size} hash to another root than this checkpoint's`,
        );
      }
      if (cp.size <= this.verified) {
        // Audited past this size, which is not among the clean sizes kept: either the entry
        // before it is not an index leaf (a checkpoint the rules do not allow), or the size was
        // forgotten (the memory of clean sizes is bounded).
        const last = (await fetchEntries(this.opts.url, cp.size - 1, cp.size, this.opts.timeoutMs))[0]!;
        if (isIndexLeaf(last)) {
          throw new TrustlogError(
            "AUDIT_SIZE_UNKNOWN",
            `size ${cp.size} was audited but its root is no longer kept`,
          );
        }
        const v = {
          index: cp.size - 1,
          code: "INDEX_MISSING",
          message: `the checkpoint of size ${cp.size} does not end with an index leaf`,
        };
        await this.report({ cp, note }, [v], new Map([[cp.size - 1, last]]), true);
        throw violationError(this.violation ?? v);
      }
      if (!this.target || cp.size > this.target.cp.size) this.target = { cp, note };
      this.kick();
      const left = deadline - Date.now();
      if (left <= 0) throw this.syncing(cp.size);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  /** The witness cosigned (and committed) `size`: smaller sizes are no longer asked for. */
  cosigned(size: number): void {
    this.committed = Math.max(this.committed, size);
    for (const s of this.clean.keys()) if (s < size) this.clean.delete(s);
  }

  /** Waits for the worker to stop (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.worker) await this.worker;
  }

  private syncing(size: number): TrustlogError {
    const s = this.status();
    const pct = s.targetSize > 0 ? ((100 * s.replayedSize) / s.targetSize).toFixed(1) : "0";
    return new TrustlogError(
      "AUDIT_SYNCING",
      `this witness audits the log before cosigning and has replayed ${s.replayedSize} of ${s.targetSize} entries (${pct}%, ${s.entriesPerSecond} entries/s); size ${size} is not audited yet${s.lastError ? ` (last error: ${s.lastError})` : ""}`,
      { auditedSize: s.auditedSize, targetSize: s.targetSize, retryAfter: 5 },
    );
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  private kick(): void {
    if (this.worker || this.violation) return;
    this.worker = this.run().finally(() => {
      this.worker = undefined;
      this.notify();
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    this.runStarted = { time: Date.now(), size: this.range.size };
    while (!this.violation && this.target && this.target.cp.size > this.verified) {
      try {
        await this.advance();
        failures = 0;
        this.lastError = undefined;
      } catch (err) {
        if (this.violation) break;
        failures++;
        this.lastError = (err as Error).message;
        this.opts.logger.warn({ origin: this.origin, err: this.lastError }, "audit round failed; retrying");
        this.notify();
        await sleep(Math.min(5_000, 50 * 2 ** failures));
      }
    }
  }

  /** Where the chunk starting at `pos` ends: on a tile boundary, or at the target's size. */
  private chunkEnd(pos: number, size: number): number {
    const end = Math.floor((pos + this.settings.chunkEntries) / TILE_WIDTH) * TILE_WIDTH;
    return end <= pos || end > size ? size : end;
  }

  /** Replays towards the target, chunk by chunk, verifying and snapshotting on the way. */
  private async advance(): Promise<void> {
    const { url, timeoutMs } = this.opts;
    let prefetch: { from: number; to: number; leaves: Promise<Uint8Array[]> } | undefined;
    for (;;) {
      const t = this.target!;
      const pos = this.range.size;
      if (pos >= t.cp.size) break;
      const end = this.chunkEnd(pos, t.cp.size);
      // The whole chunk is read before any of it is replayed: a failed fetch leaves the
      // replay where it was. The next chunk is fetched while this one is replayed (the log
      // serves it on its own cores); a fetch for a stale range is simply dropped.
      const ahead = prefetch?.from === pos && prefetch.to === end ? prefetch.leaves : undefined;
      prefetch = undefined;
      const leaves = await (ahead ?? fetchEntries(url, pos, end, timeoutMs));
      if (leaves.length !== end - pos) throw new TrustlogError("FETCH_FAILED", "short read of entries");
      if (this.violation) return;
      if (end < t.cp.size) {
        const to = this.chunkEnd(end, t.cp.size);
        const next = fetchEntries(url, end, to, timeoutMs);
        next.catch(() => {}); // refetched (and its error seen) when the loop gets there
        prefetch = { from: end, to, leaves: next };
      }
      const now = Date.now();
      let slice = performance.now();
      for (let i = 0; i < leaves.length; i++) {
        // A chunk takes seconds to replay: give the event loop a turn every 20 ms so that
        // add-checkpoint, status and metrics requests keep being answered while syncing.
        if (performance.now() - slice > 20) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.violation) return;
          slice = performance.now();
        }
        const index = pos + i;
        const leaf = leaves[i]!;
        const lh = leafHash(leaf);
        const violations = this.replayer.apply(index, leaf, lh);
        this.range.push(lh);
        if (violations.length > 0) {
          const chunk = new Map<number, Uint8Array>();
          for (let j = 0; j <= i; j++) chunk.set(pos + j, leaves[j]!);
          await this.report(t, violations, chunk);
          return;
        }
        if (isIndexLeaf(leaf)) {
          const size = index + 1;
          this.lastIndexLeaf = leaf;
          this.pendingClean.push([size, this.range.root()]);
          const due =
            (size - this.snapshotSize >= this.settings.snapshotEntries ||
              now - this.snapshotTime >= this.settings.snapshotSeconds * 1000) &&
            this.snapshotAffordable(now);
          if (due && (!this.candidate || this.candidate.size < size) && size < t.cp.size) {
            const started = performance.now();
            this.candidate = captureSnapshot(this.replayer, this.range, leaf);
            this.captureMs = performance.now() - started;
            this.snapshotTime = now;
          }
        }
      }
      this.opts.metrics.auditEntries.inc({ origin: this.origin }, leaves.length);
      this.progress();
      if (this.candidate) {
        // Verify the snapshot's prefix against the checkpoint being audited, then keep it.
        const c = this.candidate;
        this.candidate = undefined;
        if (!(await this.verifyPrefix(c.size, c.root, t))) throw await this.treeMismatch(c.size);
        this.promote(c.size);
        await this.persist(c);
      }
    }
    const t = this.target!;
    const size = this.range.size;
    if (!equalBytes(this.range.root(), t.cp.root)) throw await this.treeMismatch(size);
    const fin = this.replayer.finish(size);
    if (fin.length > 0) {
      const last = (await fetchEntries(url, size - 1, size, timeoutMs))[0]!;
      await this.report(t, fin, new Map([[size - 1, last]]));
      return;
    }
    this.promote(size);
    // The end of a round is a clean index leaf: the snapshot is taken here when it is due
    // (a long catch-up thus ends with one, and a restart does not replay it again).
    const due =
      (size - this.snapshotSize >= this.settings.snapshotEntries ||
        (size > this.snapshotSize &&
          Date.now() - this.snapshotTime >= this.settings.snapshotSeconds * 1000)) &&
      this.snapshotAffordable(Date.now());
    if (due && this.lastIndexLeaf && this.clean.has(size)) {
      this.snapshotTime = Date.now();
      const started = performance.now();
      const captured = captureSnapshot(this.replayer, this.range, this.lastIndexLeaf);
      this.captureMs = performance.now() - started;
      await this.persist(captured);
    }
    if (size - this.runStarted.size >= 10_000) this.progress(true);
  }

  /** The prefix of `size` entries with `root` is the log's: checked against the target. */
  private async verifyPrefix(size: number, root: Uint8Array, t: Target): Promise<boolean> {
    if (size === t.cp.size) return equalBytes(root, t.cp.root);
    const reader = tileHashReader(httpTileReader(this.opts.url, this.opts.timeoutMs), t.cp.size);
    const proof = await proveConsistency(size, t.cp.size, reader);
    try {
      checkConsistency(size, t.cp.size, root, t.cp.root, proof);
      return true;
    } catch {
      return false;
    }
  }

  private promote(size: number): void {
    const keep: [number, Uint8Array][] = [];
    for (const [s, r] of this.pendingClean) {
      if (s <= size) this.clean.set(s, r);
      else keep.push([s, r]);
    }
    this.pendingClean = keep;
    if (this.clean.size > MAX_CLEAN_SIZES) {
      const drop = [...this.clean.keys()].sort((a, b) => a - b).slice(0, this.clean.size - MAX_CLEAN_SIZES);
      for (const s of drop) this.clean.delete(s);
    }
    this.verified = Math.max(this.verified, size);
    this.opts.metrics.auditSize.set({ origin: this.origin }, this.verified);
    this.notify();
  }

  /**
   * A snapshot copies the whole replay state, which grows with the log: taken on a fixed period
   * it would end up costing more than the replay it saves. So the next one waits at least
   * SNAPSHOT_COST_FACTOR times as long as the last one took, keeping snapshots under a tenth
   * of the audit's time however large the state.
   */
  private snapshotAffordable(now: number): boolean {
    return now - this.snapshotTime >= SNAPSHOT_COST_FACTOR * this.snapshotCostMs;
  }

  private async persist(c: CapturedSnapshot): Promise<void> {
    const started = performance.now();
    const bytes = await encodeSnapshot(c);
    await this.opts.store.saveSnapshot(this.origin, c.size, c.root, bytes);
    this.snapshotCostMs = this.captureMs + (performance.now() - started);
    this.snapshotSize = c.size;
    this.committed = Math.max(this.committed, c.size);
    this.opts.logger.info(
      { origin: this.origin, size: c.size, bytes: bytes.length, ms: Math.round(performance.now() - started) },
      "audit: snapshot written",
    );
  }

  /**
   * The entries replayed do not hash to the log's tree: the log (or what serves its tiles)
   * gave other bytes than it committed to. Not evidence of a rule broken; the replay goes back
   * to the last snapshot and tries again.
   */
  private async treeMismatch(size: number): Promise<TrustlogError> {
    await this.rewind();
    return new TrustlogError(
      "LOG_TREE_MISMATCH",
      `the entries served up to ${size} do not hash to the log's checkpoint; replay restarts from ${this.range.size}`,
    );
  }

  private async rewind(): Promise<void> {
    this.replayer = new LogReplayer();
    this.range = CompactRange.empty();
    this.verified = 0;
    this.snapshotSize = 0;
    this.pendingClean = [];
    this.candidate = undefined;
    this.clean.clear();
    this.clean.set(0, EMPTY_ROOT);
    await this.load();
  }

  /**
   * A violation: proves the replayed prefix is the log's (else it is a tree mismatch), builds
   * evidence against the checkpoint being audited, stores it (which refuses the log).
   */
  private async report(
    t: Target,
    violations: Violation[],
    known: Map<number, Uint8Array>,
    prefixVerified = false,
  ): Promise<void> {
    if (this.violation || this.reporting) return;
    this.reporting = true;
    try {
      await this.reportOnce(t, violations, known, prefixVerified);
    } finally {
      this.reporting = false;
    }
  }

  private async reportOnce(
    t: Target,
    violations: Violation[],
    known: Map<number, Uint8Array>,
    prefixVerified: boolean,
  ): Promise<void> {
    const { url, timeoutMs } = this.opts;
    const first = [...violations].sort((a, b) => a.index - b.index)[0]!;
    const replayed = Math.max(prefixVerified ? t.cp.size : this.range.size, first.index + 1);
    if (!prefixVerified && !(await this.verifyPrefix(this.range.size, this.range.root(), t))) {
      throw await this.treeMismatch(this.range.size);
    }
    const want = new Set<number>(violations.map((v) => v.index));
    const other = this.sameSeqEntry(first, known);
    if (other !== undefined) want.add(other);
    const leaves = new Map<number, Uint8Array>();
    for (const i of [...want].sort((a, b) => a - b)) {
      if (i >= t.cp.size || i >= replayed) continue;
      const leaf = known.get(i) ?? (await fetchEntries(url, i, i + 1, timeoutMs))[0]!;
      leaves.set(i, leaf);
    }
    const violation: AuditViolation = {
      index: first.index,
      code: first.code,
      ...(first.policyCode !== undefined ? { policyCode: first.policyCode } : {}),
      message: first.message,
    };
    const reader = tileHashReader(httpTileReader(url, timeoutMs), t.cp.size);
    const evidence = await buildAuditEvidence(this.origin, t.note, t.cp, violation, leaves, reader);
    this.violation = violation;
    this.opts.logger.error(
      { origin: this.origin, violation, size: t.cp.size },
      "LOG VIOLATION: an entry breaks the trustlog rules; refusing to cosign this log",
    );
    await this.opts.onEvidence(evidence);
    this.notify();
  }

  /**
   * For an event refused by the policy: the entry already at its chain's seq, when the chain's
   * head is exactly there (a second event at an existing seq). Its index, if known.
   */
  private sameSeqEntry(v: Violation, known: Map<number, Uint8Array>): number | undefined {
    if (v.code !== "POLICY_VIOLATION") return undefined;
    const leaf = known.get(v.index);
    if (!leaf) return undefined;
    try {
      const e = parseLogEntry(leaf);
      if (e.kind !== "event") return undefined;
      const ev = e.parsed.envelope.event;
      const head = isOrgEventType(ev.type)
        ? this.replayer.state.org(ev.org)?.head
        : this.replayer.state.account(ev.org, ev.subject)?.head;
      return head && head.seq === ev.seq && head.index !== v.index ? head.index : undefined;
    } catch {
      return undefined;
    }
  }

  private progress(done = false): void {
    const now = Date.now();
    if (!done && now - this.lastProgressLog < 5_000) return;
    this.lastProgressLog = now;
    const s = this.status();
    this.opts.logger.info(
      {
        origin: this.origin,
        replayed: s.replayedSize,
        target: s.targetSize,
        audited: s.auditedSize,
        entriesPerSecond: s.entriesPerSecond,
      },
      done ? "audit: caught up" : "audit: progress",
    );
  }
}

function violationError(v: AuditViolation): TrustlogError {
  return new TrustlogError(
    "LOG_VIOLATION",
    `entry ${v.index} breaks the trustlog rules (${v.policyCode ?? v.code}): this witness refuses the log`,
    { index: v.index, code: v.code, ...(v.policyCode ? { policyCode: v.policyCode } : {}) },
  );
}
