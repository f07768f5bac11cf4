// The bridge's verifier memory (client/trust-store.ts) in its own database, so that a restart
// keeps the checkpoint it trusted, the org genesis it pinned and the heads it saw: a log cannot
// roll the bridge back or fork it across restarts any more than a client.

import { and, eq } from "drizzle-orm";
import { emptyTrustState, parseTrustState, type TrustState, type TrustStore } from "../client/trust-store.js";
import type { Database } from "../node/db.js";
import { scimTrustState } from "./schema.js";

export class DatabaseTrustStore implements TrustStore {
  constructor(private readonly database: Database) {}

  async load(log: string): Promise<TrustState> {
    const [row] = await this.database.db.select().from(scimTrustState).where(eq(scimTrustState.log, log));
    if (!row) return emptyTrustState();
    return parseTrustState(JSON.stringify({ ...row.state, version: row.version }));
  }

  async compareAndSave(log: string, expectedVersion: number, next: TrustState): Promise<boolean> {
    const state = { ...next, version: expectedVersion + 1 } as unknown as Record<string, unknown>;
    if (expectedVersion === 0) {
      const rows = await this.database.db
        .insert(scimTrustState)
        .values({ log, version: 1, state })
        .onConflictDoNothing()
        .returning({ log: scimTrustState.log });
      return rows.length === 1;
    }
    const rows = await this.database.db
      .update(scimTrustState)
      .set({ version: expectedVersion + 1, state })
      .where(and(eq(scimTrustState.log, log), eq(scimTrustState.version, expectedVersion)))
      .returning({ log: scimTrustState.log });
    return rows.length === 1;
  }
}
