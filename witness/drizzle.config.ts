// drizzle-kit configuration for the witness: `npx drizzle-kit generate --config
// witness/drizzle.config.ts` writes the SQL migrations that start-up applies.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./witness/schema.ts",
  out: "./migrations/witness",
});
