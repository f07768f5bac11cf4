// Where a test's events sit in the log. After every batch the sequencer appends its own index
// leaf (DESIGN.md §4, "The index of chain heads"): a batch of k events committed at tree size s
// takes the indices s..s+k-1, its index leaf s+k, and the tree grows to s+k+1; a batch that
// appends nothing (only refusals and duplicates) publishes nothing. A test's History
// (test/helpers/events.ts) counts events only, so its indices (and the indices in its state
// records) are not the log's: LogLayout replays the batches a test committed, by the log's rule,
// and maps one onto the other. Expectations are computed from it, never hard-coded.

import { fromBase64 } from "../../core/bytes.js";
import { type ChainHead, chainKey, encodeChainHead, encodeSubchain } from "../../core/chain-index.js";
import { Trie } from "../../core/mpt.js";
import type { AccountState, Head, OrgState } from "../../core/state.js";
import type { Subchain } from "../../core/subchain.js";
import type { History } from "../helpers/events.js";

/** Fields of state records that hold a log index (besides a head's `index`). */
const INDEX_FIELDS = new Set(["addedIndex", "revokedIndex", "issuedIndex"]);

/** Records inside a state record whose `index` is a log index. */
const SUBRECORDS = new Set(["head", "authority", "chain"]);

export class LogLayout {
  /** The log index of each event, by History index. */
  readonly events: number[] = [];
  /** The log index of each batch's index leaf. */
  readonly indexLeaves: number[] = [];
  /** The tree size of the checkpoint each batch published. */
  readonly sizes: number[] = [];
  /** The tree size after the batches so far. */
  size = 0;

  /** Starts after the batches of these many events each. */
  constructor(...batches: number[]) {
    for (const k of batches) this.batch(k);
  }

  /** A batch that appended `k` events (the next `k` of the History); returns their log indices. */
  batch(k: number): number[] {
    if (k === 0) return [];
    const out = Array.from({ length: k }, (_, i) => this.size + i);
    this.events.push(...out);
    this.indexLeaves.push(this.size + k);
    this.size += k + 1;
    this.sizes.push(this.size);
    return out;
  }

  /** The log index of History entry `i`. */
  index(i: number): number {
    const x = this.events[i];
    if (x === undefined) throw new Error(`History entry ${i} was never committed (layout of ${this.size})`);
    return x;
  }

  /** The History index of the event at log index `logIndex`; undefined for an index leaf. */
  historyIndex(logIndex: number): number | undefined {
    const i = this.events.indexOf(logIndex);
    if (i < 0 && !this.indexLeaves.includes(logIndex))
      throw new Error(`log index ${logIndex} is outside the layout (size ${this.size})`);
    return i < 0 ? undefined : i;
  }

  isIndexLeaf(logIndex: number): boolean {
    return this.indexLeaves.includes(logIndex);
  }

  head(h: Head): Head {
    return { ...h, index: this.index(h.index) };
  }

  /**
   * A History state record (an org, a grant, an account, or a list or map of them) with every
   * index in it replaced by the log's: its head's and sub-chain's, and the indices keys and
   * grants were added, issued and revoked at.
   */
  state<T>(record: T): T {
    const walk = (v: unknown, field?: string): unknown => {
      if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, walk(x)]));
      if (Array.isArray(v)) return v.map((x) => walk(x));
      if (v === null || typeof v !== "object") return v;
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) =>
          typeof x === "number" && (INDEX_FIELDS.has(k) || (SUBRECORDS.has(field ?? "") && k === "index"))
            ? [k, this.index(x)]
            : [k, walk(x, k)],
        ),
      );
    };
    return walk(record) as T;
  }

  org<T extends OrgState | undefined>(o: T): T {
    return this.state(o);
  }

  account<T extends AccountState | undefined>(a: T): T {
    return this.state(a);
  }

  /** A History head as the index of chain heads holds it. */
  chainHead(h: Head | undefined): ChainHead | undefined {
    return h && { seq: h.seq, index: this.index(h.index), leafHash: fromBase64(h.leafHash) };
  }

  /**
   * The trie of chain heads of a History's state, at log indices: what the index leaf after the
   * History's last committed event must commit to. Built here from the model, independently of
   * the server's trie (server/chain-index.ts) and of the replayer (core/log-replay.ts).
   */
  trie(h: History): Trie {
    const { orgs, grants, accounts } = h.state.toJSON();
    const entries: [Uint8Array, Uint8Array][] = [];
    const sub = (c: Subchain) => encodeSubchain({ ...c, index: this.index(c.index) });
    for (const o of orgs) {
      entries.push([chainKey("org", o.id), encodeChainHead(this.chainHead(o.head)!)]);
      entries.push([chainKey("authority", o.id), sub(o.authority)]);
    }
    for (const g of grants) entries.push([chainKey("grant", g.org, g.id), sub(g.chain)]);
    for (const a of accounts)
      entries.push([chainKey("account", a.org, a.id), encodeChainHead(this.chainHead(a.head)!)]);
    return Trie.empty().setMany(entries);
  }
}
