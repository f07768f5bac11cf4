// The log's storage, read side: what the HTTP layer serves and what the sequencer reloads from.
// Only the sequencer writes (server/sequencer.ts), always in one transaction per batch, so every
// read here sees a committed batch as a whole or not at all.
//
// Durability: everything a LogStore method returns was committed, hence durable (node/db.ts).
// The tile caches hold bytes that can never change: a full tile is immutable, and a partial tile
// only grows, so any cached prefix long enough for the width asked for is still correct.

import { and, asc, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import { toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { ORG_EVENT_TYPES } from "../../core/event.js";
import { AUTHORITY_EVENT_TYPES } from "../../core/index-entries.js";
import { Lru } from "../../core/lru.js";
import { type HashReader, type LeafRange, log2Floor, pow2, subtreeHashes } from "../../core/merkle.js";
import { inclusionProofRanges } from "../../core/proof.js";
import type { AccountState, Grant, OrgState } from "../../core/state.js";
import { FULL_TILE_BYTES, type TileId } from "../../core/tile-paths.js";
import { TileCache, tileHashReader } from "../../core/tile-reader.js";
import { type Database, runMigrations } from "../../node/db.js";
import { packagePath } from "../../node/package-root.js";
import { ChainIndexCache } from "./chain-index.js";
import { prepared } from "./prepared.js";
import { checkpoints, cosignatures, entries, grants, logHead, tiles } from "./schema.js";
import { accountKey, loadAccounts, loadOrgGrants, loadOrgs } from "./state.js";

/** The server's SQL migrations, under the package root whatever the working directory (source or dist/). */
export const SERVER_MIGRATIONS = packagePath("migrations", "server");

/** Brings a database to the log server's current schema (idempotent). */
export async function migrateLogDatabase(database: Database): Promise<void> {
  await runMigrations(database, SERVER_MIGRATIONS);
}

export interface StoredCheckpoint {
  size: number;
  root: Uint8Array;
  /** The log-signed note, without witness cosignatures. */
  note: string;
  /** Witness cosignature lines collected so far (each `— name base64\n`). */
  cosignatures: string[];
}

export interface StoredEntry {
  index: number;
  leafHash: Uint8Array;
  envelope: Uint8Array;
}

export interface EventRef {
  index: number;
  leafHash: Uint8Array;
  type: string;
  seq: number;
}

export interface LogStoreOptions {
  /**
   * How many tiles the proofs' cache keeps with their interior nodes; default 8192. A full tile
   * costs 16 KiB with its interior nodes, and up to 9 KiB more with the base64 of its upper
   * nodes (the proof fast path), so the default is up to 200 MiB: every tile of a tree of two
   * million leaves. The plain bytes of RAW_TILES_PER_TILE times as many tiles are kept beside
   * them (8 KiB each, up to 512 MiB by default: every level-0 tile of 1.6×10^7 leaves), so that a
   * proof whose tile's interior was evicted hashes it again from memory (~0.3 ms at 10^7
   * leaves, bench/README.md) instead of reading it from the database (~0.8 ms).
   */
  tileCacheSize?: number;
}

/** Plain tiles kept per tile of the proofs' cache (LogStoreOptions.tileCacheSize). */
export const RAW_TILES_PER_TILE = 8;

const HASH = 32;

/** Whether leaves [lo, hi) form one node of the tree (a perfect, aligned subtree). */
const isNode = (lo: number, hi: number) => {
  const n = hi - lo;
  return n > 0 && pow2(log2Floor(n)) === n && lo % n === 0;
};

/** A served checkpoint carries at most this many signatures (the log's and cosignatures). */
export const MAX_CHECKPOINT_SIGNATURES = 16;

// One key per tile: level and index both in the text, so no two tiles can share a key (indices
// go up to 2^53, far past any fixed stride between levels).
const tileKey = (level: number, index: number) => `${level}/${index}`;

export class LogStore {
  /** Raw tile bytes, the longest seen per tile (what /tile/* serves and the sequencer resumes from). */
  private readonly tileBytes: Lru<string, Uint8Array>;
  /**
   * Hashed-up tile interiors for proofs, shared by every request. Keyed by tile path with its
   * width (`tile/0/x001/234.p/17`), so a partial tile cached at one width is never used for a
   * larger tree: that tree names the same tile at another width, a different key. The content
   * at any one width never changes once committed, so no entry ever goes stale.
   */
  private proofTiles: TileCache;
  /**
   * Hashes of leaf ranges that are not one node (the right edge of a tree whose size is not a
   * power of two), by `lo:hi`: each is folded from several nodes, and nearly every proof against
   * the latest tree carries one, the same few for every index. The hash of committed leaves
   * never changes.
   */
  private edgeHashes = new Lru<string, Uint8Array>(1024);
  /** The index of chain heads as of recent checkpoints (lookup proofs). */
  readonly chainIndex: ChainIndexCache;

  constructor(
    readonly database: Database,
    private readonly opts: LogStoreOptions = {},
  ) {
    this.chainIndex = new ChainIndexCache(database);
    this.tileBytes = new Lru(RAW_TILES_PER_TILE * (opts.tileCacheSize ?? 8192));
    this.proofTiles = new TileCache(opts.tileCacheSize ?? 8192);
  }

  private get db() {
    return this.database.db;
  }

  /** Size of the log as of the last committed batch (0 before the first start). */
  async treeSize(): Promise<number> {
    return (await this.head())?.size ?? 0;
  }

  /** The log head row the sequencer compare-and-swaps; undefined before the first start. */
  async head(): Promise<{ size: number; root: Uint8Array } | undefined> {
    const q = prepared(this.db, "log_head", () =>
      this.db
        .select({ size: logHead.size, root: logHead.root })
        .from(logHead)
        .where(eq(logHead.id, 1))
        .prepare("log_head"),
    );
    return (await q.execute())[0];
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const q = prepared(this.db, "checkpoint_latest", () =>
      this.db
        .select()
        .from(checkpoints)
        .orderBy(desc(checkpoints.size))
        .limit(1)
        .prepare("checkpoint_latest"),
    );
    return this.withCosignatures(await q.execute());
  }

  /**
   * The largest checkpoint of at least `atLeast` leaves that `k` witnesses have cosigned (what a
   * log with a publish quorum publishes), with its cosignatures.
   */
  async latestCosignedBy(k: number, atLeast = 0): Promise<StoredCheckpoint | undefined> {
    const rows = await this.db
      .select({ size: checkpoints.size })
      .from(checkpoints)
      .innerJoin(cosignatures, eq(cosignatures.size, checkpoints.size))
      .where(gte(checkpoints.size, atLeast))
      .groupBy(checkpoints.size)
      .having(sql`count(*) >= ${k}`)
      .orderBy(desc(checkpoints.size))
      .limit(1);
    const size = rows[0]?.size;
    return size === undefined ? undefined : this.checkpointAt(size);
  }

  async checkpointAt(size: number): Promise<StoredCheckpoint | undefined> {
    const q = prepared(this.db, "checkpoint_at", () =>
      this.db
        .select()
        .from(checkpoints)
        .where(eq(checkpoints.size, sql.placeholder("size")))
        .prepare("checkpoint_at"),
    );
    return this.withCosignatures(await q.execute({ size }));
  }

  private async withCosignatures(
    rows: { size: number; root: Uint8Array; note: string }[],
  ): Promise<StoredCheckpoint | undefined> {
    const row = rows[0];
    if (!row) return undefined;
    return {
      size: row.size,
      root: row.root,
      note: row.note,
      cosignatures: await this.cosignatureLines(row.size),
    };
  }

  /**
   * The cosignature lines of a checkpoint, by witness name, at most 15: with the log's own, a
   * served note carries at most 16 signatures, what C2SP tlog-checkpoint verifiers accept
   * (witnesses once configured and since removed may have left lines behind).
   */
  private async cosignatureLines(size: number): Promise<string[]> {
    const q = prepared(this.db, "cosignature_lines", () =>
      this.db
        .select({ line: cosignatures.line })
        .from(cosignatures)
        .where(eq(cosignatures.size, sql.placeholder("size")))
        .orderBy(asc(cosignatures.witness))
        .limit(MAX_CHECKPOINT_SIGNATURES - 1)
        .prepare("cosignature_lines"),
    );
    return (await q.execute({ size })).map((r) => r.line);
  }

  /**
   * Records a witness's cosignature line for the checkpoint of `size` (the caller has verified
   * it). A later line from the same witness replaces the earlier one (fresher timestamp).
   * Durable when the promise resolves.
   */
  async addCosignature(size: number, witness: string, line: string): Promise<void> {
    await this.db
      .insert(cosignatures)
      .values({ size, witness, line })
      .onConflictDoUpdate({ target: [cosignatures.size, cosignatures.witness], set: { line } });
  }

  /**
   * The current bytes of hash tile (level, index): full (8 KiB) or the partial tile of the
   * latest size; undefined when no leaf reaches it yet. Callers serving `.p/<W>` take a prefix.
   */
  async readTile(level: number, index: number): Promise<Uint8Array | undefined> {
    const cached = this.tileBytes.get(tileKey(level, index));
    if (cached?.length === FULL_TILE_BYTES) return cached;
    const q = prepared(this.db, "tile", () =>
      this.db
        .select({ data: tiles.data })
        .from(tiles)
        .where(and(eq(tiles.level, sql.placeholder("level")), eq(tiles.idx, sql.placeholder("index"))))
        .prepare("tile"),
    );
    const data = (await q.execute({ level, index }))[0]?.data;
    if (data) this.rememberTile(level, index, data);
    return data;
  }

  /**
   * Keeps the longest committed bytes seen for a tile (the sequencer calls this after each
   * commit, never before: an uncommitted tile must not be served).
   */
  rememberTile(level: number, index: number, data: Uint8Array): void {
    const key = tileKey(level, index);
    const cached = this.tileBytes.get(key);
    if (cached && cached.length >= data.length) return;
    this.tileBytes.set(key, data);
  }

  /** Forgets every cached tile (leadership changed, or a commit's outcome is unknown). */
  dropTileCache(): void {
    this.tileBytes.clear();
    this.proofTiles = new TileCache(this.opts.tileCacheSize ?? 8192);
    this.edgeHashes = new Lru(1024);
  }

  /** Tile `t` at exactly its width, from the bytes cache or the database. */
  private readonly tileAtWidth = async (t: TileId): Promise<Uint8Array> => {
    const want = t.width * HASH;
    let data = this.tileBytes.get(tileKey(t.level, t.index));
    if (!data || data.length < want) data = await this.readTile(t.level, t.index);
    if (!data || data.length < want) {
      throw new TrustlogError("TILE_MISSING", `tile ${t.level}/${t.index} has fewer than ${t.width} hashes`, {
        level: t.level,
        index: t.index,
        width: t.width,
      });
    }
    return data.subarray(0, want);
  };

  /**
   * A HashReader over the tree of `size` leaves (size must not exceed the committed size),
   * through the shared tile cache: a proof on a warm cache costs lookups, each tile interior
   * being hashed once for the life of the cache (partial tiles once per width).
   */
  hashReader(size: number): HashReader {
    return tileHashReader(this.tileAtWidth, size, this.proofTiles);
  }

  /**
   * The hashes of leaf ranges of the tree of `size` leaves (what a proof is made of, e.g.
   * core/proof.ts inclusionProofRanges), through the shared tile cache; a range that is not one
   * node is folded once and kept.
   */
  async rangeHashes(ranges: readonly LeafRange[], size: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = new Array(ranges.length);
    const todo: number[] = [];
    ranges.forEach(([lo, hi], i) => {
      const kept = isNode(lo, hi) ? undefined : this.edgeHashes.get(`${lo}:${hi}`);
      if (kept) out[i] = kept;
      else todo.push(i);
    });
    if (todo.length === 0) return out;
    const hashes = await subtreeHashes(
      todo.map((i) => ranges[i]!),
      this.hashReader(size),
    );
    todo.forEach((i, k) => {
      const [lo, hi] = ranges[i]!;
      out[i] = hashes[k]!;
      if (!isNode(lo, hi)) this.edgeHashes.set(`${lo}:${hi}`, hashes[k]!);
    });
    return out;
  }

  /**
   * The JSON text of routes/proofs.ts inclusionProofByIndex's answer (the same bytes as
   * JSON.stringify of it) when every hash it needs is cached, else undefined: the proof fast
   * path's hot path, with no promise, no database and no copy of a hash, a tile node's base64
   * encoded once for the life of the cache. `latest` is the latest published size; an index or
   * size the route would refuse is undefined too (the route answers the error). The route
   * fills the caches this reads.
   */
  cachedInclusionProofText(index: number, size: number, latest: number): string | undefined {
    if (!(index < size && size <= latest)) return undefined;
    const tiles = this.proofTiles;
    // Like inclusionProofByIndex: the leaf hash from the latest tree's tiles.
    const leaf = tiles.cachedNodeBase64({ level: 0, index }, latest);
    if (leaf === undefined) return undefined;
    let text = `{"index":${index},"size":${size},"leafHash":"${leaf}","hashes":[`;
    const ranges = inclusionProofRanges(index, size);
    for (let i = 0; i < ranges.length; i++) {
      const [lo, hi] = ranges[i]!;
      const n = hi - lo;
      // A range that is not one node is a right-edge hash, one or two per proof: encoded here.
      let hash: string | undefined;
      if (isNode(lo, hi)) hash = tiles.cachedNodeBase64({ level: log2Floor(n), index: lo / n }, size);
      else {
        const h = this.edgeHashes.get(`${lo}:${hi}`);
        hash = h && toBase64(h);
      }
      if (hash === undefined) return undefined;
      text += i === 0 ? `"${hash}"` : `,"${hash}"`;
    }
    return `${text}]}`;
  }

  /** Canonical envelopes of entries [start, start+count), in order (fewer past the end). */
  async readEntries(start: number, count: number): Promise<Uint8Array[]> {
    const q = prepared(this.db, "entries_range", () =>
      this.db
        .select({ envelope: entries.envelope })
        .from(entries)
        .where(and(gte(entries.idx, sql.placeholder("start")), lt(entries.idx, sql.placeholder("end"))))
        .orderBy(asc(entries.idx))
        .prepare("entries_range"),
    );
    return (await q.execute({ start, end: start + count })).map((r) => r.envelope);
  }

  async getEntry(index: number): Promise<StoredEntry | undefined> {
    const q = prepared(this.db, "entry", () =>
      this.db
        .select({ index: entries.idx, leafHash: entries.leafHash, envelope: entries.envelope })
        .from(entries)
        .where(eq(entries.idx, sql.placeholder("index")))
        .prepare("entry"),
    );
    return (await q.execute({ index }))[0];
  }

  /** The stored leaves at these indices, by index (absent ones left out). */
  async getEntries(indices: readonly number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    if (indices.length === 0) return out;
    const q = prepared(this.db, "entries_at", () =>
      this.db
        .select({ index: entries.idx, envelope: entries.envelope })
        .from(entries)
        .where(sql`${entries.idx} = any(${sql.placeholder("indices")}::bigint[])`)
        .prepare("entries_at"),
    );
    for (const r of await q.execute({ indices: indices.map(String) })) out.set(r.index, r.envelope);
    return out;
  }

  async findLeaf(leafHash: Uint8Array): Promise<number | undefined> {
    const q = prepared(this.db, "leaf_by_hash", () =>
      this.db
        .select({ idx: entries.idx })
        .from(entries)
        .where(eq(entries.leafHash, sql.placeholder("leafHash")))
        .prepare("leaf_by_hash"),
    );
    return (await q.execute({ leafHash }))[0]?.idx;
  }

  /** Indices of the leaves among `hashes` that are already in the log (key: base64-free hex). */
  async findLeaves(hashes: Uint8Array[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (hashes.length === 0) return found;
    const q = prepared(this.db, "leaves_by_hash", () =>
      this.db
        .select({ idx: entries.idx, leafHash: entries.leafHash })
        .from(entries)
        // One text-array parameter cast to bytea[] (each '\\x…' element through bytea's input),
        // so = any(...) uses the unique index whatever the batch size.
        .where(sql`${entries.leafHash} = any(${sql.placeholder("hashes")}::text[]::bytea[])`)
        .prepare("leaves_by_hash"),
    );
    for (const r of await q.execute({ hashes: hashes.map((h) => `\\x${hashKey(h)}`) }))
      found.set(hashKey(r.leafHash), r.idx);
    return found;
  }

  /**
   * The entries at chain positions (org, subject, seq), for telling a resubmitted event from a
   * conflicting one. Org and account chains of the same id are told apart by the caller (type).
   */
  async eventsAt(positions: readonly { org: string; subject: string; seq: number }[]): Promise<
    {
      index: number;
      leafHash: Uint8Array;
      envelope: Uint8Array;
      org: string;
      subject: string;
      seq: number;
      type: string;
    }[]
  > {
    if (positions.length === 0) return [];
    const rows = await this.db.execute(sql`
      select e.idx, e.leaf_hash, e.envelope, e.org, e.subject, e.seq, e.type
      from ${entries} e
      join unnest(${sql.param(positions.map((p) => p.org))}::text[],
                  ${sql.param(positions.map((p) => p.subject))}::text[],
                  ${sql.param(positions.map((p) => String(p.seq)))}::text[]) as x(o, s, q)
        on e.org = x.o and e.subject = x.s and e.seq = x.q::bigint`);
    const list = rawRows<{
      idx: string | number;
      leaf_hash: Uint8Array;
      envelope: Uint8Array;
      org: string;
      subject: string;
      seq: string | number;
      type: string;
    }>(rows);
    return list.map((r) => ({
      index: Number(r.idx),
      leafHash: bytes(r.leaf_hash),
      envelope: bytes(r.envelope),
      org: r.org,
      subject: r.subject,
      seq: Number(r.seq),
      type: r.type,
    }));
  }

  /**
   * For each event index, the first index leaf after it (the last leaf of its batch) below
   * `size`, deduplicated and in index order.
   */
  async coveringIndexLeaves(indices: readonly number[], size: number): Promise<StoredEntry[]> {
    if (indices.length === 0) return [];
    const rows = await this.db.execute(sql`
      select distinct l.idx, l.leaf_hash, l.envelope
      from unnest(${sql.param(indices.map(String))}::text[]) as x(i)
      cross join lateral (
        select idx, leaf_hash, envelope from ${entries}
        where idx > x.i::bigint and idx < ${size} and type = 'log.index'
        order by idx limit 1) l
      order by l.idx`);
    const list = rawRows<{ idx: string | number; leaf_hash: Uint8Array; envelope: Uint8Array }>(rows);
    return list.map((r) => ({
      index: Number(r.idx),
      leafHash: bytes(r.leaf_hash),
      envelope: bytes(r.envelope),
    }));
  }

  async getOrg(id: string): Promise<OrgState | undefined> {
    return (await loadOrgs(this.db, [id])).get(id);
  }

  /** Every grant the org ever issued, oldest first. */
  async getOrgGrants(org: string): Promise<Grant[]> {
    return loadOrgGrants(this.db, org);
  }

  async getAccount(org: string, id: string): Promise<AccountState | undefined> {
    return (await loadAccounts(this.db, [{ org, id }])).get(accountKey(org, id));
  }

  /** The account's events in chain order. */
  async accountEvents(org: string, id: string): Promise<EventRef[]> {
    const q = prepared(this.db, "account_events", () =>
      this.db
        .select({ index: entries.idx, leafHash: entries.leafHash, type: entries.type, seq: entries.seq })
        .from(entries)
        .where(and(eq(entries.org, sql.placeholder("org")), eq(entries.subject, sql.placeholder("id"))))
        .orderBy(asc(entries.seq))
        .prepare("account_events"),
    );
    const rows = await q.execute({ org, id });
    return rows.filter((r) => !(ORG_EVENT_TYPES as readonly string[]).includes(r.type));
  }

  /** The org's authority events (org.create, admin.add, admin.remove) in chain order. */
  async authorityEvents(org: string): Promise<EventRef[]> {
    return this.orgChainEvents("authority_events", AUTHORITY_EVENT_TYPES, org);
  }

  /** The events (grant.issue, then any grant.revoke) of each named grant of an org, in log order. */
  async grantEvents(org: string, ids: readonly string[]): Promise<EventRef[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .select({ issued: grants.issuedIndex, revoked: grants.revokedIndex })
      .from(grants)
      .where(and(eq(grants.org, org), inArray(grants.id, [...new Set(ids)])));
    const indices = rows.flatMap((r) => (r.revoked === null ? [r.issued] : [r.issued, r.revoked]));
    if (indices.length === 0) return [];
    return this.db
      .select({ index: entries.idx, leafHash: entries.leafHash, type: entries.type, seq: entries.seq })
      .from(entries)
      .where(inArray(entries.idx, indices))
      .orderBy(asc(entries.idx));
  }

  /** The org's own events (org.create, admin.*, grant.*) in chain order. */
  async orgEvents(org: string): Promise<EventRef[]> {
    return this.orgChainEvents("org_events", ORG_EVENT_TYPES, org);
  }

  /** The org chain's events of these types, in chain order (`name`: the prepared query's). */
  private orgChainEvents(name: string, types: readonly string[], org: string): Promise<EventRef[]> {
    const q = prepared(this.db, name, () =>
      this.db
        .select({ index: entries.idx, leafHash: entries.leafHash, type: entries.type, seq: entries.seq })
        .from(entries)
        .where(
          and(
            eq(entries.org, sql.placeholder("org")),
            eq(entries.subject, sql.placeholder("org")),
            inArray(entries.type, [...types]),
          ),
        )
        .orderBy(asc(entries.seq))
        .prepare(name),
    );
    return q.execute({ org });
  }
}

export function hashKey(h: Uint8Array): string {
  let s = "";
  for (const b of h) s += (b < 16 ? "0" : "") + b.toString(16);
  return s;
}

/** The rows of a raw `execute`: postgres-js answers an array, PGlite an object holding one. */
function rawRows<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as T[];
}

/** bytea as a plain Uint8Array view (postgres-js gives Buffers). */
function bytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
