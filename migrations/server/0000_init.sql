CREATE TABLE "account_keys" (
	"org" text NOT NULL,
	"account" text NOT NULL,
	"key_id" text NOT NULL,
	"alg" text NOT NULL,
	"use" text NOT NULL,
	"pub" "bytea" NOT NULL,
	"status" text NOT NULL,
	"added_index" bigint NOT NULL,
	"revoked_index" bigint,
	"revoke_reason" text,
	CONSTRAINT "account_keys_org_account_key_id_pk" PRIMARY KEY("org","account","key_id")
);
--> statement-breakpoint
CREATE TABLE "accounts" (
	"org" text NOT NULL,
	"id" text NOT NULL,
	"status" text NOT NULL,
	"external_id" text,
	"invite_commitment" "bytea" NOT NULL,
	"ever_active" boolean NOT NULL,
	"head_seq" bigint NOT NULL,
	"head_leaf_hash" "bytea" NOT NULL,
	"head_index" bigint NOT NULL,
	CONSTRAINT "accounts_org_id_pk" PRIMARY KEY("org","id")
);
--> statement-breakpoint
CREATE TABLE "checkpoints" (
	"size" bigint PRIMARY KEY NOT NULL,
	"root" "bytea" NOT NULL,
	"note" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cosignatures" (
	"size" bigint NOT NULL,
	"witness" text NOT NULL,
	"line" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cosignatures_size_witness_pk" PRIMARY KEY("size","witness")
);
--> statement-breakpoint
CREATE TABLE "entries" (
	"idx" bigint PRIMARY KEY NOT NULL,
	"leaf_hash" "bytea" NOT NULL,
	"envelope" "bytea" NOT NULL,
	"org" text NOT NULL,
	"subject" text NOT NULL,
	"type" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "entries_leaf_hash_unique" UNIQUE("leaf_hash")
);
--> statement-breakpoint
CREATE TABLE "grants" (
	"org" text NOT NULL,
	"id" text NOT NULL,
	"delegate" "bytea" NOT NULL,
	"ops" text[] NOT NULL,
	"accounts" text[] NOT NULL,
	"not_before" text NOT NULL,
	"not_after" text NOT NULL,
	"note" text NOT NULL,
	"attestation" text,
	"issued_index" bigint NOT NULL,
	"status" text NOT NULL,
	"revoked_index" bigint,
	"revoke_reason" text,
	CONSTRAINT "grants_org_id_pk" PRIMARY KEY("org","id")
);
--> statement-breakpoint
CREATE TABLE "log_head" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"size" bigint NOT NULL,
	"root" "bytea" NOT NULL,
	CONSTRAINT "log_head_single_row" CHECK ("log_head"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "org_admins" (
	"org" text NOT NULL,
	"key" "bytea" NOT NULL,
	"position" integer NOT NULL,
	CONSTRAINT "org_admins_org_key_pk" PRIMARY KEY("org","key")
);
--> statement-breakpoint
CREATE TABLE "orgs" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"threshold" integer NOT NULL,
	"genesis" "bytea" NOT NULL,
	"head_seq" bigint NOT NULL,
	"head_leaf_hash" "bytea" NOT NULL,
	"head_index" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tiles" (
	"level" integer NOT NULL,
	"idx" bigint NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "tiles_level_idx_pk" PRIMARY KEY("level","idx")
);
--> statement-breakpoint
CREATE INDEX "entries_subject_idx" ON "entries" USING btree ("org","subject","seq");