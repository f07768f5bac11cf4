// The log's writes: creating an empty log, and committing a batch. Everything a batch changes
// (its entries and index leaf, the changed tiles, the derived state, the signed checkpoint and
// the head) goes in ONE transaction, after a compare-and-swap of the head that fences off a
// second process that believes it sequences. When commitBatch returns, all of it is durable (the
// transaction committed, PostgreSQL's fsync on commit); when it throws, none of it is.

import { eq, type SQLWrapper, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import type postgres from "postgres";
import { INDEX_LEAF_TYPE } from "../../core/chain-index.js";
import { TrustlogError } from "../../core/errors.js";
import type { Envelope } from "../../core/event.js";
import { leafHash as computeLeafHash } from "../../core/merkle.js";
import type { AccountState, Grant, OrgState } from "../../core/state.js";
import type { TileId } from "../../core/tile-paths.js";
import type { Database, Drizzle } from "../../node/db.js";
import { checkpoints, entries, logHead, tiles } from "./schema.js";
import { hex, stateStatements } from "./state.js";

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
 *
 * On PostgreSQL the statements are pipelined: sent together on the transaction's connection and
 * run by the server one after the other in the order sent, so a batch costs three round trips
 * (BEGIN, the statements, COMMIT) instead of one per statement. Each round trip used to wait for
 * the event loop, busy with the next requests, and the commit is the sequencer's critical path.
 */
export async function commitBatch(
  database: Database,
  old: { size: number },
  next: CommittedHead,
  batch: Batch,
  beforeCommit?: (size: number, tx: Pick<Drizzle, "execute">) => Promise<void> | void,
): Promise<void> {
  await database.db.transaction(async (tx) => {
    const rows = await runInOrder(database, tx, batchStatements(tx, old, next, batch));
    // The compare-and-swap runs first: it also row-locks the head, so a second sequencer that
    // believes it leads waits there and then finds the size moved. The statements after it may
    // have failed for that very reason (an entry's index taken): the swap's answer decides.
    if (rows[0]?.status !== "fulfilled" || rows[0].value !== 1) {
      if (rows[0]?.status === "rejected") throw rows[0].reason;
      throw new TrustlogError("NOT_LEADER", "another sequencer advanced the log; this one stepped down");
    }
    for (const r of rows) if (r.status === "rejected") throw r.reason;
    await beforeCommit?.(next.size, tx);
  });
}

/**
 * Runs `statements` in order in the transaction `tx` and settles to each one's number of rows
 * (affected, or returned with RETURNING). PostgreSQL: pipelined on the transaction's connection
 * (postgres-js sends queries in the order they are started, and the server runs them in that
 * order; a failed one leaves the rest failing as "transaction aborted"). PGlite: one after the
 * other (it runs one query at a time anyway).
 */
async function runInOrder(
  database: Database,
  tx: Drizzle,
  statements: readonly SQLWrapper[],
): Promise<PromiseSettledResult<number>[]> {
  const client = (tx as unknown as { session?: { client?: postgres.TransactionSql } }).session?.client;
  if (database.kind === "postgres" && client && typeof client.unsafe === "function") {
    const queries = statements.map((s) => {
      const q = dialect.sqlToQuery(s.getSQL());
      return client.unsafe(q.sql, q.params as postgres.ParameterOrJSON<never>[], { prepare: true });
    });
    return Promise.allSettled(queries.map((q) => q.then((r) => r.count)));
  }
  const out: PromiseSettledResult<number>[] = [];
  for (const s of statements) {
    try {
      out.push({ status: "fulfilled", value: rowCount(await tx.execute(s.getSQL())) });
    } catch (reason) {
      out.push({ status: "rejected", reason });
      break;
    }
  }
  return out;
}

const dialect = new PgDialect();

/** Rows affected or returned, from either driver's result (postgres-js: an array with a count). */
function rowCount(result: unknown): number {
  if (Array.isArray(result)) return (result as { count?: number }).count ?? result.length;
  const r = result as { affectedRows?: number; rows?: unknown[] };
  return r.rows?.length || r.affectedRows || 0;
}

/** A batch's statements, in the order they must run; the first is the head's compare-and-swap. */
function batchStatements(
  tx: Pick<Drizzle, "insert" | "delete" | "update">,
  old: { size: number },
  next: CommittedHead,
  batch: Batch,
): SQLWrapper[] {
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
  return [
    tx
      .update(logHead)
      .set({ size: next.size, root: next.root })
      .where(sql`${logHead.id} = 1 and ${logHead.size} = ${old.size}`)
      .returning({ size: logHead.size }),
    sql`
      insert into ${entries} (idx, leaf_hash, envelope, org, subject, type, seq)
      select i::bigint, decode(h, 'hex'), decode(e, 'hex'), o, s, t, q::bigint
      from unnest(${sql.param(rows.map((r) => String(r.idx)))}::text[],
                  ${sql.param(rows.map((r) => hex(r.leafHash)))}::text[],
                  ${sql.param(rows.map((r) => hex(r.leaf)))}::text[],
                  ${sql.param(rows.map((r) => r.org))}::text[],
                  ${sql.param(rows.map((r) => r.subject))}::text[],
                  ${sql.param(rows.map((r) => r.type))}::text[],
                  ${sql.param(rows.map((r) => String(r.seq)))}::text[])
        as x(i, h, e, o, s, t, q)`,
    tx
      .insert(tiles)
      .values(batch.tiles.map(({ tile, data }) => ({ level: tile.level, idx: tile.index, data })))
      .onConflictDoUpdate({ target: [tiles.level, tiles.idx], set: { data: sql`excluded.data` } }),
    ...stateStatements(tx, batch.orgs, batch.grants, batch.accounts),
    tx.insert(checkpoints).values({ size: next.size, root: next.root, note: next.note }),
  ];
}
