ALTER TABLE "accounts" RENAME COLUMN "invite_commitment" TO "invite_key";
