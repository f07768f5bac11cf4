// The log's writes: creating an empty log, and committing a batch. Everything a batch changes
// (its entries and index leaf, the changed tiles, the derived state, the signed checkpoint and
// the head) goes in ONE transaction, after a compare-and-swap of the head that fences off a
// second process that believes it sequences. When commitBatch returns, all of it is durable (the
// transaction committed, PostgreSQL's fsync on commit); when it throws, none of it is.

import { eq, sql } from "drizzle-orm";
import { INDEX_LEAF_TYPE } from "../../core/chain-index.js";
import { TrustlogError } from "../../core/errors.js";
import type { Envelope } from "../../core/event.js";
import { leafHash as computeLeafHash } from "../../core/merkle.js";
import type { AccountState, Grant, OrgState } from "../../core/state.js";
import type { TileId } from "../../core/tile-paths.js";
import type { Database, Drizzle } from "../../node/db.js";
import { checkpoints, entries, logHead, tiles } from "./schema.js";
import { hex, saveState } from "./state.js";

/** A tree head as the log commits it: size, root and the signed checkpoint note. */
export interface CommittedHead {
  size: number;
  root: Uint8Array;
  note: string;
}

/** One batch: the accepted events (in order), the index leaf closing it, and what it changed. */
export interface Batch {
  events: readonly { envelope: Envelope; leaf: Uint8Array; leafHash: Uint8Array }[];
  indexLeaf: Uint8Array;
  tiles: readonly { tile: TileId; data: Uint8Array }[];
  orgs: Iterable<OrgState>;
  grants: Iterable<Grant>;
  accounts: Iterable<AccountState>;
}

/**
 * Gives an empty log its head (size 0) and a signed size-0 checkpoint, once: two processes may
 * race here, and the head row's primary key lets exactly one insert win (the checkpoint goes in
 * only with that insert). Durable when it returns; a no-op for a log that has a head.
 */
export async function initializeLog(database: Database, signEmpty: () => { root: Uint8Array; note: string }) {
  const db = database.db;
  const existing = await db.select({ size: logHead.size }).from(logHead).where(eq(logHead.id, 1));
  if (existing.length > 0) return;
  const { root, note } = signEmpty();
  await db.transaction(async (tx) => {
    const won = await tx
      .insert(logHead)
      .values({ id: 1, size: 0, root })
      .onConflictDoNothing()
      .returning({ id: logHead.id });
    if (won.length > 0) await tx.insert(checkpoints).values({ size: 0, root, note });
  });
}

/**
 * Commits a batch moving the log from `old` to `next` (see the header). Throws NOT_LEADER when
 * the head is no longer `old` (another sequencer advanced the log): nothing is written then.
 * `beforeCommit` runs inside the transaction, last (tests inject faults there).
 */
export async function commitBatch(
  database: Database,
  old: { size: number },
  next: CommittedHead,
  batch: Batch,
  beforeCommit?: (size: number, tx: Pick<Drizzle, "execute">) => Promise<void> | void,
): Promise<void> {
  await database.db.transaction(async (tx) => {
    // The compare-and-swap comes first: it also row-locks the head, so a second sequencer
    // that believes it leads waits here and then finds the size moved.
    const swapped = await tx
      .update(logHead)
      .set({ size: next.size, root: next.root })
      .where(sql`${logHead.id} = 1 and ${logHead.size} = ${old.size}`)
      .returning({ size: logHead.size });
    if (swapped.length !== 1) {
      throw new TrustlogError("NOT_LEADER", "another sequencer advanced the log; this one stepped down");
    }
    // One statement whatever the batch size: each column goes as one text array parameter
    // (numbers as decimals, bytes as hex, as both drivers pass text arrays through unchanged),
    // unnested and cast server-side. The index leaf's row has no chain: empty org and subject,
    // its own index as seq.
    const n = batch.events.length;
    const rows = [
      ...batch.events.map((it, k) => ({
        idx: old.size + k,
        leafHash: it.leafHash,
        leaf: it.leaf,
        org: it.envelope.event.org,
        subject: it.envelope.event.subject,
        type: it.envelope.event.type as string,
        seq: it.envelope.event.seq,
      })),
      {
        idx: old.size + n,
        leafHash: computeLeafHash(batch.indexLeaf),
        leaf: batch.indexLeaf,
        org: "",
        subject: "",
        type: INDEX_LEAF_TYPE,
        seq: old.size + n,
      },
    ];
    await tx.execute(sql`
      insert into ${entries} (idx, leaf_hash, envelope, org, subject, type, seq)
      select i::bigint, decode(h, 'hex'), decode(e, 'hex'), o, s, t, q::bigint
      from unnest(${sql.param(rows.map((r) => String(r.idx)))}::text[],
                  ${sql.param(rows.map((r) => hex(r.leafHash)))}::text[],
                  ${sql.param(rows.map((r) => hex(r.leaf)))}::text[],
                  ${sql.param(rows.map((r) => r.org))}::text[],
                  ${sql.param(rows.map((r) => r.subject))}::text[],
                  ${sql.param(rows.map((r) => r.type))}::text[],
                  ${sql.param(rows.map((r) => String(r.seq)))}::text[])
        as x(i, h, e, o, s, t, q)`);
    await tx
      .insert(tiles)
      .values(batch.tiles.map(({ tile, data }) => ({ level: tile.level, idx: tile.index, data })))
      .onConflictDoUpdate({ target: [tiles.level, tiles.idx], set: { data: sql`excluded.data` } });
    await saveState(tx, batch.orgs, batch.grants, batch.accounts);
    await tx.insert(checkpoints).values({ size: next.size, root: next.root, note: next.note });
    await beforeCommit?.(next.size, tx);
  });
}
