// Derived state in the database <-> core/policy.ts's OrgState, Grant and AccountState, and the
// sequencer's in-memory cache of it. Every record is loaded and written on its own: an org event
// reads and writes the org row (and its few admins), a grant event one grant row, whatever the
// number of grants the org holds, so the cost of a batch is linear in what it changes.
//
// The cache is only correct while this process is the log's single writer: the sequencer
// clears it whenever a transaction fails or leadership changes hands, and reloads from the
// database, which always holds the replay of the log up to log_head (same transaction).

import { and, eq, inArray, type SQLWrapper, sql } from "drizzle-orm";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { type EventType, isOrgEventType, type KeyEvent } from "../../core/event.js";
import type {
  AccountKey,
  AccountState,
  AccountStatus,
  Grant,
  OrgState,
  StateView,
} from "../../core/state.js";
import type { Drizzle } from "../../node/db.js";
import { accountKey, grantKey } from "../batch.js";
import { prepared } from "./prepared.js";
import { accountKeys, accounts, grants, orgAdmins, orgs } from "./schema.js";

export { accountKey, grantKey };

/** A drizzle handle or a transaction on one. */
type Tx = Pick<Drizzle, "select" | "insert" | "delete" | "execute">;

/** Lower-case hex, for passing bytes inside text arrays (decoded by PostgreSQL's decode()). */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export async function loadOrgs(db: Tx, ids: readonly string[]): Promise<Map<string, OrgState>> {
  const out = new Map<string, OrgState>();
  const unique = [...new Set(ids)];
  if (unique.length === 0) return out;
  // One array parameter each (= any keeps the primary-key index in use), so the texts are fixed
  // and prepared (prepared.ts).
  const idList = sql.placeholder("ids");
  const [rows, adminRows, counts] = await Promise.all([
    prepared(db, "orgs", () =>
      db.select().from(orgs).where(sql`${orgs.id} = any(${idList}::text[])`).prepare("orgs"),
    ).execute({ ids: unique }),
    prepared(db, "org_admins", () =>
      db
        .select()
        .from(orgAdmins)
        .where(sql`${orgAdmins.org} = any(${idList}::text[])`)
        .orderBy(orgAdmins.org, orgAdmins.position)
        .prepare("org_admins"),
    ).execute({ ids: unique }),
    prepared(db, "org_active_grants", () =>
      db
        .select({ org: grants.org, n: sql<string>`count(*)` })
        .from(grants)
        .where(and(sql`${grants.org} = any(${idList}::text[])`, eq(grants.status, "active")))
        .groupBy(grants.org)
        .prepare("org_active_grants"),
    ).execute({ ids: unique }),
  ]);
  const active = new Map(counts.map((c) => [c.org, Number(c.n)]));
  for (const r of rows) {
    out.set(r.id, {
      id: r.id,
      name: r.name,
      admins: [],
      threshold: r.threshold,
      activeGrants: active.get(r.id) ?? 0,
      head: { seq: r.headSeq, leafHash: toBase64(r.headLeafHash), index: r.headIndex },
      genesis: toBase64(r.genesis),
      authority: { count: r.authorityCount, index: r.authorityIndex, digest: toBase64(r.authorityDigest) },
    });
  }
  for (const a of adminRows) out.get(a.org)?.admins.push(toBase64(a.key));
  return out;
}

/** Grants by (org, id); the map's keys are grantKey(org, id). */
export async function loadGrants(
  db: Tx,
  ids: readonly { org: string; id: string }[],
): Promise<Map<string, Grant>> {
  const out = new Map<string, Grant>();
  const unique = new Map(ids.map((g) => [grantKey(g.org, g.id), g]));
  if (unique.size === 0) return out;
  const list = [...unique.values()];
  const rows = await prepared(db, "grants", () =>
    db
      .select()
      .from(grants)
      .where(
        sql`(${grants.org}, ${grants.id}) in (select * from unnest(${sql.placeholder("orgs")}::text[], ${sql.placeholder("ids")}::text[]))`,
      )
      .prepare("grants"),
  ).execute({ orgs: list.map((g) => g.org), ids: list.map((g) => g.id) });
  for (const g of rows) {
    const grant: Grant = {
      org: g.org,
      id: g.id,
      delegate: toBase64(g.delegate),
      ops: g.ops as EventType[],
      accounts: g.accounts,
      notBefore: g.notBefore,
      notAfter: g.notAfter,
      note: g.note,
      issuedIndex: g.issuedIndex,
      chain: { count: g.chainCount, index: g.chainIndex, digest: toBase64(g.chainDigest) },
    };
    if (g.attestation !== null) grant.attestation = g.attestation;
    if (g.revokedIndex !== null) grant.revokedIndex = g.revokedIndex;
    if (g.revokeReason !== null) grant.revokeReason = g.revokeReason;
    out.set(grantKey(g.org, g.id), grant);
  }
  return out;
}

/** Every grant of an org, in the order they were issued (for the org's JSON state). */
export async function loadOrgGrants(db: Tx, org: string): Promise<Grant[]> {
  const rows = await db.select({ id: grants.id }).from(grants).where(eq(grants.org, org));
  const all = await loadGrants(
    db,
    rows.map((r) => ({ org, id: r.id })),
  );
  return [...all.values()].sort((a, b) => a.issuedIndex - b.issuedIndex);
}

export async function loadAccounts(
  db: Tx,
  ids: readonly { org: string; id: string }[],
): Promise<Map<string, AccountState>> {
  const out = new Map<string, AccountState>();
  const unique = new Map(ids.map((a) => [accountKey(a.org, a.id), a]));
  if (unique.size === 0) return out;
  const list = [...unique.values()];
  // The (org, id) pairs as two aligned arrays, looked up in the primary key pair by pair. Not
  // `org = any(…) and id = any(…)`: when the statistics underestimated the org, PostgreSQL used
  // the org alone as the index condition and read every account of the org, for every batch
  // (test/server/state-load-index.test.ts).
  const pairs = sql`(select * from unnest(${sql.placeholder("orgs")}::text[], ${sql.placeholder("ids")}::text[]))`;
  const params = { orgs: list.map((a) => a.org), ids: list.map((a) => a.id) };
  const [rows, keyRows] = await Promise.all([
    prepared(db, "accounts", () =>
      db
        .select()
        .from(accounts)
        .where(sql`(${accounts.org}, ${accounts.id}) in ${pairs}`)
        .prepare("accounts"),
    ).execute(params),
    prepared(db, "account_keys", () =>
      db
        .select()
        .from(accountKeys)
        .where(sql`(${accountKeys.org}, ${accountKeys.account}) in ${pairs}`)
        .orderBy(accountKeys.addedIndex)
        .prepare("account_keys"),
    ).execute(params),
  ]);
  for (const r of rows) {
    const a: AccountState = {
      org: r.org,
      id: r.id,
      status: r.status as AccountStatus,
      inviteKey: toBase64(r.inviteKey),
      everActive: r.everActive,
      keys: new Map(),
      head: { seq: r.headSeq, leafHash: toBase64(r.headLeafHash), index: r.headIndex },
    };
    if (r.externalId !== null) a.externalId = r.externalId;
    out.set(accountKey(r.org, r.id), a);
  }
  for (const k of keyRows) {
    const a = out.get(accountKey(k.org, k.account));
    if (!a) continue;
    const key: AccountKey = {
      id: k.keyId,
      alg: k.alg as AccountKey["alg"],
      use: k.use as AccountKey["use"],
      pub: toBase64(k.pub),
      addedIndex: k.addedIndex,
    };
    if (k.revokedIndex !== null) key.revokedIndex = k.revokedIndex;
    if (k.revokeReason !== null) key.revokeReason = k.revokeReason;
    a.keys.set(k.keyId, key);
  }
  return out;
}

const CHUNK = 1000; // rows per INSERT: well under PostgreSQL's 65,535 parameters

function chunked<T>(rows: T[], insert: (chunk: T[]) => SQLWrapper): SQLWrapper[] {
  const out: SQLWrapper[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(insert(rows.slice(i, i + CHUNK)));
  return out;
}

/**
 * The statements that write the given orgs, grants and accounts as they now are (an org's admin
 * rows are replaced: at most the admin limit; an account's key rows upserted: at most the key
 * limit; each grant is one row), to run in this order inside the batch transaction (the admins'
 * delete before their insert). Nothing runs until the caller executes them.
 */
export function stateStatements(
  tx: Pick<Drizzle, "insert" | "delete">,
  orgStates: Iterable<OrgState>,
  grantStates: Iterable<Grant>,
  accountStates: Iterable<AccountState>,
): SQLWrapper[] {
  const out: SQLWrapper[] = [];
  const os = [...orgStates];
  const gs = [...grantStates];
  const as = [...accountStates];
  if (os.length > 0) {
    const ids = os.map((o) => o.id);
    out.push(
      tx
        .insert(orgs)
        .values(
          os.map((o) => ({
            id: o.id,
            name: o.name,
            threshold: o.threshold,
            genesis: fromBase64(o.genesis),
            headSeq: o.head.seq,
            headLeafHash: fromBase64(o.head.leafHash),
            headIndex: o.head.index,
            authorityCount: o.authority.count,
            authorityIndex: o.authority.index,
            authorityDigest: fromBase64(o.authority.digest),
          })),
        )
        .onConflictDoUpdate({
          target: orgs.id,
          set: {
            name: sql`excluded.name`,
            threshold: sql`excluded.threshold`,
            headSeq: sql`excluded.head_seq`,
            headLeafHash: sql`excluded.head_leaf_hash`,
            headIndex: sql`excluded.head_index`,
            authorityCount: sql`excluded.authority_count`,
            authorityIndex: sql`excluded.authority_index`,
            authorityDigest: sql`excluded.authority_digest`,
          },
        }),
    );
    out.push(tx.delete(orgAdmins).where(inArray(orgAdmins.org, ids)));
    const adminRows = os.flatMap((o) =>
      o.admins.map((k, position) => ({ org: o.id, key: fromBase64(k), position })),
    );
    out.push(...chunked(adminRows, (c) => tx.insert(orgAdmins).values(c)));
  }
  if (gs.length > 0) {
    const grantRows = gs.map((g) => ({
      org: g.org,
      id: g.id,
      delegate: fromBase64(g.delegate),
      ops: g.ops,
      accounts: g.accounts,
      notBefore: g.notBefore,
      notAfter: g.notAfter,
      note: g.note,
      attestation: g.attestation ?? null,
      issuedIndex: g.issuedIndex,
      status: g.revokedIndex === undefined ? "active" : "revoked",
      revokedIndex: g.revokedIndex ?? null,
      revokeReason: g.revokeReason ?? null,
      chainCount: g.chain.count,
      chainIndex: g.chain.index,
      chainDigest: fromBase64(g.chain.digest),
    }));
    out.push(
      ...chunked(grantRows, (c) =>
        tx
          .insert(grants)
          .values(c)
          .onConflictDoUpdate({
            target: [grants.org, grants.id],
            set: {
              status: sql`excluded.status`,
              revokedIndex: sql`excluded.revoked_index`,
              revokeReason: sql`excluded.revoke_reason`,
              chainCount: sql`excluded.chain_count`,
              chainIndex: sql`excluded.chain_index`,
              chainDigest: sql`excluded.chain_digest`,
            },
          }),
      ),
    );
  }
  if (as.length > 0) {
    // The hot path (a batch of invites touches a thousand accounts): one statement, each column
    // one text array parameter (postgres-js types arrays of numbers and booleans by their first
    // element, so everything goes as text and is cast server-side), bytes as hex.
    out.push(sql`
      insert into ${accounts} (org, id, status, external_id, invite_key, ever_active,
                               head_seq, head_leaf_hash, head_index)
      select o, i, s, x, decode(c, 'hex'), a::boolean, q::bigint, decode(h, 'hex'), n::bigint
      from unnest(${sql.param(as.map((a) => a.org))}::text[],
                  ${sql.param(as.map((a) => a.id))}::text[],
                  ${sql.param(as.map((a) => a.status))}::text[],
                  ${sql.param(as.map((a) => a.externalId ?? null))}::text[],
                  ${sql.param(as.map((a) => hex(fromBase64(a.inviteKey))))}::text[],
                  ${sql.param(as.map((a) => String(a.everActive)))}::text[],
                  ${sql.param(as.map((a) => String(a.head.seq)))}::text[],
                  ${sql.param(as.map((a) => hex(fromBase64(a.head.leafHash))))}::text[],
                  ${sql.param(as.map((a) => String(a.head.index)))}::text[])
        as r(o, i, s, x, c, a, q, h, n)
      on conflict (org, id) do update set
        status = excluded.status, external_id = excluded.external_id, ever_active = excluded.ever_active,
        head_seq = excluded.head_seq, head_leaf_hash = excluded.head_leaf_hash, head_index = excluded.head_index`);
    const keys = as.flatMap((a) => [...a.keys.values()].map((k) => ({ a, k })));
    // Keys are never removed from a record, only revoked: upsert them all, in one statement
    // like the accounts (building a thousand-row drizzle insert cost more CPU than the commit).
    if (keys.length > 0) {
      out.push(sql`
        insert into ${accountKeys} (org, account, key_id, alg, use, pub, status, added_index,
                                    revoked_index, revoke_reason)
        select o, a, i, g, u, decode(p, 'hex'), s, n::bigint, r::bigint, w
        from unnest(${sql.param(keys.map(({ a }) => a.org))}::text[],
                    ${sql.param(keys.map(({ a }) => a.id))}::text[],
                    ${sql.param(keys.map(({ k }) => k.id))}::text[],
                    ${sql.param(keys.map(({ k }) => k.alg))}::text[],
                    ${sql.param(keys.map(({ k }) => k.use))}::text[],
                    ${sql.param(keys.map(({ k }) => hex(fromBase64(k.pub))))}::text[],
                    ${sql.param(keys.map(({ k }) => (k.revokedIndex === undefined ? "active" : "revoked")))}::text[],
                    ${sql.param(keys.map(({ k }) => String(k.addedIndex)))}::text[],
                    ${sql.param(keys.map(({ k }) => (k.revokedIndex === undefined ? null : String(k.revokedIndex))))}::text[],
                    ${sql.param(keys.map(({ k }) => k.revokeReason ?? null))}::text[])
          as x(o, a, i, g, u, p, s, n, r, w)
        on conflict (org, account, key_id) do update set
          status = excluded.status, revoked_index = excluded.revoked_index,
          revoke_reason = excluded.revoke_reason`);
    }
  }
  return out;
}

/**
 * The sequencer's view of the state: records loaded on demand before each batch (so that the
 * policy, which is synchronous, finds them in memory) and kept up to date after each commit.
 * Absent records are cached too, since most batches create accounts. Bounded by `capacity`.
 */
export class StateCache implements StateView {
  private readonly orgs = new Map<string, OrgState | null>();
  private readonly grants = new Map<string, Grant | null>();
  private readonly accounts = new Map<string, AccountState | null>();

  constructor(
    private readonly db: Tx,
    private readonly capacity = 200_000,
  ) {}

  org(id: string): OrgState | undefined {
    return this.orgs.get(id) ?? undefined;
  }

  grant(org: string, id: string): Grant | undefined {
    return this.grants.get(grantKey(org, id)) ?? undefined;
  }

  account(org: string, id: string): AccountState | undefined {
    return this.accounts.get(accountKey(org, id)) ?? undefined;
  }

  /** Loads every record the events may read that is not cached yet. */
  async preload(events: readonly KeyEvent[]): Promise<void> {
    // The cache can be cleared while the loads are in flight (the sequencer drops its caches
    // when it loses or regains leadership, whatever batch is running): records cached before
    // the await may be gone after it, and the policy would refuse their events (ORG_UNKNOWN).
    // So load until nothing the events read is missing.
    for (let attempt = 0; ; attempt++) {
      let { orgIds, grantIds, accountIds } = this.missing(events);
      const need = orgIds.size + grantIds.size + accountIds.size;
      // (A cache left over capacity by a batch larger than it is started over below first.)
      if (need === 0 && (attempt > 0 || this.size <= this.capacity)) return;
      if (attempt === 3) {
        throw new TrustlogError(
          "SEQUENCER_FAILED",
          "the state cache kept being dropped while loading; retry",
        );
      }
      if (this.size + orgIds.size + grantIds.size + accountIds.size > this.capacity) {
        // Overflow: start over, and only then work out what to load. Deciding first would leave
        // out records that were cached a moment ago and are now gone.
        this.clear();
        ({ orgIds, grantIds, accountIds } = this.missing(events));
      }
      const [o, g, a] = await Promise.all([
        loadOrgs(this.db, [...orgIds]),
        loadGrants(this.db, [...grantIds.values()]),
        loadAccounts(this.db, [...accountIds.values()]),
      ]);
      // A record a committed batch cached meanwhile (update) is newer than what was read.
      for (const id of orgIds) if (!this.orgs.has(id)) this.orgs.set(id, o.get(id) ?? null);
      for (const [k] of grantIds) if (!this.grants.has(k)) this.grants.set(k, g.get(k) ?? null);
      for (const [k] of accountIds) if (!this.accounts.has(k)) this.accounts.set(k, a.get(k) ?? null);
    }
  }

  /** The records the events may read that are not cached (as present or as absent). */
  private missing(events: readonly KeyEvent[]) {
    const orgIds = new Set<string>();
    const grantIds = new Map<string, { org: string; id: string }>();
    const accountIds = new Map<string, { org: string; id: string }>();
    const needGrant = (org: string, id: string) => {
      const k = grantKey(org, id);
      if (!this.grants.has(k)) grantIds.set(k, { org, id });
    };
    for (const e of events) {
      if (!this.orgs.has(e.org)) orgIds.add(e.org);
      // The grants an event can read: the one its delegate acts under, the one it issues or revokes.
      if (e.actor.role === "delegate") needGrant(e.org, e.actor.grant);
      if (e.type === "grant.issue" || e.type === "grant.revoke") needGrant(e.org, e.body.id);
      if (!isOrgEventType(e.type)) {
        const k = accountKey(e.org, e.subject);
        if (!this.accounts.has(k)) accountIds.set(k, { org: e.org, id: e.subject });
      }
    }
    return { orgIds, grantIds, accountIds };
  }

  /** How many records (present or absent) are cached. */
  get size(): number {
    return this.orgs.size + this.grants.size + this.accounts.size;
  }

  /** Records what a committed batch changed. */
  update(
    orgStates: Iterable<OrgState>,
    grantStates: Iterable<Grant>,
    accountStates: Iterable<AccountState>,
  ): void {
    for (const o of orgStates) this.orgs.set(o.id, o);
    for (const g of grantStates) this.grants.set(grantKey(g.org, g.id), g);
    for (const a of accountStates) this.accounts.set(accountKey(a.org, a.id), a);
  }

  clear(): void {
    this.orgs.clear();
    this.grants.clear();
    this.accounts.clear();
  }
}
