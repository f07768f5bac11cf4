// The server's copy of the index of chain heads (core/chain-index.ts): the trie as of each
// recent checkpoint, so that lookups can be proved against whichever checkpoint a route serves
// (the latest, or the latest with the witness quorum). Tries are persistent (core/mpt.ts), so
// keeping several sizes costs only the paths that changed between them.
//
// Where a trie comes from:
//   - the sequencer hands over the trie of every batch it commits (remember), after COMMIT;
//   - any process (a follower, or a leader after a restart) builds it from the derived state
//     tables (orgs, accounts: their head columns), read in the same snapshot as log_head, in one
//     sorted build, then catches up by applying the heads of the entries appended since;
//   - a size older than every trie held is rebuilt from the entries themselves (rare: a route
//     serving a checkpoint far behind the head).

import { and, asc, gte, lt, ne } from "drizzle-orm";
import { chainKey, encodeChainHead, INDEX_LEAF_TYPE } from "../core/chain-index.js";
import { ORG_EVENT_TYPES } from "../core/event.js";
import { compareTrieKeys, Trie } from "../core/mpt.js";
import type { Database } from "../node/db.js";
import { accounts, entries, logHead, orgs } from "./schema.js";

const KEEP = 16;

type Entry = readonly [Uint8Array, Uint8Array];

const ORG_TYPES = new Set<string>(ORG_EVENT_TYPES);

/** Trie entry for one event row: its chain's key ↦ (seq, index, leaf hash). */
function rowEntry(r: {
  org: string;
  subject: string;
  type: string;
  seq: number;
  idx: number;
  leafHash: Uint8Array;
}): Entry {
  const key = ORG_TYPES.has(r.type) ? chainKey("org", r.org) : chainKey("account", r.org, r.subject);
  return [key, encodeChainHead({ seq: r.seq, index: r.idx, leafHash: r.leafHash })];
}

export class ChainIndexCache {
  private readonly tries = new Map<number, Trie>();
  private building: Promise<unknown> = Promise.resolve();

  constructor(private readonly database: Database) {}

  /** Records the trie of a committed checkpoint (the sequencer, after COMMIT). */
  remember(size: number, trie: Trie): void {
    this.tries.set(size, trie);
    if (this.tries.size > KEEP) {
      const oldest = Math.min(...this.tries.keys());
      this.tries.delete(oldest);
    }
  }

  clear(): void {
    this.tries.clear();
  }

  /** The trie of every chain head as of the committed tree of `size` leaves. */
  at(size: number): Promise<Trie> {
    const held = this.tries.get(size);
    if (held) return Promise.resolve(held);
    // One build at a time: concurrent requests for the same size share its result.
    const next = this.building.then(() => this.build(size));
    this.building = next.catch(() => undefined);
    return next;
  }

  /** Builds the trie at the current log head from the derived-state tables (start-up path). */
  async atHead(): Promise<{ size: number; trie: Trie }> {
    const db = this.database.db;
    const { size, rows } = await db.transaction(
      async (tx) => {
        const head = await tx.select({ size: logHead.size }).from(logHead);
        const [o, a] = await Promise.all([
          tx
            .select({ id: orgs.id, seq: orgs.headSeq, idx: orgs.headIndex, leafHash: orgs.headLeafHash })
            .from(orgs),
          tx
            .select({
              org: accounts.org,
              id: accounts.id,
              seq: accounts.headSeq,
              idx: accounts.headIndex,
              leafHash: accounts.headLeafHash,
            })
            .from(accounts),
        ]);
        const rows: Entry[] = [];
        for (const r of o)
          rows.push([
            chainKey("org", r.id),
            encodeChainHead({ seq: r.seq, index: r.idx, leafHash: r.leafHash }),
          ]);
        for (const r of a)
          rows.push([
            chainKey("account", r.org, r.id),
            encodeChainHead({ seq: r.seq, index: r.idx, leafHash: r.leafHash }),
          ]);
        return { size: head[0]?.size ?? 0, rows };
      },
      { isolationLevel: "repeatable read" },
    );
    rows.sort((x, y) => compareTrieKeys(x[0], y[0]));
    const trie = Trie.fromSorted(rows);
    this.remember(size, trie);
    return { size, trie };
  }

  private async build(size: number): Promise<Trie> {
    const again = this.tries.get(size);
    if (again) return again;
    let base: { size: number; trie: Trie } | undefined;
    for (const [s, t] of this.tries) if (s <= size && (!base || s > base.size)) base = { size: s, trie: t };
    if (!base) {
      const head = await this.atHead();
      if (head.size === size) return head.trie;
      if (head.size < size) base = head;
    }
    const trie = base ? await this.catchUp(base, size) : await this.fromEntries(size);
    this.remember(size, trie);
    return trie;
  }

  /** Applies the heads of entries [base.size, size) to base's trie. */
  private async catchUp(base: { size: number; trie: Trie }, size: number): Promise<Trie> {
    if (base.size === size) return base.trie;
    const rows = await this.database.db
      .select({
        org: entries.org,
        subject: entries.subject,
        type: entries.type,
        seq: entries.seq,
        idx: entries.idx,
        leafHash: entries.leafHash,
      })
      .from(entries)
      .where(and(gte(entries.idx, base.size), lt(entries.idx, size), ne(entries.type, INDEX_LEAF_TYPE)))
      .orderBy(asc(entries.idx));
    // Later rows of a chain overwrite earlier ones: setMany keeps the last value per key.
    return base.trie.setMany(rows.map(rowEntry));
  }

  /** The trie as of `size` from the entries alone (a rare path: a size older than any held). */
  private async fromEntries(size: number): Promise<Trie> {
    return this.catchUp({ size: 0, trie: Trie.empty() }, size);
  }
}
