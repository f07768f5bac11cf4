// What a SCIM request does to the bridge's tables, each in ONE transaction with the outbox rows
// it causes (scim/schema.ts), committed before the answer: a crash after the commit loses
// nothing (the outbox worker sends it later), a crash before it leaves nothing half done.
//
// Mapping to the log (docs/scim.md): create → account.invite (+ an invitation, + account.suspend
// when created inactive); active true→false → account.suspend; false→true → account.reactivate;
// DELETE → account.delete. Profile changes and groups stay here. Requests that change nothing
// in the log (a repeated PATCH active=false, a retried PUT) cause no event.

import { randomBytes, randomUUID } from "node:crypto";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { toBase64, toHex, utf8 } from "../core/bytes.js";
import { TrustlogError } from "../core/errors.js";
import { inviteKeyFromSecret } from "../core/invite.js";
import { canonicalize } from "../core/jcs.js";
import { grantCovers } from "../core/policy.js";
import { sha256 } from "../core/sha256.js";
import type { Database, Drizzle } from "../node/db.js";
import { badRequest, notFound, ScimError } from "./errors.js";
import { type Filter, matches, parseFilter, simpleEquality } from "./filter.js";
import { applyPatch, normalisePatch } from "./patch.js";
import {
  etag,
  GROUP_SCHEMA,
  type GroupInput,
  parseGroup,
  parseUser,
  USER_SCHEMA,
  type UserInput,
  withMeta,
} from "./resources.js";
import { scimGroupMembers, scimGroups, scimOutbox, scimUsers } from "./schema.js";

export type EventOp = "account.invite" | "account.suspend" | "account.reactivate" | "account.delete";

const ID_RULE = /^[A-Za-z0-9._@+-]{1,128}$/;

/**
 * The log account id for a userName (docs/scim.md, "Account ids"): the userName trimmed,
 * Unicode-normalised (NFC) and lower-cased when that fits the id rules (1–128 characters of
 * A-Z a-z 0-9 . _ @ + -); otherwise "u." and the first 32 hex digits of its SHA-256.
 */
export function accountIdFor(userName: string): string {
  const n = userName.trim().normalize("NFC").toLowerCase();
  if (ID_RULE.test(n)) return n;
  return `u.${toHex(sha256(utf8(n))).slice(0, 32)}`;
}

/**
 * SHA-256 over the canonical JSON of {method, path, body}: the event's scimRequestHash. The hash
 * is public (it is in the log), and a hash of a body holding a password would let anyone test
 * guesses of it offline: every `password` attribute, and the value of a PATCH operation whose
 * path names one, is taken out first.
 */
export function scimRequestHash(method: string, path: string, body: unknown): string {
  return toBase64(sha256(utf8(canonicalize({ method, path, body: withoutPasswords(body ?? null) }))));
}

function withoutPasswords(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPasswords);
  if (v === null || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const namesPassword = typeof o.path === "string" && /password/i.test(o.path);
  for (const [k, x] of Object.entries(o)) {
    if (k.toLowerCase() === "password") continue;
    if (namesPassword && k.toLowerCase() === "value") continue;
    out[k] = withoutPasswords(x);
  }
  return out;
}

export interface RequestInfo {
  method: string;
  path: string;
  hash: string;
  /** If-Match header, when sent. */
  ifMatch?: string | undefined;
}

export interface ServiceOptions {
  database: Database;
  /** Base URL of /scim/v2, for meta.location and $ref. */
  baseUrl: () => string;
  /** The grant's account scope (["*"] or prefixes). */
  accounts: () => readonly string[];
  /** Called after a commit that added outbox rows (wakes the worker). */
  onOutbox?: () => void;
}

type Tx = Parameters<Parameters<Drizzle["transaction"]>[0]>[0];
type UserRow = typeof scimUsers.$inferSelect;
type GroupRow = typeof scimGroups.$inferSelect;

function isUniqueViolation(e: unknown): boolean {
  for (let x = e, i = 0; x && typeof x === "object" && i < 5; i++) {
    if ((x as { code?: unknown }).code === "23505") return true;
    x = (x as { cause?: unknown }).cause;
  }
  return false;
}

function checkIfMatch(req: RequestInfo, version: number): void {
  if (req.ifMatch === undefined || req.ifMatch.trim() === "*") return;
  const tags = req.ifMatch.split(",").map((t) => t.trim());
  if (!tags.includes(etag(version)) && !tags.includes(`"${version}"`))
    throw new ScimError(
      412,
      undefined,
      `the resource changed: its version is now ${etag(version)}`,
      "SCIM_PRECONDITION",
    );
}

export class ScimService {
  constructor(private readonly opts: ServiceOptions) {}

  private get db(): Drizzle {
    return this.opts.database.db;
  }

  private base(): string {
    return this.opts.baseUrl();
  }

  private async outbox(
    tx: Tx,
    user: { id: string; accountId: string },
    kind: "event" | "invite",
    payload: Record<string, unknown>,
    after?: number,
  ): Promise<number> {
    const [row] = await tx
      .insert(scimOutbox)
      .values({ kind, accountId: user.accountId, userId: user.id, payload, ...(after ? { after } : {}) })
      .returning({ id: scimOutbox.id });
    return row!.id;
  }

  private event(tx: Tx, user: UserRow, op: EventOp, req: RequestInfo, reason: string): Promise<number> {
    return this.outbox(tx, user, "event", { op, reason, scimRequestHash: req.hash });
  }

  // ---- Users ----

  async userResource(row: UserRow, tx: Drizzle | Tx = this.db): Promise<Record<string, unknown>> {
    const groups = await tx
      .select({ id: scimGroups.id, displayName: scimGroups.displayName })
      .from(scimGroupMembers)
      .innerJoin(scimGroups, eq(scimGroups.id, scimGroupMembers.groupId))
      .where(eq(scimGroupMembers.userId, row.id));
    return this.showUser(row, groups);
  }

  private showUser(row: UserRow, groups: { id: string; displayName: string }[]): Record<string, unknown> {
    const resource = { ...row.resource };
    if (groups.length > 0)
      resource.groups = groups.map((g) => ({
        value: g.id,
        display: g.displayName,
        $ref: `${this.base()}/Groups/${g.id}`,
        type: "direct",
      }));
    return withMeta([USER_SCHEMA], row.id, resource, {
      resourceType: "User",
      created: row.createdAt,
      lastModified: row.updatedAt,
      version: row.version,
      location: `${this.base()}/Users/${row.id}`,
    });
  }

  async getUserRow(id: string): Promise<UserRow> {
    const [row] = await this.db
      .select()
      .from(scimUsers)
      .where(and(eq(scimUsers.id, id), eq(scimUsers.deleted, false)));
    if (!row) throw notFound(`User ${id} not found`);
    return row;
  }

  async createUser(
    body: unknown,
    req: RequestInfo,
  ): Promise<{ resource: Record<string, unknown>; version: number }> {
    const input = parseUser(body);
    const key = input.userName.toLowerCase();
    const base = accountIdFor(input.userName);
    if (!grantCovers(this.opts.accounts(), base))
      throw new ScimError(
        403,
        undefined,
        `account ${base} is outside the bridge's grant scope`,
        "OUT_OF_SCOPE",
      );
    try {
      const out = await this.db.transaction(async (tx) => {
        const [live] = await tx
          .select({ id: scimUsers.id })
          .from(scimUsers)
          .where(and(eq(scimUsers.userNameKey, key), eq(scimUsers.deleted, false)));
        if (live) throw new ScimError(409, "uniqueness", `userName ${input.userName} is already taken`);
        const accountId = await this.freeAccountId(tx, base);
        const id = randomUUID();
        const [row] = await tx
          .insert(scimUsers)
          .values({
            id,
            userName: input.userName,
            userNameKey: key,
            accountId,
            externalId: input.externalId ?? null,
            active: input.active,
            resource: input.resource,
          })
          .returning();
        await this.enqueueInvite(tx, row!, input, req);
        if (!input.active)
          await this.event(tx, row!, "account.suspend", req, "SCIM: created with active=false");
        return row!;
      });
      this.opts.onOutbox?.();
      return { resource: await this.userResource(out), version: out.version };
    } catch (e) {
      if (isUniqueViolation(e))
        throw new ScimError(409, "uniqueness", `userName ${input.userName} is already taken`);
      throw e;
    }
  }

  /** The base id, or base+N when an earlier (deleted) user holds it: log account ids are never reused. */
  private async freeAccountId(tx: Tx, base: string): Promise<string> {
    for (let n = 1; n < 1000; n++) {
      const suffix = n === 1 ? "" : `+${n}`;
      const candidate = base.slice(0, 128 - suffix.length) + suffix;
      const [taken] = await tx
        .select({ id: scimUsers.id })
        .from(scimUsers)
        .where(eq(scimUsers.accountId, candidate));
      if (!taken) return candidate;
    }
    throw new ScimError(409, "uniqueness", `no free account id for ${base}`);
  }

  private async enqueueInvite(tx: Tx, row: UserRow, input: UserInput, req: RequestInfo): Promise<void> {
    const secret = new Uint8Array(randomBytes(32));
    const inviteKey = toBase64(inviteKeyFromSecret(secret).publicKey);
    const eventId = await this.outbox(tx, row, "event", {
      op: "account.invite",
      externalId: row.id,
      inviteKey,
      scimRequestHash: req.hash,
    });
    const emails = (input.resource.emails as { value?: string; primary?: boolean }[] | undefined) ?? [];
    const email =
      emails.find((e) => e.primary)?.value ??
      emails[0]?.value ??
      (input.userName.includes("@") ? input.userName : undefined);
    await this.outbox(
      tx,
      row,
      "invite",
      {
        secret: toBase64(secret),
        inviteKey,
        userName: input.userName,
        ...(email ? { email } : {}),
        ...(typeof input.resource.displayName === "string"
          ? { displayName: input.resource.displayName }
          : {}),
      },
      eventId,
    );
  }

  async replaceUser(
    id: string,
    body: unknown,
    req: RequestInfo,
  ): Promise<{ resource: Record<string, unknown>; version: number }> {
    const input = parseUser(body);
    return this.changeUser(id, req, () => input);
  }

  async patchUser(
    id: string,
    body: unknown,
    req: RequestInfo,
  ): Promise<{ resource: Record<string, unknown>; version: number }> {
    const ops = normalisePatch(body);
    return this.changeUser(id, req, (row) => {
      const patched = applyPatch({ ...row.resource }, ops);
      for (const k of ["id", "meta", "schemas", "groups"]) delete (patched as Record<string, unknown>)[k];
      return parseUser(patched);
    });
  }

  private async changeUser(
    id: string,
    req: RequestInfo,
    next: (row: UserRow) => UserInput,
  ): Promise<{ resource: Record<string, unknown>; version: number }> {
    try {
      const out = await this.db.transaction(async (tx) => {
        const [row] = await tx
          .select()
          .from(scimUsers)
          .where(and(eq(scimUsers.id, id), eq(scimUsers.deleted, false)))
          .for("update");
        if (!row) throw notFound(`User ${id} not found`);
        checkIfMatch(req, row.version);
        const input = next(row);
        const key = input.userName.toLowerCase();
        if (key !== row.userNameKey) {
          const [other] = await tx
            .select({ id: scimUsers.id })
            .from(scimUsers)
            .where(and(eq(scimUsers.userNameKey, key), eq(scimUsers.deleted, false)));
          if (other) throw new ScimError(409, "uniqueness", `userName ${input.userName} is already taken`);
        }
        const same =
          canonicalize(input.resource) === canonicalize(row.resource) &&
          input.active === row.active &&
          (input.externalId ?? null) === row.externalId;
        if (same) return row; // nothing changed: no new version, no event
        const [updated] = await tx
          .update(scimUsers)
          .set({
            userName: input.userName,
            userNameKey: key,
            externalId: input.externalId ?? null,
            active: input.active,
            resource: input.resource,
            version: row.version + 1,
            updatedAt: sql`now()`,
          })
          .where(eq(scimUsers.id, id))
          .returning();
        if (row.active && !input.active)
          await this.event(tx, row, "account.suspend", req, "SCIM: active set to false");
        else if (!row.active && input.active)
          await this.event(tx, row, "account.reactivate", req, "SCIM: active set to true");
        return updated!;
      });
      this.opts.onOutbox?.();
      return { resource: await this.userResource(out), version: out.version };
    } catch (e) {
      if (isUniqueViolation(e)) throw new ScimError(409, "uniqueness", "userName is already taken");
      throw e;
    }
  }

  async deleteUser(id: string, req: RequestInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row] = await tx
        .select()
        .from(scimUsers)
        .where(and(eq(scimUsers.id, id), eq(scimUsers.deleted, false)))
        .for("update");
      if (!row) throw notFound(`User ${id} not found`);
      checkIfMatch(req, row.version);
      await tx
        .update(scimUsers)
        .set({ deleted: true, version: row.version + 1, updatedAt: sql`now()` })
        .where(eq(scimUsers.id, id));
      await tx.delete(scimGroupMembers).where(eq(scimGroupMembers.userId, id));
      await this.event(tx, row, "account.delete", req, "SCIM: DELETE");
    });
    this.opts.onOutbox?.();
  }

  async listUsers(filterText: string | undefined, startIndex: number, count: number) {
    const filter = filterText ? parseFilter(filterText) : undefined;
    const fast = filter ? simpleEquality(filter, ["username", "externalid", "id"]) : undefined;
    const conds = [eq(scimUsers.deleted, false)];
    if (fast?.attr === "username") conds.push(eq(scimUsers.userNameKey, fast.value.toLowerCase()));
    else if (fast?.attr === "externalid") conds.push(eq(scimUsers.externalId, fast.value));
    else if (fast?.attr === "id") conds.push(eq(scimUsers.id, fast.value));
    const rows = await this.db
      .select()
      .from(scimUsers)
      .where(and(...conds))
      .orderBy(asc(scimUsers.seq));
    const shown = await this.withGroups(rows);
    return page(filter && !fast ? shown.filter((r) => matches(r, filter)) : shown, startIndex, count);
  }

  private async withGroups(rows: UserRow[]): Promise<Record<string, unknown>[]> {
    const ids = rows.map((r) => r.id);
    const memberships =
      ids.length === 0
        ? []
        : await this.db
            .select({
              userId: scimGroupMembers.userId,
              id: scimGroups.id,
              displayName: scimGroups.displayName,
            })
            .from(scimGroupMembers)
            .innerJoin(scimGroups, eq(scimGroups.id, scimGroupMembers.groupId))
            .where(inArray(scimGroupMembers.userId, ids));
    const by = new Map<string, { id: string; displayName: string }[]>();
    for (const m of memberships) by.set(m.userId, [...(by.get(m.userId) ?? []), m]);
    return rows.map((r) => this.showUser(r, by.get(r.id) ?? []));
  }

  // ---- Groups ----

  private async groupResource(row: GroupRow, tx: Drizzle | Tx = this.db): Promise<Record<string, unknown>> {
    const members = await tx
      .select({ id: scimUsers.id, userName: scimUsers.userName, resource: scimUsers.resource })
      .from(scimGroupMembers)
      .innerJoin(scimUsers, eq(scimUsers.id, scimGroupMembers.userId))
      .where(eq(scimGroupMembers.groupId, row.id))
      .orderBy(asc(scimUsers.seq));
    return this.showGroup(row, members);
  }

  private showGroup(
    row: GroupRow,
    members: { id: string; userName: string; resource: Record<string, unknown> }[],
  ): Record<string, unknown> {
    return withMeta(
      [GROUP_SCHEMA],
      row.id,
      {
        ...row.resource,
        members: members.map((m) => ({
          value: m.id,
          display: typeof m.resource.displayName === "string" ? m.resource.displayName : m.userName,
          $ref: `${this.base()}/Users/${m.id}`,
          type: "User",
        })),
      },
      {
        resourceType: "Group",
        created: row.createdAt,
        lastModified: row.updatedAt,
        version: row.version,
        location: `${this.base()}/Groups/${row.id}`,
      },
    );
  }

  async getGroup(id: string): Promise<{ resource: Record<string, unknown>; version: number }> {
    const [row] = await this.db.select().from(scimGroups).where(eq(scimGroups.id, id));
    if (!row) throw notFound(`Group ${id} not found`);
    return { resource: await this.groupResource(row), version: row.version };
  }

  private async setMembers(tx: Tx, groupId: string, members: string[]): Promise<void> {
    if (members.length > 0) {
      const found = await tx
        .select({ id: scimUsers.id })
        .from(scimUsers)
        .where(and(inArray(scimUsers.id, members), eq(scimUsers.deleted, false)));
      const known = new Set(found.map((f) => f.id));
      const missing = members.filter((m) => !known.has(m));
      if (missing.length > 0)
        throw badRequest("invalidValue", `no such User: ${missing.slice(0, 5).join(", ")}`);
    }
    await tx.delete(scimGroupMembers).where(eq(scimGroupMembers.groupId, groupId));
    if (members.length > 0)
      await tx.insert(scimGroupMembers).values(members.map((userId) => ({ groupId, userId })));
  }

  async createGroup(body: unknown): Promise<{ resource: Record<string, unknown>; version: number }> {
    const input = parseGroup(body);
    const row = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(scimGroups)
        .values({
          id: randomUUID(),
          displayName: input.displayName,
          externalId: input.externalId ?? null,
          resource: input.resource,
        })
        .returning();
      await this.setMembers(tx, row!.id, input.members);
      return row!;
    });
    return { resource: await this.groupResource(row), version: row.version };
  }

  async replaceGroup(id: string, body: unknown, req: RequestInfo) {
    const input = parseGroup(body);
    return this.changeGroup(id, req, () => input);
  }

  async patchGroup(id: string, body: unknown, req: RequestInfo) {
    const ops = normalisePatch(body);
    return this.changeGroup(id, req, (row, members) => {
      const patched = applyPatch(
        { ...row.resource, members: members.map((value) => ({ value })) } as Record<string, unknown>,
        ops,
      );
      for (const k of ["id", "meta", "schemas"]) delete patched[k];
      return parseGroup(patched);
    });
  }

  private async changeGroup(
    id: string,
    req: RequestInfo,
    next: (row: GroupRow, members: string[]) => GroupInput,
  ) {
    const row = await this.db.transaction(async (tx) => {
      const [row] = await tx.select().from(scimGroups).where(eq(scimGroups.id, id)).for("update");
      if (!row) throw notFound(`Group ${id} not found`);
      checkIfMatch(req, row.version);
      const current = (
        await tx
          .select({ userId: scimGroupMembers.userId })
          .from(scimGroupMembers)
          .innerJoin(scimUsers, eq(scimUsers.id, scimGroupMembers.userId))
          .where(eq(scimGroupMembers.groupId, id))
          .orderBy(asc(scimUsers.seq))
      ).map((m) => m.userId);
      const input = next(row, current);
      const sameMembers = canonicalize([...current].sort()) === canonicalize([...input.members].sort());
      if (sameMembers && canonicalize(input.resource) === canonicalize(row.resource)) return row;
      const [updated] = await tx
        .update(scimGroups)
        .set({
          displayName: input.displayName,
          externalId: input.externalId ?? null,
          resource: input.resource,
          version: row.version + 1,
          updatedAt: sql`now()`,
        })
        .where(eq(scimGroups.id, id))
        .returning();
      if (!sameMembers) await this.setMembers(tx, id, input.members);
      return updated!;
    });
    return { resource: await this.groupResource(row), version: row.version };
  }

  async deleteGroup(id: string, req: RequestInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row] = await tx.select().from(scimGroups).where(eq(scimGroups.id, id)).for("update");
      if (!row) throw notFound(`Group ${id} not found`);
      checkIfMatch(req, row.version);
      await tx.delete(scimGroupMembers).where(eq(scimGroupMembers.groupId, id));
      await tx.delete(scimGroups).where(eq(scimGroups.id, id));
    });
  }

  async listGroups(filterText: string | undefined, startIndex: number, count: number, withMembers: boolean) {
    const filter = filterText ? parseFilter(filterText) : undefined;
    const fast = filter ? simpleEquality(filter, ["displayname", "externalid", "id"]) : undefined;
    let rows = await this.db.select().from(scimGroups).orderBy(asc(scimGroups.seq));
    if (fast?.attr === "displayname")
      rows = rows.filter((r) => r.displayName.toLowerCase() === fast.value.toLowerCase());
    else if (fast?.attr === "externalid") rows = rows.filter((r) => r.externalId === fast.value);
    else if (fast?.attr === "id") rows = rows.filter((r) => r.id === fast.value);
    // Members are shown only when asked for (or needed by the filter): groups can be large.
    const needMembers = withMembers || (filter !== undefined && !fast);
    const shown: Record<string, unknown>[] = [];
    for (const r of rows) {
      if (needMembers) shown.push(await this.groupResource(r));
      else {
        const g = this.showGroup(r, []);
        delete g.members;
        shown.push(g);
      }
    }
    return page(
      filter && !fast ? shown.filter((r) => matches(r, filter as Filter)) : shown,
      startIndex,
      count,
    );
  }
}

function page<T>(all: T[], startIndex: number, count: number): { total: number; items: T[] } {
  return { total: all.length, items: all.slice(startIndex - 1, startIndex - 1 + count) };
}

export { TrustlogError };
