// Replaying a whole log, entry by entry, the way an auditor does (client/audit.ts, server
// fsck, and any witness that audits): every event through the policy in log order, every index
// leaf recomputed from the heads of the chains (and sub-chains) before it, every event's time against the index
// leaf that first covers it. A violation is recorded and replay goes on: an entry that breaks a
// rule is not applied, so one bad entry does not hide what comes after it from the auditor.

import { equalBytes, toBase64 } from "./bytes.js";
import { parseLogEntry } from "./chain-index.js";
import { isTrustlogError } from "./errors.js";
import type { KeyEvent } from "./event.js";
import { checkCoveredTime } from "./event-time.js";
import { indexEntriesOf } from "./index-entries.js";
import { MemoryState } from "./memory-state.js";
import { Trie } from "./mpt.js";

export interface Violation {
  /** The entry that breaks a rule. */
  index: number;
  /**
   * EVENT_MALFORMED (not a parsable, canonical entry), POLICY_VIOLATION (`policyCode` says which
   * rule), INDEX_INVALID (an index leaf that is not where or what it must be), INDEX_MISMATCH
   * (an index leaf whose root is not the trie of the chain heads before it), or INDEX_MISSING
   * (the checkpoint does not end with an index leaf).
   */
  code: string;
  policyCode?: string;
  message: string;
}

export class LogReplayer {
  readonly state: MemoryState;
  /** The index of chain heads after the last index leaf replayed. */
  trie: Trie;
  events = 0;
  orgs = 0;
  indexLeaves = 0;
  private lastIndexTime = 0;
  private lastWasIndex = false;
  /** Events applied since the last index leaf: their heads and times await it. */
  private pending: { index: number; event: KeyEvent }[] = [];
  private pendingHeads = new Map<string, [Uint8Array, Uint8Array]>();

  /**
   * A replayer from the start of a log, or resuming from a snapshot taken right after an index
   * leaf (`atIndexBoundary`): its state and trie. Re-apply that index leaf first: it restores
   * the leaf's time and checks that the trie is the one the leaf commits to (witness/
   * replay-snapshot.ts).
   */
  constructor(from?: { state: MemoryState; trie: Trie }) {
    this.state = from?.state ?? new MemoryState();
    this.trie = from?.trie ?? Trie.empty();
  }

  /** True right after an index leaf: no event awaits one, so state and trie say everything. */
  get atIndexBoundary(): boolean {
    return this.lastWasIndex && this.pending.length === 0;
  }

  /** Replays entry `index` (its stored bytes and leaf hash); returns the violations found. */
  apply(index: number, leaf: Uint8Array, leafHash: Uint8Array): Violation[] {
    let entry: ReturnType<typeof parseLogEntry>;
    try {
      entry = parseLogEntry(leaf);
    } catch (e) {
      this.lastWasIndex = false;
      return [{ index, code: "EVENT_MALFORMED", message: `entry ${index}: ${(e as Error).message}` }];
    }
    if (entry.kind === "index") return this.applyIndex(index, entry.leaf);
    this.lastWasIndex = false;
    const envelope = entry.parsed.envelope;
    try {
      const r = this.state.apply(envelope, { index, leafHash });
      this.events++;
      if (envelope.event.type === "org.create" && r.org) this.orgs++;
      for (const [key, value] of indexEntriesOf(r)) this.pendingHeads.set(toBase64(key), [key, value]);
      this.pending.push({ index, event: envelope.event });
      return [];
    } catch (e) {
      if (!isTrustlogError(e)) throw e;
      return [
        {
          index,
          code: "POLICY_VIOLATION",
          policyCode: e.code,
          message: `entry ${index} breaks the policy: ${e.code}: ${e.message}`,
        },
      ];
    }
  }

  private applyIndex(index: number, leaf: { size: number; time: number; root: Uint8Array }): Violation[] {
    const out: Violation[] = [];
    if (leaf.size !== index)
      out.push({ index, code: "INDEX_INVALID", message: `index leaf ${index} says it is at ${leaf.size}` });
    if (leaf.time < this.lastIndexTime) {
      out.push({
        index,
        code: "INDEX_INVALID",
        message: `index leaf ${index} goes back in time (${leaf.time} < ${this.lastIndexTime} ms)`,
      });
    }
    this.trie = this.trie.setMany(this.pendingHeads.values());
    if (!equalBytes(this.trie.root(), leaf.root)) {
      out.push({
        index,
        code: "INDEX_MISMATCH",
        message: `index leaf ${index}: its root is not the trie of the chain heads before it`,
      });
    }
    for (const p of this.pending) {
      try {
        checkCoveredTime(p.event, leaf.time);
      } catch (e) {
        if (!isTrustlogError(e)) throw e;
        out.push({
          index: p.index,
          code: "POLICY_VIOLATION",
          policyCode: e.code,
          message: `entry ${p.index} breaks the policy: ${e.code}: ${e.message}`,
        });
      }
    }
    this.pending = [];
    this.pendingHeads.clear();
    this.lastIndexTime = Math.max(this.lastIndexTime, leaf.time);
    this.lastWasIndex = true;
    this.indexLeaves++;
    return out;
  }

  /** Checks that a checkpoint of `size` (all entries replayed) ends with an index leaf. */
  finish(size: number): Violation[] {
    if (size === 0 || this.lastWasIndex) return [];
    return [
      {
        index: size - 1,
        code: "INDEX_MISSING",
        message: `the checkpoint of size ${size} does not end with an index leaf`,
      },
    ];
  }
}
