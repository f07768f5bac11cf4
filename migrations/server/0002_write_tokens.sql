CREATE TABLE "write_tokens" (
	"name" text PRIMARY KEY NOT NULL,
	"hash" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "write_tokens_hash_unique" UNIQUE("hash")
);
