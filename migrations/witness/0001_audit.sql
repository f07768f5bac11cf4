CREATE TABLE "witness_audit" (
	"origin" text PRIMARY KEY NOT NULL,
	"audited_size" bigint DEFAULT 0 NOT NULL,
	"audited_root" "bytea" NOT NULL,
	"snapshot_size" bigint DEFAULT 0 NOT NULL,
	"snapshot" "bytea",
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "witness_evidence" ALTER COLUMN "note_b" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "witness_evidence" ADD COLUMN "detail" jsonb;