-- The index of chain heads now also commits to each org's authority sub-chain and to each
-- grant's (core/subchain.ts). A log written before cannot be upgraded in place: its index
-- leaves were computed without them, so they would no longer verify. Refuse it clearly.
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM "orgs") THEN
    RAISE EXCEPTION 'trustlog migration 0003: this database holds a log written by an earlier format (its index leaves lack the sub-chains); start a new log';
  END IF;
END $$;--> statement-breakpoint
ALTER TABLE "grants" ADD COLUMN "chain_count" integer NOT NULL;--> statement-breakpoint
ALTER TABLE "grants" ADD COLUMN "chain_index" bigint NOT NULL;--> statement-breakpoint
ALTER TABLE "grants" ADD COLUMN "chain_digest" "bytea" NOT NULL;--> statement-breakpoint
ALTER TABLE "orgs" ADD COLUMN "authority_count" integer NOT NULL;--> statement-breakpoint
ALTER TABLE "orgs" ADD COLUMN "authority_index" bigint NOT NULL;--> statement-breakpoint
ALTER TABLE "orgs" ADD COLUMN "authority_digest" "bytea" NOT NULL;