// The identity provider's bearer tokens (`trustlog scim token create|list|revoke`). A token is
// shown once; the bridge keeps its SHA-256 only, and checks a presented token against every
// active hash with a constant-time comparison (crypto.timingSafeEqual), so neither the lookup
// nor the comparison leaks how much of a guess was right. Revocation takes effect within
// CACHE_MS on every process sharing the database.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { eq, isNull, sql } from "drizzle-orm";
import { TrustlogError } from "../core/errors.js";
import type { Database } from "../node/db.js";
import { scimTokens } from "./schema.js";

const CACHE_MS = 1000;
const NAME = /^[A-Za-z0-9._@+-]{1,64}$/;

const hash = (token: string) => new Uint8Array(createHash("sha256").update(token, "utf8").digest());

export class ScimTokens {
  private cache: { at: number; hashes: Uint8Array[] } | undefined;

  constructor(private readonly database: Database) {}

  /** Creates a token and returns it (the only time it is visible). */
  async create(name: string): Promise<string> {
    if (!NAME.test(name))
      throw new TrustlogError("BAD_NAME", "a token name is 1-64 characters of A-Z a-z 0-9 . _ @ + -");
    const token = `tls_${randomBytes(32).toString("base64url")}`;
    const rows = await this.database.db
      .insert(scimTokens)
      .values({ name, hash: hash(token) })
      .onConflictDoNothing()
      .returning({ name: scimTokens.name });
    if (rows.length === 0)
      throw new TrustlogError("TOKEN_EXISTS", `a token named ${name} exists (names are never reused)`);
    this.cache = undefined;
    return token;
  }

  async list(): Promise<{ name: string; createdAt: Date; revokedAt: Date | null }[]> {
    return this.database.db
      .select({ name: scimTokens.name, createdAt: scimTokens.createdAt, revokedAt: scimTokens.revokedAt })
      .from(scimTokens)
      .orderBy(scimTokens.createdAt);
  }

  async revoke(name: string): Promise<void> {
    const rows = await this.database.db
      .update(scimTokens)
      .set({ revokedAt: sql`coalesce(revoked_at, now())` })
      .where(eq(scimTokens.name, name))
      .returning({ name: scimTokens.name });
    if (rows.length === 0) throw new TrustlogError("NOT_FOUND", `no token named ${name}`);
    this.cache = undefined;
  }

  /** Whether `token` is an active token. */
  async check(token: string | undefined): Promise<boolean> {
    if (!token || token.length > 512) return false;
    if (!this.cache || Date.now() - this.cache.at > CACHE_MS) {
      const rows = await this.database.db
        .select({ hash: scimTokens.hash })
        .from(scimTokens)
        .where(isNull(scimTokens.revokedAt));
      this.cache = { at: Date.now(), hashes: rows.map((r) => r.hash) };
    }
    const h = hash(token);
    let ok = false;
    for (const known of this.cache.hashes)
      if (known.length === h.length && timingSafeEqual(known, h)) ok = true;
    return ok;
  }
}
