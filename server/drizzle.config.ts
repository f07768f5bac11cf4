// drizzle-kit configuration for the log server: `npx drizzle-kit generate --config
// server/drizzle.config.ts` writes the SQL migrations that start-up applies.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./server/storage/schema.ts",
  out: "./migrations/server",
});
