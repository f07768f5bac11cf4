// What a malicious (or buggy) operator holding the log key can do to a STOPPED log's PostgreSQL
// database, for tests of the verifiers that must catch it:
//
//   - injectEntry: append any leaf (a forged or policy-breaking envelope) the way the sequencer
//     commits a batch, minus the policy: in one transaction read log_head and the edge tiles,
//     core appendLeaves, insert the entry row and the batch's index leaf (core/chain-index.ts),
//     upsert the changed tiles, insert a checkpoint signed with the log key (core
//     formatCheckpoint + signNote), compare-and-swap log_head. The operator keeps its index in
//     step with what it serves ("follow", the default: the injected event becomes its chain's
//     head in the index and in the head columns of the state tables, so the restarted log agrees)
//     or leaves it out ("state": the index keeps the honest heads). Everything else in the
//     derived state is left alone: the sequencer never judged the event. The result is an honest
//     APPEND of the tree, so witnesses cosign it once the restarted log re-submits its latest
//     checkpoint: only a verifier that replays the policy, or checks the index, can refuse it.
//   - deleteEntryRow: a log hiding an event from its lookups by dropping the row they read
//     (history bundles, /v1/entries), the tree and tiles untouched.
//   - snapshotDatabase: a copy of a stopped log's database (CREATE DATABASE … TEMPLATE …), to
//     serve an old state later (rollback).
//
// The log process must be stopped before (its sequencer caches the head and the edge tiles) and
// restarted after.

import { and, asc, eq, inArray, sql } from "drizzle-orm";
import postgres from "postgres";
import { fromBase64 } from "../../core/bytes.js";
import { chainKey, encodeChainHead, encodeSubchain, formatIndexLeaf } from "../../core/chain-index.js";
import { formatCheckpoint, parseCheckpoint } from "../../core/checkpoint.js";
import { type Envelope, isOrgEventType, parseEnvelope } from "../../core/event.js";
import {
  AUTHORITY_EVENT_TYPES,
  GRANT_EVENT_TYPES,
  subchainKeyOf,
  subchainOf,
} from "../../core/index-entries.js";
import { canonicalBytes } from "../../core/jcs.js";
import { leafHash as computeLeafHash } from "../../core/merkle.js";
import { parseNote, signNote } from "../../core/note.js";
import { foldSubchain } from "../../core/subchain.js";
import { appendLeaves } from "../../core/tile-append.js";
import { TILE_WIDTH, tilesForSize } from "../../core/tile-paths.js";
import { openDatabase } from "../../node/db.js";
import { readSignerKey } from "../../server/keys.js";
import { ChainIndexCache } from "../../server/storage/chain-index.js";
import { accounts, checkpoints, entries, grants, logHead, orgs, tiles } from "../../server/storage/schema.js";

export interface StoppedLog {
  databaseUrl: string;
  /** The log's note signing key file (PRIVATE+KEY+…). */
  keyFile: string;
}

export interface EntryMeta {
  org: string;
  subject: string;
  type: string;
  /** Default: the leaf's event.seq when it parses as JSON, else 0. */
  seq?: number;
}

export interface InjectOptions {
  /** "follow" (default): the index and state heads point at the injected event; "state": they do not. */
  index?: "follow" | "state";
  /** The time (ms) the index leaf records; default now. An operator may lie here too. */
  time?: number;
}

export interface Injected {
  index: number;
  /** Index of the index leaf appended after it. */
  indexLeaf: number;
  leafHash: Uint8Array;
  leaf: Uint8Array;
  /** New tree size and root, and the log-signed checkpoint note (no cosignatures yet). */
  size: number;
  root: Uint8Array;
  note: string;
}

function seqOf(leaf: Uint8Array): number {
  try {
    const seq = (JSON.parse(new TextDecoder().decode(leaf)) as { event?: { seq?: unknown } }).event?.seq;
    return typeof seq === "number" && Number.isSafeInteger(seq) ? seq : 0;
  } catch {
    return 0;
  }
}

/**
 * Appends one leaf (an envelope, canonicalised, or raw leaf bytes taken as they are) to a stopped
 * log's database with a new checkpoint signed by the log key, all in one transaction.
 */
export async function injectEntry(
  target: StoppedLog,
  envelopeOrLeaf: Envelope | Uint8Array,
  meta: EntryMeta,
  opts: InjectOptions = {},
): Promise<Injected> {
  const leaf = envelopeOrLeaf instanceof Uint8Array ? envelopeOrLeaf : canonicalBytes(envelopeOrLeaf);
  const lh = computeLeafHash(leaf);
  const signer = readSignerKey(target.keyFile);
  const database = await openDatabase({ url: target.databaseUrl, max: 1 });
  try {
    // The index as the state tables give it (the log is stopped: nothing moves meanwhile).
    const fromState = await new ChainIndexCache(database).atHead();
    return await database.db.transaction(async (tx) => {
      const heads = await tx
        .select({ size: logHead.size, root: logHead.root })
        .from(logHead)
        .where(eq(logHead.id, 1))
        .for("update");
      const head = heads[0];
      if (!head) throw new Error("the log has no head: start it once before injecting");
      if (head.size !== fromState.size) throw new Error("the log moved while injecting");
      const latest = await tx.select().from(checkpoints).where(eq(checkpoints.size, head.size));
      if (!latest[0]) throw new Error(`no checkpoint at the head size ${head.size}`);
      // The origin the log signs under, from its own latest checkpoint.
      const { origin } = parseCheckpoint(parseNote(latest[0].note).body);

      let trie = fromState.trie;
      const index = head.size;
      const event = (() => {
        try {
          return parseEnvelope(leaf).envelope.event;
        } catch {
          return undefined;
        }
      })();
      if ((opts.index ?? "follow") === "follow" && event) {
        const org = isOrgEventType(event.type);
        const key = org ? chainKey("org", event.org) : chainKey("account", event.org, event.subject);
        trie = trie.set(key, encodeChainHead({ seq: event.seq, index, leafHash: lh }));
        const set = { headSeq: event.seq, headIndex: index, headLeafHash: lh };
        // An org event also moves its sub-chain (core/subchain.ts): the operator's index follows
        // what it serves, so the sub-chain is folded again from the entry rows there are now
        // (an event moved by deleteEntryRow + injectEntry counts once, at its new index), in the
        // index and in the state table that holds it.
        const where = subchainOf(event);
        if (where) {
          const types = where.kind === "authority" ? [...AUTHORITY_EVENT_TYPES] : [...GRANT_EVENT_TYPES];
          const rows = await tx
            .select({ idx: entries.idx, leafHash: entries.leafHash, envelope: entries.envelope })
            .from(entries)
            .where(
              and(eq(entries.org, event.org), eq(entries.subject, event.org), inArray(entries.type, types)),
            )
            .orderBy(asc(entries.idx));
          const mine = rows.filter((r) => {
            if (where.kind === "authority") return true;
            const w = subchainOf(parseEnvelope(r.envelope).envelope.event);
            return w?.kind === "grant" && w.grant === where.grant;
          });
          const next = foldSubchain([
            ...mine.map((r) => ({ index: r.idx, leafHash: r.leafHash })),
            { index, leafHash: lh },
          ])!;
          trie = trie.set(subchainKeyOf(event)!, encodeSubchain(next));
          const digest = fromBase64(next.digest);
          if (where.kind === "authority")
            await tx
              .update(orgs)
              .set({ authorityCount: next.count, authorityIndex: next.index, authorityDigest: digest })
              .where(eq(orgs.id, event.org));
          else
            await tx
              .update(grants)
              .set({
                chainCount: next.count,
                chainIndex: next.index,
                chainDigest: digest,
                ...(event.type === "grant.revoke" ? { revokedIndex: index } : { issuedIndex: index }),
              })
              .where(and(eq(grants.org, event.org), eq(grants.id, where.grant)));
        }
        if (org) await tx.update(orgs).set(set).where(eq(orgs.id, event.org));
        else
          await tx
            .update(accounts)
            .set(set)
            .where(and(eq(accounts.org, event.org), eq(accounts.id, event.subject)));
      }
      const indexLeaf = formatIndexLeaf({
        size: index + 1,
        time: opts.time ?? Date.now(),
        root: trie.root(),
      });
      const ilh = computeLeafHash(indexLeaf);

      const edge = new Map<string, Uint8Array>();
      for (const t of tilesForSize(head.size)) {
        if (t.width === TILE_WIDTH) continue;
        const rows = await tx
          .select({ data: tiles.data })
          .from(tiles)
          .where(and(eq(tiles.level, t.level), eq(tiles.idx, t.index)));
        const data = rows[0]?.data;
        if (!data || data.length < t.width * 32) throw new Error(`edge tile ${t.level}/${t.index} is short`);
        edge.set(`${t.level}/${t.index}`, data.subarray(0, t.width * 32));
      }
      const appended = appendLeaves(head.size, (t) => edge.get(`${t.level}/${t.index}`), [lh, ilh]);

      await tx.insert(entries).values([
        {
          idx: index,
          leafHash: lh,
          envelope: leaf,
          org: meta.org,
          subject: meta.subject,
          type: meta.type,
          seq: meta.seq ?? seqOf(leaf),
        },
        {
          idx: index + 1,
          leafHash: ilh,
          envelope: indexLeaf,
          org: "",
          subject: "",
          type: "log.index",
          seq: index + 1,
        },
      ]);
      await tx
        .insert(tiles)
        .values(appended.tiles.map(({ tile, data }) => ({ level: tile.level, idx: tile.index, data })))
        .onConflictDoUpdate({ target: [tiles.level, tiles.idx], set: { data: sql`excluded.data` } });
      const note = signNote(
        formatCheckpoint({ origin, size: appended.size, root: appended.root, extensions: [] }),
        [signer],
      );
      await tx.insert(checkpoints).values({ size: appended.size, root: appended.root, note });
      const swapped = await tx
        .update(logHead)
        .set({ size: appended.size, root: appended.root })
        .where(sql`${logHead.id} = 1 and ${logHead.size} = ${head.size}`)
        .returning({ size: logHead.size });
      if (swapped.length !== 1) throw new Error("log_head moved under the injection");
      return {
        index,
        indexLeaf: index + 1,
        leafHash: lh,
        leaf,
        size: appended.size,
        root: appended.root,
        note,
      };
    });
  } finally {
    await database.close();
  }
}

/**
 * Drops the entry row at `index` (what account/org lookups and history bundles read), leaving
 * the tree, tiles and checkpoints untouched. Returns the dropped row's subject and seq.
 */
export async function deleteEntryRow(
  target: Pick<StoppedLog, "databaseUrl">,
  index: number,
): Promise<{ org: string; subject: string; type: string; seq: number; leafHash: Uint8Array }> {
  const database = await openDatabase({ url: target.databaseUrl, max: 1 });
  try {
    const rows = await database.db.delete(entries).where(eq(entries.idx, index)).returning({
      org: entries.org,
      subject: entries.subject,
      type: entries.type,
      seq: entries.seq,
      leafHash: entries.leafHash,
    });
    if (rows.length !== 1) throw new Error(`no entry row at index ${index}`);
    return rows[0]!;
  } finally {
    await database.close();
  }
}

/**
 * Copies a stopped log's database (no connection may be open to it) into a new database on the
 * same server; returns the copy's URL and a drop function.
 */
export async function snapshotDatabase(
  databaseUrl: string,
  name: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const live = new URL(databaseUrl);
  const source = decodeURIComponent(live.pathname.slice(1));
  // A maintenance database, never the source (a template must have no other session).
  const maint = new URL(databaseUrl);
  maint.pathname = "/postgres";
  const admin = postgres(maint.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${source}"`);
  } finally {
    await admin.end();
  }
  const copy = new URL(databaseUrl);
  copy.pathname = `/${name}`;
  return {
    url: copy.toString(),
    async drop() {
      const a = postgres(maint.toString(), { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
