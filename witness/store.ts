// The witness's durable state. Every method that writes commits before it returns (PostgreSQL's
// default synchronous_commit; PGlite is for single-process trials, see node/db.ts), so a
// cosignature handed out after `advance` returned true survives any crash.
//
// The one rule the store enforces: a log's row only moves by compare-and-swap from the exact
// (size, root) the caller verified against, and never once the log is refused. Several witness
// processes may share one database; the conditional UPDATE is what keeps them consistent.

import { and, eq, gte, type SQL, sql } from "drizzle-orm";
import { toHex } from "../core/bytes.js";
import { EMPTY_ROOT } from "../core/merkle.js";
import type { Database, Drizzle } from "../node/db.js";
import {
  type AnyEvidence,
  type AuditEntryProof,
  type AuditViolation,
  auditEvidenceFingerprint,
  isAuditEvidence,
} from "./audit-evidence.js";
import { type Evidence, evidenceFingerprint } from "./evidence.js";
import type { StateMove } from "./group-commit.js";
import { witnessAudit, witnessEvidence, witnessLogs } from "./schema.js";

export interface LogState {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The latest cosigned note (log signatures + this witness's cosignature); null before any. */
  note: string | null;
  refused: boolean;
}

export type StoredEvidence = AnyEvidence & {
  source: string;
  detectedAt: string;
};

/** An audited log's row (witness/auditor.ts). */
export interface AuditState {
  origin: string;
  /** Entries [0, auditedSize) replayed clean; witness_logs.size never passes it. */
  auditedSize: number;
  auditedRoot: Uint8Array;
  snapshotSize: number;
  snapshot: Uint8Array | null;
}

export class WitnessStore {
  /**
   * Every add-checkpoint reads its log's row: a prepared statement (postgres-js prepares it once
   * per pooled connection, then each read is one round trip, not two, and is not parsed and
   * planned again). `?prepare=false` on the database URL turns preparing off, for a pooler in
   * transaction mode that does not carry prepared statements.
   */
  private readonly getLog;

  constructor(private readonly database: Database) {
    this.getLog = database.db
      .select()
      .from(witnessLogs)
      .where(eq(witnessLogs.origin, sql.placeholder("origin")))
      .prepare("witness_log_get");
  }

  /** Adds configured logs at size 0, leaving existing rows (and their history) untouched. */
  async ensureLogs(origins: readonly string[]): Promise<void> {
    if (origins.length === 0) return;
    await this.database.db
      .insert(witnessLogs)
      .values(origins.map((origin) => ({ origin, size: 0, root: EMPTY_ROOT })))
      .onConflictDoNothing();
  }

  /** Adds an audit row at size 0 for each audited log, leaving existing rows untouched. */
  async ensureAudits(origins: readonly string[]): Promise<void> {
    if (origins.length === 0) return;
    await this.database.db
      .insert(witnessAudit)
      .values(origins.map((origin) => ({ origin, auditedSize: 0, auditedRoot: EMPTY_ROOT, snapshotSize: 0 })))
      .onConflictDoNothing();
  }

  async getAudit(origin: string): Promise<AuditState | undefined> {
    const rows = await this.database.db.select().from(witnessAudit).where(eq(witnessAudit.origin, origin));
    const r = rows[0];
    return r
      ? {
          origin: r.origin,
          auditedSize: r.auditedSize,
          auditedRoot: r.auditedRoot,
          snapshotSize: r.snapshotSize,
          snapshot: r.snapshot,
        }
      : undefined;
  }

  /**
   * Stores a replay snapshot of a clean, verified prefix of `size` entries (root `root`), and
   * raises the audited size to it. Committed when it returns.
   */
  async saveSnapshot(origin: string, size: number, root: Uint8Array, snapshot: Uint8Array): Promise<void> {
    await this.database.db
      .update(witnessAudit)
      .set({
        snapshotSize: size,
        snapshot,
        auditedRoot: sql`case when ${witnessAudit.auditedSize} < ${size} then ${root} else ${witnessAudit.auditedRoot} end`,
        auditedSize: sql`greatest(${witnessAudit.auditedSize}, ${size})`,
        updatedAt: sql`now()`,
      })
      .where(and(eq(witnessAudit.origin, origin), sql`${witnessAudit.snapshotSize} <= ${size}`));
  }

  async get(origin: string): Promise<LogState | undefined> {
    const rows = (await this.getLog.execute({ origin })) as (typeof witnessLogs.$inferSelect)[];
    const r = rows[0];
    return r ? { origin: r.origin, size: r.size, root: r.root, note: r.note, refused: r.refused } : undefined;
  }

  /**
   * Moves a log from exactly `from` (size and root, as read and verified by the caller) to
   * `to`, unless it is refused. Returns false, changing nothing, when another writer got there
   * first. When it returns true the new state is committed.
   */
  async advance(
    origin: string,
    from: { size: number; root: Uint8Array },
    to: { size: number; root: Uint8Array; note: string },
    opts: { audited?: boolean } = {},
  ): Promise<boolean> {
    const cas = casOf(origin, from);
    if (!opts.audited) {
      const rows = await this.database.db
        .update(witnessLogs)
        .set({ size: to.size, root: to.root, note: to.note, updatedAt: sql`now()` })
        .where(cas)
        .returning({ origin: witnessLogs.origin });
      return rows.length === 1;
    }
    return this.database.db.transaction((tx) => advanceAudited(tx, origin, cas, to));
  }

  /**
   * Makes several moves (each one `advance`'s compare-and-swap) durable with one commit: the
   * witness's group commit (witness/group-commit.ts). Moves run in the order given, so a later
   * move of the same log sees the earlier one (and loses its swap if it started from the same
   * state). Returns, for each move, whether its swap won; when it throws, nothing moved.
   */
  async advanceMany(moves: readonly StateMove[]): Promise<boolean[]> {
    const plain: number[] = [];
    const audited: number[] = [];
    for (const [i, m] of moves.entries()) (m.audited ? audited : plain).push(i);
    const rounds = roundsByOrigin(plain, moves);
    // The common case, moves of distinct unaudited logs: one statement is its own transaction,
    // one round trip and one commit, without BEGIN and COMMIT around it.
    if (audited.length === 0 && rounds.length <= 1) {
      const won =
        rounds.length === 0 ? new Set<number>() : await casMany(this.database.db, rounds[0]!, moves);
      return moves.map((_, i) => won.has(i));
    }
    return this.database.db.transaction(async (tx) => {
      const results = moves.map(() => false);
      for (const round of rounds) for (const i of await casMany(tx, round, moves)) results[i] = true;
      for (const i of audited) {
        const m = moves[i]!;
        results[i] = await advanceAudited(tx, m.origin, casOf(m.origin, m.from), m.to);
      }
      return results;
    });
  }

  /**
   * Stores evidence (once per contradiction) and refuses its log, in one transaction. Returns
   * true when the evidence was new. Committed when it returns.
   */
  async addEvidence(e: AnyEvidence, source: string): Promise<boolean> {
    const row = isAuditEvidence(e)
      ? {
          origin: e.origin,
          kind: e.kind,
          fingerprint: auditEvidenceFingerprint(e),
          noteA: e.note,
          noteB: null,
          detail: { violation: e.violation, entries: e.entries } as Record<string, unknown>,
          source,
        }
      : {
          origin: e.origin,
          kind: e.kind,
          fingerprint: evidenceFingerprint(e),
          noteA: e.notes[0],
          noteB: e.notes[1],
          proof: e.proof ?? null,
          provenRoot: e.provenRoot ?? null,
          source,
        };
    return this.database.db.transaction(async (tx) => {
      const inserted = await tx
        .insert(witnessEvidence)
        .values(row)
        .onConflictDoNothing()
        .returning({ id: witnessEvidence.id });
      await tx.update(witnessLogs).set({ refused: true }).where(eq(witnessLogs.origin, e.origin));
      return inserted.length === 1;
    });
  }

  async listEvidence(): Promise<StoredEvidence[]> {
    const rows = await this.database.db.select().from(witnessEvidence).orderBy(witnessEvidence.id);
    return rows.map((r): StoredEvidence => {
      const meta = { source: r.source, detectedAt: r.detectedAt.toISOString() };
      if (r.kind === "audit") {
        const d = r.detail as { violation: AuditViolation; entries: AuditEntryProof[] };
        return {
          origin: r.origin,
          kind: "audit",
          note: r.noteA,
          violation: d.violation,
          entries: d.entries,
          ...meta,
        };
      }
      return {
        origin: r.origin,
        kind: r.kind as Evidence["kind"],
        notes: [r.noteA, r.noteB ?? ""],
        ...(r.proof ? { proof: r.proof } : {}),
        ...(r.provenRoot ? { provenRoot: r.provenRoot } : {}),
        ...meta,
      };
    });
  }

  /** Whether a refused log is refused for equivocation, or only for breaking the rules. */
  async refusalKind(origin: string): Promise<"equivocation" | "violation"> {
    const rows = await this.database.db
      .select({ kind: witnessEvidence.kind })
      .from(witnessEvidence)
      .where(eq(witnessEvidence.origin, origin));
    return rows.length > 0 && rows.every((r) => r.kind === "audit") ? "violation" : "equivocation";
  }
}

type Tx = Parameters<Parameters<Drizzle["transaction"]>[0]>[0];

/** The compare-and-swap condition: the row is still exactly `from` and the log is not refused. */
function casOf(origin: string, from: { size: number; root: Uint8Array }): SQL {
  return and(
    eq(witnessLogs.origin, origin),
    eq(witnessLogs.size, from.size),
    eq(witnessLogs.root, from.root),
    eq(witnessLogs.refused, false),
  )!;
}

/**
 * An audited log's move: the caller audited [0, to.size). The audited size moves in the same
 * transaction, and the cosigned state only moves if the audit row covers it, so the database
 * itself never holds a cosigned size beyond the audited one.
 */
async function advanceAudited(
  tx: Tx,
  origin: string,
  cas: SQL,
  to: { size: number; root: Uint8Array; note: string },
): Promise<boolean> {
  await tx
    .update(witnessAudit)
    .set({
      auditedRoot: sql`case when ${witnessAudit.auditedSize} < ${to.size} then ${to.root} else ${witnessAudit.auditedRoot} end`,
      auditedSize: sql`greatest(${witnessAudit.auditedSize}, ${to.size})`,
      updatedAt: sql`now()`,
    })
    .where(eq(witnessAudit.origin, origin));
  const covered = tx
    .select({ one: sql`1` })
    .from(witnessAudit)
    .where(and(eq(witnessAudit.origin, origin), gte(witnessAudit.auditedSize, to.size)));
  const rows = await tx
    .update(witnessLogs)
    .set({ size: to.size, root: to.root, note: to.note, updatedAt: sql`now()` })
    .where(and(cas, sql`exists (${covered})`))
    .returning({ origin: witnessLogs.origin });
  return rows.length === 1;
}

/**
 * Splits move indices into rounds holding each origin at most once, in order: one UPDATE … FROM
 * (VALUES …) moves a row at most once, so a second move of a log goes in the next round, where
 * its swap sees the first.
 */
function roundsByOrigin(indices: readonly number[], moves: readonly StateMove[]): number[][] {
  const rounds: number[][] = [];
  const seen = new Map<string, number>();
  for (const i of indices) {
    const origin = moves[i]!.origin;
    const r = (seen.get(origin) ?? -1) + 1;
    seen.set(origin, r);
    if (!rounds[r]) rounds[r] = [];
    rounds[r]!.push(i);
  }
  return rounds;
}

/**
 * The compare-and-swaps of moves of distinct logs in one statement; returns the indices of the
 * moves whose swap won.
 */
async function casMany(
  db: Drizzle | Tx,
  indices: readonly number[],
  moves: readonly StateMove[],
): Promise<Set<number>> {
  // In origin order, the order in which PostgreSQL usually locks the rows: two witness processes
  // sharing the database then take their rows' locks in the same order instead of deadlocking.
  const sorted = [...indices].sort((a, b) => (moves[a]!.origin < moves[b]!.origin ? -1 : 1));
  // One fixed text whatever the number of moves (each column one text array, cast and decoded
  // server-side, as both drivers pass text arrays through unchanged), so that it is prepared
  // once per connection like the read in `get`.
  const column = <T>(f: (m: StateMove, i: number) => T) => sorted.map((i) => f(moves[i]!, i));
  const result = await db
    .update(witnessLogs)
    .set({
      size: sql`v.new_size::bigint`,
      root: sql`decode(v.new_root, 'hex')`,
      note: sql`v.note`,
      updatedAt: sql`now()`,
    })
    .from(
      sql`unnest(${sql.placeholder("origins")}::text[], ${sql.placeholder("oldSizes")}::text[],
                 ${sql.placeholder("oldRoots")}::text[], ${sql.placeholder("newSizes")}::text[],
                 ${sql.placeholder("newRoots")}::text[], ${sql.placeholder("notes")}::text[],
                 ${sql.placeholder("indices")}::text[])
          as v(origin, old_size, old_root, new_size, new_root, note, i)`,
    )
    .where(
      sql`${witnessLogs.origin} = v.origin and ${witnessLogs.size} = v.old_size::bigint
          and ${witnessLogs.root} = decode(v.old_root, 'hex') and not ${witnessLogs.refused}`,
    )
    .returning({ i: sql<string>`v.i` })
    .prepare("witness_cas_many")
    .execute({
      origins: column((m) => m.origin),
      oldSizes: column((m) => String(m.from.size)),
      oldRoots: column((m) => toHex(m.from.root)),
      newSizes: column((m) => String(m.to.size)),
      newRoots: column((m) => toHex(m.to.root)),
      notes: column((m) => m.to.note),
      indices: column((_, i) => String(i)),
    });
  return new Set((result as { i: string }[]).map((r) => Number(r.i)));
}
