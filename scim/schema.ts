// The SCIM bridge's tables (drizzle pg-core). drizzle-kit turns this file into the SQL under
// migrations/scim, which the bridge applies at start-up; edit here, then regenerate with
// `npx drizzle-kit generate --config scim/drizzle.config.ts`.
//
// What the bridge keeps: the SCIM resources (profile data stays here, never in the log), the
// identity provider's bearer tokens (SHA-256 only), the outbox (log events, invitations and
// confirmations waiting to leave), and the trust state its verifier keeps about the log.

import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

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
 * One row per SCIM User ever created. A deleted user keeps its row (`deleted`), because its
 * log account id can never be used again (docs/events.md §5, rule 4).
 */
export const scimUsers = pgTable(
  "scim_users",
  {
    /** Creation order, for stable paging. */
    seq: bigserial("seq", { mode: "number" }).notNull(),
    id: text("id").primaryKey(),
    userName: text("user_name").notNull(),
    /** userName lower-cased: SCIM's userName is case-insensitive and unique among live users. */
    userNameKey: text("user_name_key").notNull(),
    /** The log's account id, fixed at creation (docs/scim.md, "Account ids"). */
    accountId: text("account_id").notNull(),
    externalId: text("external_id"),
    active: boolean("active").notNull(),
    /** The SCIM resource as stored (no password, no meta), returned with meta added. */
    resource: jsonb("resource").$type<Record<string, unknown>>().notNull(),
    version: integer("version").notNull().default(1),
    deleted: boolean("deleted").notNull().default(false),
    /** The account's status in the log as the bridge last wrote it: pending|invited|active|suspended|deleted. */
    logStatus: text("log_status").notNull().default("pending"),
    /** Set once the account's first key verified (verifyKey) and the platform was told. */
    confirmedAt: timestamp("confirmed_at", { withTimezone: true }),
    /** The keys verifyKey returned at confirmation, and the checkpoint it verified against. */
    confirmation: jsonb("confirmation").$type<Record<string, unknown>>(),
    /** Why the user is not confirmed yet (a verification refusal, a refused event), or null. */
    problem: jsonb("problem").$type<{ code: string; message: string; at: string }>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("scim_users_account_id").on(t.accountId),
    // userName is unique among live users (a deleted user's name may be provisioned again).
    uniqueIndex("scim_users_live_user_name").on(t.userNameKey).where(sql`deleted = false`),
    index("scim_users_seq").on(t.seq),
  ],
);

export const scimGroups = pgTable(
  "scim_groups",
  {
    seq: bigserial("seq", { mode: "number" }).notNull(),
    id: text("id").primaryKey(),
    displayName: text("display_name").notNull(),
    externalId: text("external_id"),
    /** The resource without members. */
    resource: jsonb("resource").$type<Record<string, unknown>>().notNull(),
    version: integer("version").notNull().default(1),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("scim_groups_seq").on(t.seq)],
);

export const scimGroupMembers = pgTable(
  "scim_group_members",
  {
    groupId: text("group_id").notNull(),
    userId: text("user_id").notNull(),
  },
  (t) => [
    uniqueIndex("scim_group_members_pk").on(t.groupId, t.userId),
    index("scim_group_members_user").on(t.userId),
  ],
);

/** The identity provider's bearer tokens: SHA-256 only, never deleted. */
export const scimTokens = pgTable("scim_tokens", {
  name: text("name").primaryKey(),
  hash: bytea("hash").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  revokedAt: timestamp("revoked_at", { withTimezone: true }),
});

/**
 * What must leave the bridge, written in the same transaction as the SCIM change that caused it:
 *   kind "event":   a log event (payload: op, account, reason, scimRequestHash, …); `envelope` is
 *                   the signed event once built, resubmitted unchanged until the log answers, so a
 *                   retry is a duplicate of the same leaf, never a second event;
 *   kind "invite":  an invitation (payload holds the secret until it is delivered, then not);
 *                   waits for its event row (`after`) to be logged;
 *   kind "confirm": the platform's confirmation webhook.
 * Rows of one account leave in id order.
 */
export const scimOutbox = pgTable(
  "scim_outbox",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    kind: text("kind").notNull(),
    accountId: text("account_id").notNull(),
    userId: text("user_id").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    envelope: jsonb("envelope").$type<Record<string, unknown>>(),
    /** The row that must be done first (an invitation waits for its account.invite). */
    after: bigint("after", { mode: "number" }),
    /** pending | done | failed (refused for good: see last_error). */
    status: text("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }).notNull().defaultNow(),
    lastError: jsonb("last_error").$type<{ code: string; message: string }>(),
    /** For events: where the log put it. */
    result: jsonb("result").$type<Record<string, unknown>>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    doneAt: timestamp("done_at", { withTimezone: true }),
  },
  (t) => [
    index("scim_outbox_pending").on(t.status, t.id),
    index("scim_outbox_account").on(t.accountId, t.id),
  ],
);

/** The verifier's trust state about the log (client/trust-store.ts), one row per log key. */
export const scimTrustState = pgTable("scim_trust_state", {
  log: text("log").primaryKey(),
  version: integer("version").notNull(),
  state: jsonb("state").$type<Record<string, unknown>>().notNull(),
});
