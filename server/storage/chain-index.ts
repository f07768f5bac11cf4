// The server's copy of the index of chain heads (core/chain-index.ts): the trie as of each
// recent checkpoint, so that lookups can be proved against whichever checkpoint a route serves
// (the latest, or the latest with the witness quorum). Tries are persistent (core/mpt.ts), so
// keeping several sizes costs only the paths that changed between them.
//
// Where a trie comes from:
//   - the sequencer hands over the trie of every batch it commits (remember), after COMMIT;
//   - any process (a follower, or a leader after a restart) builds it from the derived state
//     tables (orgs, grants, accounts: their head and sub-chain columns), read in the same
//     snapshot as log_head, in one sorted build, then catches up by applying the entries
//     appended since;
//   - a size older than every trie held is rebuilt from the entries themselves (rare: a route
//     serving a checkpoint far behind the head).

import { and, asc, gte, lt, ne, sql } from "drizzle-orm";
import { toBase64 } from "../../core/bytes.js";
import { chainKey, encodeChainHead, encodeSubchain, INDEX_LEAF_TYPE } from "../../core/chain-index.js";
import { parseStoredEnvelope } from "../../core/event.js";
import { type ChainEventRef, IndexFolder, subchainOf } from "../../core/index-entries.js";
import { compareTrieKeys, Trie } from "../../core/mpt.js";
import type { Database } from "../../node/db.js";
import { accounts, entries, grants, logHead, orgs } from "./schema.js";

const KEEP = 16;
/** Accounts read at a time when the trie is built from the state tables. */
const ACCOUNT_PAGE = 20_000;

type Entry = readonly [Uint8Array, Uint8Array];

/** Raw SQL results come as the driver's bytes (a Buffer from postgres-js). */
function toBytes(v: Uint8Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

const KEY_BYTES = 32;

/** A copy of `buf` at least `atLeast` long (doubling, so that n pushes copy O(n) bytes). */
function grow<T extends Uint8Array | Uint32Array>(buf: T, atLeast: number): T {
  const out = new (buf.constructor as new (n: number) => T)(Math.max(atLeast, buf.length * 2));
  out.set(buf);
  return out;
}

/**
 * Trie entries gathered for one sorted build, packed into a few large buffers: at 10^7 chains,
 * a pair of small typed arrays per chain took more heap than the trie built from them (the
 * server ran out of its default 4 GiB heap at start-up). Keys are chain keys (32 bytes).
 */
export class PackedEntries {
  private keys: Uint8Array = new Uint8Array(32 * 1024);
  private values: Uint8Array = new Uint8Array(64 * 1024);
  /** End offset of each value in `values`. */
  private ends = new Uint32Array(1024);
  private valueBytes = 0;
  count = 0;

  push(key: Uint8Array, value: Uint8Array): void {
    if (key.length !== KEY_BYTES) throw new Error(`a chain key is ${KEY_BYTES} bytes`);
    const n = this.count;
    if ((n + 1) * KEY_BYTES > this.keys.length) this.keys = grow(this.keys, (n + 1) * KEY_BYTES);
    if (n + 1 > this.ends.length) this.ends = grow(this.ends, n + 1);
    if (this.valueBytes + value.length > this.values.length)
      this.values = grow(this.values, this.valueBytes + value.length);
    this.keys.set(key, n * KEY_BYTES);
    this.values.set(value, this.valueBytes);
    this.valueBytes += value.length;
    this.ends[n] = this.valueBytes;
    this.count = n + 1;
  }

  /** The entries in trie key order, as views into the buffers (Trie.fromSorted copies them). */
  *sorted(): Generator<readonly [Uint8Array, Uint8Array]> {
    const { keys, values, ends, count } = this;
    // Compare the first four bytes as a number first: with hashed keys that nearly always decides.
    const view = new DataView(keys.buffer, keys.byteOffset, count * KEY_BYTES);
    const prefix = new Uint32Array(count);
    for (let i = 0; i < count; i++) prefix[i] = view.getUint32(i * KEY_BYTES);
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    const key = (i: number) => keys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
    order.sort((a, b) => prefix[a]! - prefix[b]! || compareTrieKeys(key(a), key(b)));
    for (const i of order) yield [key(i), values.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!)];
  }
}

export class ChainIndexCache {
  private readonly tries = new Map<number, Trie>();
  private building: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly database: Database,
    /** Accounts read at a time by atHead (tests make it small). */
    private readonly accountPage = ACCOUNT_PAGE,
  ) {}

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
        const [o, g] = await Promise.all([
          tx
            .select({
              id: orgs.id,
              seq: orgs.headSeq,
              idx: orgs.headIndex,
              leafHash: orgs.headLeafHash,
              count: orgs.authorityCount,
              authorityIndex: orgs.authorityIndex,
              digest: orgs.authorityDigest,
            })
            .from(orgs),
          tx
            .select({
              org: grants.org,
              id: grants.id,
              count: grants.chainCount,
              idx: grants.chainIndex,
              digest: grants.chainDigest,
            })
            .from(grants),
        ]);
        const rows = new PackedEntries();
        for (const r of o) {
          rows.push(
            chainKey("org", r.id),
            encodeChainHead({ seq: r.seq, index: r.idx, leafHash: r.leafHash }),
          );
          rows.push(
            chainKey("authority", r.id),
            encodeSubchain({ count: r.count, index: r.authorityIndex, digest: toBase64(r.digest) }),
          );
        }
        for (const r of g)
          rows.push(
            chainKey("grant", r.org, r.id),
            encodeSubchain({ count: r.count, index: r.idx, digest: toBase64(r.digest) }),
          );
        // Accounts by pages, in the same snapshot: at 10^7 accounts, the driver's row objects
        // for all of them at once would cost more memory than the trie built from them.
        let after: { org: string; id: string } | undefined;
        for (;;) {
          const page = await tx
            .select({
              org: accounts.org,
              id: accounts.id,
              seq: accounts.headSeq,
              idx: accounts.headIndex,
              leafHash: accounts.headLeafHash,
            })
            .from(accounts)
            .where(after ? sql`(${accounts.org}, ${accounts.id}) > (${after.org}, ${after.id})` : undefined)
            .orderBy(asc(accounts.org), asc(accounts.id))
            .limit(this.accountPage);
          for (const r of page)
            rows.push(
              chainKey("account", r.org, r.id),
              encodeChainHead({ seq: r.seq, index: r.idx, leafHash: r.leafHash }),
            );
          if (page.length < this.accountPage) break;
          after = page.at(-1)!;
        }
        return { size: head[0]?.size ?? 0, rows };
      },
      { isolationLevel: "repeatable read" },
    );
    const trie = Trie.fromSorted(rows.sorted());
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

  /** Applies the entries [base.size, size) to base's trie: chain heads and sub-chains. */
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
        // Only an org event's body says which sub-chain it extends (a grant's id).
        envelope: sql<Uint8Array | null>`case when ${entries.type} like 'grant.%' then ${entries.envelope} end`,
      })
      .from(entries)
      .where(and(gte(entries.idx, base.size), lt(entries.idx, size), ne(entries.type, INDEX_LEAF_TYPE)))
      .orderBy(asc(entries.idx));
    // Later rows of a chain overwrite earlier ones: setMany keeps the last value per key.
    const folder = new IndexFolder((key) => base.trie.get(key));
    const out: Entry[] = [];
    for (const r of rows) {
      const ref: ChainEventRef = { type: r.type, org: r.org, subject: r.subject, seq: r.seq };
      if (r.envelope) {
        const grant = subchainOf(parseStoredEnvelope(toBytes(r.envelope)).envelope.event);
        if (grant?.kind === "grant") ref.grant = grant.grant;
      }
      out.push(...folder.entries(ref, r.idx, r.leafHash));
    }
    return base.trie.setMany(out);
  }

  /** The trie as of `size` from the entries alone (a rare path: a size older than any held). */
  private async fromEntries(size: number): Promise<Trie> {
    return this.catchUp({ size: 0, trie: Trie.empty() }, size);
  }
}
