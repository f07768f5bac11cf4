// The witness's durable state. Every method that writes commits before it returns (PostgreSQL's
// default synchronous_commit; PGlite is for single-process trials, see node/db.ts), so a
// cosignature handed out after `advance` returned true survives any crash.
//
// The one rule the store enforces: a log's row only moves by compare-and-swap from the exact
// (size, root) the caller verified against, and never once the log is refused. Several witness
// processes may share one database; the conditional UPDATE is what keeps them consistent.

import { and, eq, sql } from "drizzle-orm";
import { EMPTY_ROOT } from "../core/merkle.js";
import type { Database } from "../node/db.js";
import { type Evidence, evidenceFingerprint } from "./evidence.js";
import { witnessEvidence, witnessLogs } from "./schema.js";

export interface LogState {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The latest cosigned note (log signatures + this witness's cosignature); null before any. */
  note: string | null;
  refused: boolean;
}

export interface StoredEvidence extends Evidence {
  source: string;
  detectedAt: string;
}

export class WitnessStore {
  constructor(private readonly database: Database) {}

  /** Adds configured logs at size 0, leaving existing rows (and their history) untouched. */
  async ensureLogs(origins: readonly string[]): Promise<void> {
    if (origins.length === 0) return;
    await this.database.db
      .insert(witnessLogs)
      .values(origins.map((origin) => ({ origin, size: 0, root: EMPTY_ROOT })))
      .onConflictDoNothing();
  }

  async get(origin: string): Promise<LogState | undefined> {
    const rows = await this.database.db.select().from(witnessLogs).where(eq(witnessLogs.origin, origin));
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
  ): Promise<boolean> {
    const rows = await this.database.db
      .update(witnessLogs)
      .set({ size: to.size, root: to.root, note: to.note, updatedAt: sql`now()` })
      .where(
        and(
          eq(witnessLogs.origin, origin),
          eq(witnessLogs.size, from.size),
          eq(witnessLogs.root, from.root),
          eq(witnessLogs.refused, false),
        ),
      )
      .returning({ origin: witnessLogs.origin });
    return rows.length === 1;
  }

  /**
   * Stores evidence (once per contradiction) and refuses its log, in one transaction. Returns
   * true when the evidence was new. Committed when it returns.
   */
  async addEvidence(e: Evidence, source: string): Promise<boolean> {
    return this.database.db.transaction(async (tx) => {
      const inserted = await tx
        .insert(witnessEvidence)
        .values({
          origin: e.origin,
          kind: e.kind,
          fingerprint: evidenceFingerprint(e),
          noteA: e.notes[0],
          noteB: e.notes[1],
          proof: e.proof ?? null,
          provenRoot: e.provenRoot ?? null,
          source,
        })
        .onConflictDoNothing()
        .returning({ id: witnessEvidence.id });
      await tx.update(witnessLogs).set({ refused: true }).where(eq(witnessLogs.origin, e.origin));
      return inserted.length === 1;
    });
  }

  async listEvidence(): Promise<StoredEvidence[]> {
    const rows = await this.database.db.select().from(witnessEvidence).orderBy(witnessEvidence.id);
    return rows.map((r) => ({
      origin: r.origin,
      kind: r.kind as Evidence["kind"],
      notes: [r.noteA, r.noteB],
      ...(r.proof ? { proof: r.proof } : {}),
      ...(r.provenRoot ? { provenRoot: r.provenRoot } : {}),
      source: r.source,
      detectedAt: r.detectedAt.toISOString(),
    }));
  }
}
