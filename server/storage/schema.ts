// The log server's tables (drizzle pg-core). drizzle-kit turns this file into the SQL under
// migrations/server, which the server applies at start-up; edit here, then regenerate.
//
// Two groups:
//   - the log itself: entries, hash tiles, signed checkpoints (+ witness cosignatures), and the
//     single-row head the sequencer compare-and-swaps;
//   - derived state (orgs, admins, grants, accounts, account keys): what core/policy.ts needs to
//     judge the next event, always written in the same transaction as the entries it derives
//     from, so it is exactly the replay of the log up to log_head.size.
// Every bigint is in "number" mode: indices and sizes stay below 2^53.

import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
} from "drizzle-orm/pg-core";

/** bytea as a plain Uint8Array whatever the driver (postgres-js gives Buffers, PGlite Uint8Arrays). */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType() {
    return "bytea";
  },
  fromDriver(value) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  },
});

const num = (name: string) => bigint(name, { mode: "number" });

/** One row per leaf. `envelope` is the canonical leaf bytes (what the leaf hash is over). */
export const entries = pgTable(
  "entries",
  {
    idx: num("idx").primaryKey(),
    leafHash: bytea("leaf_hash").notNull().unique(),
    envelope: bytea("envelope").notNull(),
    org: text("org").notNull(),
    subject: text("subject").notNull(),
    type: text("type").notNull(),
    seq: num("seq").notNull(),
  },
  (t) => [index("entries_subject_idx").on(t.org, t.subject, t.seq)],
);

/**
 * Hash tiles (C2SP tlog-tiles, height 8): the current content of tile (level, idx), growing from
 * partial to full. A partial tile of width W at an earlier tree size is the first 32*W bytes.
 */
export const tiles = pgTable(
  "tiles",
  {
    level: integer("level").notNull(),
    idx: num("idx").notNull(),
    data: bytea("data").notNull(),
  },
  (t) => [primaryKey({ columns: [t.level, t.idx] })],
);

/** Every signed checkpoint the log published; the largest size is the latest. */
export const checkpoints = pgTable("checkpoints", {
  size: num("size").primaryKey(),
  root: bytea("root").notNull(),
  note: text("note").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/** Witness cosignature lines collected for a checkpoint (one per witness key name). */
export const cosignatures = pgTable(
  "cosignatures",
  {
    size: num("size").notNull(),
    witness: text("witness").notNull(),
    line: text("line").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.size, t.witness] })],
);

/**
 * The single row the sequencer compare-and-swaps (`UPDATE … WHERE size = old`): the fence that
 * keeps two processes that both believe they lead from forking the log.
 */
export const logHead = pgTable(
  "log_head",
  {
    id: smallint("id").primaryKey().default(1),
    size: num("size").notNull(),
    root: bytea("root").notNull(),
  },
  (t) => [check("log_head_single_row", sql`${t.id} = 1`)],
);

// Derived state, mirroring core/policy.ts's OrgState and AccountState (converters in
// server/state-cache.ts). Keys and hashes are stored as bytes, base64 in core.

export const orgs = pgTable("orgs", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  threshold: integer("threshold").notNull(),
  /** Leaf hash of the org.create event: what clients pin. */
  genesis: bytea("genesis").notNull(),
  headSeq: num("head_seq").notNull(),
  headLeafHash: bytea("head_leaf_hash").notNull(),
  headIndex: num("head_index").notNull(),
  /** The authority sub-chain (core/subchain.ts): its length, last index and running digest. */
  authorityCount: integer("authority_count").notNull(),
  authorityIndex: num("authority_index").notNull(),
  authorityDigest: bytea("authority_digest").notNull(),
});

/** The org's current admins; `position` keeps the order core's OrgState.admins has. */
export const orgAdmins = pgTable(
  "org_admins",
  {
    org: text("org").notNull(),
    key: bytea("key").notNull(),
    position: integer("position").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.key] })],
);

/** Every grant ever issued (ids are never reused); status is "active" or "revoked". */
export const grants = pgTable(
  "grants",
  {
    org: text("org").notNull(),
    id: text("id").notNull(),
    delegate: bytea("delegate").notNull(),
    ops: text("ops").array().notNull(),
    accounts: text("accounts").array().notNull(),
    notBefore: text("not_before").notNull(),
    notAfter: text("not_after").notNull(),
    note: text("note").notNull(),
    attestation: text("attestation"),
    issuedIndex: num("issued_index").notNull(),
    status: text("status").notNull(),
    revokedIndex: num("revoked_index"),
    revokeReason: text("revoke_reason"),
    /** The grant's sub-chain (core/subchain.ts): 1 or 2 events, the last index, the digest. */
    chainCount: integer("chain_count").notNull(),
    chainIndex: num("chain_index").notNull(),
    chainDigest: bytea("chain_digest").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.id] })],
);

export const accounts = pgTable(
  "accounts",
  {
    org: text("org").notNull(),
    id: text("id").notNull(),
    /** invited, active, suspended or deleted. */
    status: text("status").notNull(),
    externalId: text("external_id"),
    inviteKey: bytea("invite_key").notNull(),
    everActive: boolean("ever_active").notNull(),
    headSeq: num("head_seq").notNull(),
    headLeafHash: bytea("head_leaf_hash").notNull(),
    headIndex: num("head_index").notNull(),
  },
  (t) => [primaryKey({ columns: [t.org, t.id] })],
);

/** Every key an account ever had (ids are never reused); status is "active" or "revoked". */
export const accountKeys = pgTable(
  "account_keys",
  {
    org: text("org").notNull(),
    account: text("account").notNull(),
    keyId: text("key_id").notNull(),
    alg: text("alg").notNull(),
    use: text("use").notNull(),
    pub: bytea("pub").notNull(),
    status: text("status").notNull(),
    addedIndex: num("added_index").notNull(),
    revokedIndex: num("revoked_index"),
    revokeReason: text("revoke_reason"),
  },
  (t) => [primaryKey({ columns: [t.org, t.account, t.keyId] })],
);

/**
 * Bearer tokens of writers (server/tokens.ts, `trustlog token add|list|revoke`). Only the
 * SHA-256 of a token is stored: the token itself is printed once, when it is created. A token
 * is never deleted, only revoked, so the table says who could write when.
 */
export const writeTokens = pgTable("write_tokens", {
  name: text("name").primaryKey(),
  hash: bytea("hash").notNull().unique(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  revokedAt: timestamp("revoked_at", { withTimezone: true }),
});
