// Write admission (docs/api.md, "Write admission"): bearer tokens for writers. The envelopes'
// signatures say who authorised an event; a token says who may spend the log's resources on
// appending it (with `writeAuth: "token"` every write needs one, with `orgCreation: "token"`
// creating an org does).
//
// A token is `tlw_` and 43 characters of base64url (32 random bytes). It is printed once, by
// `trustlog token add`; the table keeps only its SHA-256 (server/schema.ts write_tokens), so a
// copy of the database lets nobody write. A presented token is hashed and compared with every
// active hash in constant time (no early exit, no lookup keyed by attacker input).
//
// The active tokens are read from the database every `ttlMs` (default 5 s), and again on a
// token that is not among them once the list is a second old. They are shared by every
// replica, so without a restart a token added with the CLI works on every server within a
// second, and a revoked one stops working within 5 s. Wrong tokens cause at most one read a
// second.

import { randomBytes, timingSafeEqual } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import { utf8 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { sha256 } from "../../core/sha256.js";
import type { Database } from "../../node/db.js";
import { writeTokens } from "./schema.js";

export const TOKEN_PREFIX = "tlw_";
const TOKEN_RE = /^tlw_[A-Za-z0-9_-]{43}$/;
const NAME_RE = /^[A-Za-z0-9._@+-]{1,64}$/;

export interface TokenInfo {
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** The stored form of a token: SHA-256 of its UTF-8 text. */
export function tokenHash(token: string): Uint8Array {
  return sha256(utf8(token));
}

/** A fresh random token (32 bytes of entropy). */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** The token of an `Authorization: Bearer <token>` header; undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(header);
  return m ? m[1] : "";
}

/** Compares with every hash, in constant time each, whatever matches. */
function find(tokens: { name: string; hash: Uint8Array }[], presented: Uint8Array): string | undefined {
  let found: string | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(t.hash, presented) && found === undefined) found = t.name;
  }
  return found;
}

export class WriteTokens {
  private cached: { at: number; hashes: Promise<{ name: string; hash: Uint8Array }[]> } | undefined;

  constructor(
    private readonly database: Database,
    private readonly ttlMs = 5000,
  ) {}

  /**
   * Creates a token named `name` and returns it: the only time its text exists outside the
   * caller. Throws TOKEN_EXISTS when the name is taken (by an active or a revoked token).
   */
  async add(name: string): Promise<string> {
    if (!NAME_RE.test(name)) {
      throw new TrustlogError("BAD_REQUEST", "a token name is 1-64 characters [A-Za-z0-9._@+-]");
    }
    const token = newToken();
    const rows = await this.database.db
      .insert(writeTokens)
      .values({ name, hash: tokenHash(token) })
      .onConflictDoNothing()
      .returning({ name: writeTokens.name });
    if (rows.length === 0) throw new TrustlogError("TOKEN_EXISTS", `a token named ${name} exists already`);
    this.cached = undefined;
    return token;
  }

  /** Every token ever created, active and revoked, by name. */
  async list(): Promise<TokenInfo[]> {
    return this.database.db
      .select({ name: writeTokens.name, createdAt: writeTokens.createdAt, revokedAt: writeTokens.revokedAt })
      .from(writeTokens)
      .orderBy(asc(writeTokens.name));
  }

  /** Revokes the token named `name`; false when there is no such active token. */
  async revoke(name: string): Promise<boolean> {
    const rows = await this.database.db
      .update(writeTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(writeTokens.name, name), isNull(writeTokens.revokedAt)))
      .returning({ name: writeTokens.name, revokedAt: writeTokens.revokedAt });
    this.cached = undefined;
    return rows.length > 0;
  }

  /** The name of the active token `token` is, or undefined. */
  async check(token: string): Promise<string | undefined> {
    // Malformed text cannot match; refusing it early reveals nothing about any stored token.
    if (!TOKEN_RE.test(token)) return undefined;
    const presented = tokenHash(token);
    const found = find(await this.active(this.ttlMs), presented);
    // Perhaps a token added since the list was read.
    return found ?? find(await this.active(Math.min(this.ttlMs, 1000)), presented);
  }

  private active(maxAgeMs: number): Promise<{ name: string; hash: Uint8Array }[]> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at > maxAgeMs) {
      const hashes = this.database.db
        .select({ name: writeTokens.name, hash: writeTokens.hash })
        .from(writeTokens)
        .where(isNull(writeTokens.revokedAt))
        .execute();
      const entry = { at: now, hashes };
      this.cached = entry;
      // A failed read is not cached: the next request tries again.
      hashes.catch(() => {
        if (this.cached === entry) this.cached = undefined;
      });
    }
    return this.cached.hashes;
  }
}
