// drizzle-kit configuration for the SCIM bridge: `npx drizzle-kit generate --config
// scim/drizzle.config.ts` writes the SQL migrations that start-up applies.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./scim/schema.ts",
  out: "./migrations/scim",
});
