// The witness's tables (drizzle pg-core). drizzle-kit turns this file into the SQL under
// migrations/witness, which the witness applies at start-up; edit here, then regenerate with
// `npx drizzle-kit generate --config witness/drizzle.config.ts`.
//
// Every bigint is in "number" mode: tree sizes stay below 2^53.

import { bigint, bigserial, boolean, customType, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** bytea as a plain Uint8Array whatever the driver (postgres-js gives Buffers, PGlite Uint8Arrays). */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType() {
    return "bytea";
  },
  fromDriver(value) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  },
});

/**
 * One row per witnessed log: the latest checkpoint this witness cosigned. The row only moves
 * forward (compare-and-swap on size and root); rows are never deleted, since forgetting a log
 * and learning it again from size 0 would let the witness cosign a split view.
 */
export const witnessLogs = pgTable("witness_logs", {
  origin: text("origin").primaryKey(),
  size: bigint("size", { mode: "number" }).notNull(),
  root: bytea("root").notNull(),
  /** The cosigned note: checkpoint body, the log signature lines it verified, its own cosignature. */
  note: text("note"),
  /** Set once evidence of equivocation is held: the witness never cosigns this log again. */
  refused: boolean("refused").notNull().default(false),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Pairs of log-signed checkpoints that cannot both be true (see witness/evidence.ts). */
export const witnessEvidence = pgTable("witness_evidence", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  origin: text("origin").notNull(),
  kind: text("kind").notNull(),
  /** SHA-256 over the two checkpoint bodies, so the same pair is stored once whoever reports it. */
  fingerprint: text("fingerprint").notNull().unique(),
  noteA: text("note_a").notNull(),
  /** The second checkpoint; null for kind "audit" (one checkpoint, see witness/audit-evidence.ts). */
  noteB: text("note_b"),
  /** For kind "inconsistent": the consistency proof and the old root it proves (base64). */
  proof: jsonb("proof").$type<string[]>(),
  provenRoot: text("proven_root"),
  /** For kind "audit": the violation and the offending entries with their inclusion proofs. */
  detail: jsonb("detail").$type<Record<string, unknown>>(),
  /** Where it came from: "add-checkpoint", "pull", "gossip <peer url>", "peer <peer url>". */
  source: text("source").notNull(),
  detectedAt: timestamp("detected_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * One row per audited log (a log configured with `audit`): how far this witness replayed it.
 * `audited_size`/`audited_root` only grow, and move in the same transaction as witness_logs
 * when a checkpoint is cosigned; witness_logs.size never passes audited_size (the cosigning
 * update checks it). The snapshot is the replay state at `snapshot_size` (a clean prefix that
 * ends with an index leaf, verified against a log-signed checkpoint), written every so many
 * entries or seconds; a restarted witness re-audits from it.
 */
export const witnessAudit = pgTable("witness_audit", {
  origin: text("origin").primaryKey(),
  auditedSize: bigint("audited_size", { mode: "number" }).notNull().default(0),
  auditedRoot: bytea("audited_root").notNull(),
  snapshotSize: bigint("snapshot_size", { mode: "number" }).notNull().default(0),
  /** witness/replay-snapshot.ts encoding (gzip); null before the first snapshot. */
  snapshot: bytea("snapshot"),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
