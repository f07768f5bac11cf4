// The bridge's background work, all driven from the database so that a restart at any point
// neither loses nor repeats anything:
//   - the event worker sends outbox events to the log. Each event is signed ONCE and the
//     envelope stored before it is sent; until the log answers, the same envelope is resent, so
//     a retry after a crash is answered as a duplicate of the same leaf (docs/events.md §1,
//     "One event, one leaf"). Only when the log says the event is NOT there (CHAIN_CONFLICT: the
//     chain moved, e.g. the user added a key; SKEW: it waited too long) is it signed anew.
//     Rows of one account leave in order; rows of different accounts in batches.
//   - the invitation worker delivers an invitation once its account.invite is logged, then
//     forgets the secret;
//   - the watcher waits for an invited account's first key, runs verifyKey with the bridge's own
//     witness policy and trust state, and only then marks the user confirmed and queues the
//     platform's confirmation webhook. A key that does not verify is never confirmed; the
//     refusal is kept as the user's `problem`.
//   - the grant is re-checked periodically; while it is not valid, nothing is sent to the log.

import { and, asc, eq, inArray, isNull, lte, sql } from "drizzle-orm";
import { LogClient } from "../client/log-client.js";
import type { TrustStore } from "../client/trust-store.js";
import { verifyKey } from "../client/verify-key.js";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { knownCode } from "../core/error-codes.js";
import { type ErrorCode, isTrustlogError, TrustlogError } from "../core/errors.js";
import { type Envelope, parseEnvelope } from "../core/event.js";
import {
  accountDelete,
  accountInvite,
  accountReactivate,
  accountSuspend,
  sealEvent,
} from "../core/event-build.js";
import type { Database } from "../node/db.js";
import type { Logger } from "../node/log.js";
import type { ScimConfig } from "./config.js";
import { type Deliverer, postWebhook } from "./deliver.js";
import { type GrantStatus, grantStatus } from "./grant.js";
import type { ScimMetrics } from "./metrics.js";
import { scimOutbox, scimUsers } from "./schema.js";
import type { EventOp } from "./service.js";

type OutboxRow = typeof scimOutbox.$inferSelect;

/** Codes after which the grant no longer covers the bridge's writes: stop writing. */
const GRANT_CODES = new Set([
  "GRANT_UNKNOWN",
  "GRANT_KEY_MISMATCH",
  "GRANT_REVOKED",
  "GRANT_EXPIRED",
  "GRANT_NOT_YET_VALID",
  "OUT_OF_SCOPE",
]);
/** Codes that say this envelope is not in the log and must be signed anew. */
const RESIGN_CODES = new Set(["CHAIN_CONFLICT", "SKEW"]);
/** Whole-request answers worth retrying with the same envelopes. */
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export interface BridgeOptions {
  config: ScimConfig;
  database: Database;
  logger: Logger;
  metrics: ScimMetrics;
  deliverer: Deliverer;
  trustStore: TrustStore;
  delegateSeed: Uint8Array;
  /** Unix ms. */
  now?: () => number;
}

export class Bridge {
  readonly delegateKey: string;
  readonly client: LogClient;
  grant: GrantStatus = { ok: false, code: "GRANT_UNCHECKED", message: "not checked yet", checkedAt: "" };
  /** Last time the log answered anything, and the last transport failure. */
  logContact: { ok: boolean; at: string; error?: string } = { ok: false, at: "" };
  private readonly heads = new Map<string, { seq: number; leafHash: string }>();
  private timers: NodeJS.Timeout[] = [];
  private running = new Map<string, Promise<void>>();
  private again = new Set<string>();
  private stopped = false;

  constructor(private readonly o: BridgeOptions) {
    this.delegateKey = toBase64(ed25519().publicKey(o.delegateSeed));
    this.client = new LogClient(o.config.logUrl, o.config.logToken ? { token: o.config.logToken } : {});
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private verifyOptions() {
    const c = this.o.config;
    return {
      log: { url: c.logUrl, vkey: c.logKey, ...(c.logOrigin ? { origin: c.logOrigin } : {}) },
      witnesses: c.witnesses,
      quorum: c.quorum ?? c.witnesses.length,
      org: c.org,
      store: this.o.trustStore,
      maxAgeSeconds: c.maxAgeSeconds,
      now: () => this.now(),
    };
  }

  async checkGrant(): Promise<GrantStatus> {
    const s = await grantStatus({
      ...this.verifyOptions(),
      grantId: this.o.config.grantId,
      delegateKey: this.delegateKey,
    });
    const was = this.grant.ok;
    this.grant = s;
    this.o.metrics.grantValid.set(s.ok ? 1 : 0);
    if (s.code === "LOG_UNREACHABLE")
      this.logContact = { ok: false, at: new Date().toISOString(), error: s.message };
    else this.logContact = { ok: true, at: new Date().toISOString() };
    if (was && !s.ok)
      this.o.logger.error({ code: s.code }, `grant no longer valid, writes stopped: ${s.message}`);
    if (!was && s.ok) this.kick();
    return s;
  }

  /** Starts the loops (after the start-up grant check succeeded). */
  start(): void {
    const c = this.o.config;
    this.loop("events", c.outboxIntervalMs, () => this.sendEvents());
    this.loop("invites", c.outboxIntervalMs, () => this.sendInvites());
    this.loop("confirms", c.outboxIntervalMs, () => this.sendConfirms());
    this.loop("watch", c.watchIntervalMs, () => this.watch());
    this.loop("grant", c.grantCheckSeconds * 1000, () => this.checkGrant().then(() => {}));
    this.loop("gauges", 5000, () => this.gauges());
  }

  /** Runs the outbox loops now (after a commit that added rows). */
  kick(): void {
    for (const name of ["events", "invites", "confirms"]) this.trigger(name);
  }

  private fns = new Map<string, () => Promise<void>>();

  private loop(name: string, intervalMs: number, fn: () => Promise<void>): void {
    this.fns.set(name, fn);
    const t = setInterval(() => this.trigger(name), intervalMs);
    t.unref();
    this.timers.push(t);
    this.trigger(name);
  }

  /** One round of `name` at a time; a trigger during a round asks for one more round after it. */
  private trigger(name: string): void {
    if (this.stopped) return;
    const fn = this.fns.get(name);
    if (!fn) return;
    if (this.running.has(name)) {
      this.again.add(name);
      return;
    }
    const p = (async () => {
      try {
        await fn();
      } catch (err) {
        this.o.logger.warn({ err, loop: name }, "background round failed");
      } finally {
        this.running.delete(name);
        if (this.again.delete(name)) this.trigger(name);
      }
    })();
    this.running.set(name, p);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.running.values()]);
    this.o.deliverer.close();
  }

  private async gauges(): Promise<void> {
    const rows = await this.o.database.query<{ kind: string; n: string }>(
      "select kind, count(*)::text as n from scim_outbox where status = 'pending' group by kind",
    );
    for (const k of ["event", "invite", "confirm"])
      this.o.metrics.outboxPending.set({ kind: k }, Number(rows.find((r) => r.kind === k)?.n ?? 0));
  }

  async backlog(): Promise<{ pending: number; failed: number; oldestPendingSeconds: number }> {
    const [r] = await this.o.database.query<{ pending: string; failed: string; oldest: string | null }>(
      `select count(*) filter (where status = 'pending')::text as pending,
              count(*) filter (where status = 'failed')::text as failed,
              extract(epoch from now() - min(created_at) filter (where status = 'pending'))::text as oldest
         from scim_outbox`,
    );
    return {
      pending: Number(r?.pending ?? 0),
      failed: Number(r?.failed ?? 0),
      oldestPendingSeconds: r?.oldest ? Math.round(Number(r.oldest)) : 0,
    };
  }

  // ---- events ----

  private async sendEvents(): Promise<void> {
    for (let round = 0; round < 50 && !this.stopped; round++) {
      if (!this.grant.ok) return;
      const rows = (await this.o.database.query<Record<string, unknown>>(
        `select o.id from scim_outbox o
          where o.kind = 'event' and o.status = 'pending' and o.next_attempt_at <= now()
            and not exists (select 1 from scim_outbox p where p.account_id = o.account_id
                            and p.kind = 'event' and p.status = 'pending' and p.id < o.id)
          order by o.id limit $1`,
        [this.o.config.batchSize],
      )) as { id: number | string }[];
      if (rows.length === 0) return;
      const full = await this.o.database.db
        .select()
        .from(scimOutbox)
        .where(
          inArray(
            scimOutbox.id,
            rows.map((r) => Number(r.id)),
          ),
        )
        .orderBy(asc(scimOutbox.id));
      const progressed = await this.sendBatch(full);
      if (!progressed || rows.length < this.o.config.batchSize) return;
    }
  }

  /** Signs what has no envelope yet (stored before sending), sends the batch, records answers. */
  private async sendBatch(rows: OutboxRow[]): Promise<boolean> {
    const ready: { row: OutboxRow; envelope: Envelope }[] = [];
    for (const row of rows) {
      try {
        let envelope = row.envelope as Envelope | null;
        if (!envelope) {
          envelope = await this.build(row);
          await this.o.database.db
            .update(scimOutbox)
            .set({ envelope: envelope as never })
            .where(eq(scimOutbox.id, row.id));
        }
        ready.push({ row, envelope });
      } catch (e) {
        await this.rowError(row, e);
      }
    }
    if (ready.length === 0) return false;
    let answer: { status: number; json: Record<string, unknown> };
    try {
      answer = await this.post({ events: ready.map((r) => r.envelope) });
      this.logContact = { ok: true, at: new Date().toISOString() };
    } catch (e) {
      this.logContact = { ok: false, at: new Date().toISOString(), error: (e as Error).message };
      for (const r of ready)
        await this.retryLater(r.row, { code: "LOG_UNREACHABLE", message: (e as Error).message });
      return false;
    }
    if (answer.status !== 200) {
      const err = (answer.json.error as { code?: string; message?: string } | undefined) ?? {};
      const code = err.code ?? `HTTP_${answer.status}`;
      if (answer.status === 401)
        this.o.logger.error(`the log refused the bridge's write token: ${err.message}`);
      for (const r of ready)
        await this.retryLater(r.row, { code, message: err.message ?? "" }, RETRY_STATUS.has(answer.status));
      return false;
    }
    const results = (answer.json.results ?? []) as Record<string, unknown>[];
    for (const [i, r] of ready.entries()) {
      const res = results[i] ?? { error: { code: "BAD_RESPONSE", message: "no result" } };
      if ("error" in res) {
        const e = res.error as { code: string; message: string };
        const code = knownCode(e.code, "BAD_RESPONSE");
        await this.refused(r.row, { code, message: code === e.code ? e.message : `${e.code}: ${e.message}` });
      } else
        await this.logged(r.row, r.envelope, res as { index: number; leafHash: string; duplicate?: boolean });
    }
    return true;
  }

  private async post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${this.o.config.logUrl}/v1/events`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(this.o.config.logToken ? { authorization: `Bearer ${this.o.config.logToken}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: the status says enough
    }
    return { status: res.status, json };
  }

  private async build(row: OutboxRow): Promise<Envelope> {
    const p = row.payload as {
      op: EventOp;
      reason?: string;
      scimRequestHash?: string;
      externalId?: string;
      inviteKey?: string;
    };
    const c = this.o.config;
    const actor = { role: "delegate" as const, key: this.delegateKey, grant: c.grantId };
    const time = Math.floor(this.now() / 1000);
    if (p.op === "account.invite") {
      return sealEvent(
        accountInvite({
          org: c.org,
          subject: row.accountId,
          time,
          actor,
          inviteKey: p.inviteKey!,
          ...(p.externalId ? { externalId: p.externalId } : {}),
          ...(p.scimRequestHash ? { scimRequestHash: fromBase64(p.scimRequestHash) } : {}),
        }),
        [this.o.delegateSeed],
      );
    }
    let head = this.heads.get(row.accountId);
    if (!head) {
      const a = (await this.client.account(c.org, row.accountId)) as {
        head?: { seq: number; leafHash: string };
      };
      if (!a.head) throw new TrustlogError("BAD_RESPONSE", `the log gave no head for ${row.accountId}`);
      head = { seq: a.head.seq, leafHash: a.head.leafHash };
    }
    const build = {
      "account.suspend": accountSuspend,
      "account.reactivate": accountReactivate,
      "account.delete": accountDelete,
    }[p.op];
    return sealEvent(
      build({
        org: c.org,
        subject: row.accountId,
        seq: head.seq + 1,
        prev: head.leafHash,
        time,
        actor,
        reason: p.reason ?? "",
        ...(p.scimRequestHash ? { scimRequestHash: fromBase64(p.scimRequestHash) } : {}),
      }),
      [this.o.delegateSeed],
    );
  }

  private async logged(
    row: OutboxRow,
    envelope: Envelope,
    r: { index: number; leafHash: string; duplicate?: boolean },
  ) {
    const ev = envelope.event;
    this.heads.set(row.accountId, { seq: ev.seq, leafHash: r.leafHash });
    const status = {
      "account.invite": "invited",
      "account.suspend": "suspended",
      "account.reactivate": "reactivated",
      "account.delete": "deleted",
    }[ev.type as EventOp];
    await this.o.database.db.transaction(async (tx) => {
      await tx
        .update(scimOutbox)
        .set({
          status: "done",
          doneAt: sql`now()`,
          result: { index: r.index, leafHash: r.leafHash, ...(r.duplicate ? { duplicate: true } : {}) },
          attempts: row.attempts + 1,
        })
        .where(eq(scimOutbox.id, row.id));
      if (status === "reactivated") {
        // Back to active if the account ever had its key confirmed, else still waiting for it.
        await tx
          .update(scimUsers)
          .set({ logStatus: sql`case when confirmed_at is null then 'invited' else 'active' end` })
          .where(eq(scimUsers.id, row.userId));
      } else if (status) {
        await tx.update(scimUsers).set({ logStatus: status }).where(eq(scimUsers.id, row.userId));
      }
    });
    this.o.metrics.events.inc({ type: ev.type });
    this.o.metrics.eventSeconds.observe((this.now() - row.createdAt.getTime()) / 1000);
    this.o.logger.debug(
      { type: ev.type, account: row.accountId, index: r.index, duplicate: r.duplicate },
      "event logged",
    );
    if (ev.type === "account.invite") this.trigger("invites");
  }

  private async refused(row: OutboxRow, err: { code: ErrorCode; message: string }): Promise<void> {
    this.o.metrics.refused.inc({ code: err.code });
    if (RESIGN_CODES.has(err.code)) {
      // Not in the log (the log answers a logged event as a duplicate, even then): sign anew.
      this.heads.delete(row.accountId);
      await this.o.database.db
        .update(scimOutbox)
        .set({ envelope: null, attempts: row.attempts + 1, lastError: err })
        .where(eq(scimOutbox.id, row.id));
      return;
    }
    if (GRANT_CODES.has(err.code)) {
      this.grant = {
        ok: false,
        code: err.code,
        message: `the log refused the bridge's event: ${err.message}`,
        checkedAt: new Date().toISOString(),
      };
      this.o.metrics.grantValid.set(0);
      this.o.logger.error(
        { code: err.code },
        `the log refused the bridge's grant, writes stopped: ${err.message}`,
      );
      await this.retryLater(row, err);
      return;
    }
    if (
      [
        "QUEUE_FULL",
        "RATE_LIMITED",
        "NOT_LEADER",
        "SHUTTING_DOWN",
        "SEQUENCER_FAILED",
        "DATABASE_UNAVAILABLE",
      ].includes(err.code)
    ) {
      await this.retryLater(row, err);
      return;
    }
    await this.fail(row, err);
  }

  /** Refused for good: the row fails, the user shows why, and an invite that failed blocks the account. */
  private async fail(row: OutboxRow, err: { code: string; message: string }): Promise<void> {
    const op = (row.payload as { op?: string }).op;
    this.o.logger.warn({ code: err.code, account: row.accountId, op }, `event refused: ${err.message}`);
    await this.o.database.db.transaction(async (tx) => {
      await tx
        .update(scimOutbox)
        .set({ status: "failed", lastError: err, attempts: row.attempts + 1, doneAt: sql`now()` })
        .where(eq(scimOutbox.id, row.id));
      await tx
        .update(scimUsers)
        .set({
          problem: {
            code: err.code,
            message: `${op ?? row.kind}: ${err.message}`,
            at: new Date().toISOString(),
          },
          ...(op === "account.invite" ? { logStatus: "failed" } : {}),
        })
        .where(eq(scimUsers.id, row.userId));
      if (op === "account.invite") {
        // Nothing else may be written for an account the bridge did not create.
        await tx
          .update(scimOutbox)
          .set({
            status: "failed",
            lastError: {
              code: "INVITE_NOT_LOGGED",
              message: `the account's invite was refused: ${err.code}`,
            },
            doneAt: sql`now()`,
            payload: sql`payload - 'secret'`,
          })
          .where(and(eq(scimOutbox.accountId, row.accountId), eq(scimOutbox.status, "pending")));
      }
    });
  }

  private async rowError(row: OutboxRow, e: unknown): Promise<void> {
    const err = isTrustlogError(e)
      ? { code: e.code, message: e.message }
      : { code: "INTERNAL", message: String(e) };
    if (err.code === "MALFORMED" || err.code === "NOT_FOUND") await this.fail(row, err);
    else await this.retryLater(row, err);
  }

  private async retryLater(
    row: OutboxRow,
    err: { code: string; message: string },
    retry = true,
  ): Promise<void> {
    if (!retry) return this.fail(row, err);
    const attempts = row.attempts + 1;
    const delayMs = Math.min(60_000, 250 * 2 ** Math.min(attempts, 10));
    await this.o.database.db
      .update(scimOutbox)
      .set({ attempts, lastError: err, nextAttemptAt: new Date(this.now() + delayMs) })
      .where(eq(scimOutbox.id, row.id));
  }

  // ---- invitations ----

  private async sendInvites(): Promise<void> {
    const rows = await this.o.database.db
      .select()
      .from(scimOutbox)
      .where(
        and(
          eq(scimOutbox.kind, "invite"),
          eq(scimOutbox.status, "pending"),
          lte(scimOutbox.nextAttemptAt, sql`now()`),
          sql`exists (select 1 from scim_outbox e where e.id = ${scimOutbox.after} and e.status = 'done')`,
        ),
      )
      .orderBy(asc(scimOutbox.id))
      .limit(100);
    const c = this.o.config;
    await Promise.all(
      rows.map(async (row) => {
        const p = row.payload as {
          secret?: string;
          inviteKey: string;
          userName: string;
          email?: string;
          displayName?: string;
        };
        if (!p.secret) return;
        const accept = [
          "trustlog account accept",
          `--log ${c.logUrl}`,
          `--log-key ${c.logKey}`,
          `--org ${c.org}`,
          `--account ${row.accountId}`,
          `--invite-secret ${p.secret}`,
        ].join(" ");
        try {
          await this.o.deliverer.invite(row.id, {
            org: c.org,
            account: row.accountId,
            userName: p.userName,
            ...(p.email ? { email: p.email } : {}),
            ...(p.displayName ? { displayName: p.displayName } : {}),
            secret: p.secret,
            inviteKey: p.inviteKey,
            log: c.logUrl,
            logKey: c.logKey,
            accept,
          });
          await this.o.database.db
            .update(scimOutbox)
            .set({
              status: "done",
              doneAt: sql`now()`,
              attempts: row.attempts + 1,
              payload: sql`payload - 'secret'`,
            })
            .where(eq(scimOutbox.id, row.id));
          this.o.metrics.deliveries.inc({ kind: "invite", outcome: "done" });
        } catch (e) {
          this.o.metrics.deliveries.inc({ kind: "invite", outcome: "retry" });
          const err = isTrustlogError(e)
            ? { code: e.code, message: e.message }
            : { code: "DELIVERY_FAILED", message: String(e) };
          if (err.code === "NO_ADDRESS") {
            await this.o.database.db
              .update(scimOutbox)
              .set({ status: "failed", lastError: err, payload: sql`payload - 'secret'`, doneAt: sql`now()` })
              .where(eq(scimOutbox.id, row.id));
            await this.o.database.db
              .update(scimUsers)
              .set({ problem: { ...err, at: new Date().toISOString() } })
              .where(eq(scimUsers.id, row.userId));
          } else await this.retryLater(row, err);
        }
      }),
    );
  }

  // ---- confirmation ----

  /** One round: every invited, unconfirmed user whose account shows a key is verified. */
  async watch(): Promise<void> {
    const c = this.o.config;
    const users = await this.o.database.db
      .select()
      .from(scimUsers)
      .where(
        and(eq(scimUsers.logStatus, "invited"), isNull(scimUsers.confirmedAt), eq(scimUsers.deleted, false)),
      )
      .orderBy(asc(scimUsers.seq))
      .limit(200);
    for (const u of users) {
      if (this.stopped) return;
      // A cheap, unverified look first: nothing to verify until the account has a key.
      let view: { status?: string; keys?: unknown };
      try {
        view = (await this.client.account(c.org, u.accountId)) as typeof view;
      } catch (e) {
        if (isTrustlogError(e, "NOT_FOUND")) continue;
        throw e;
      }
      const keys = view.keys && typeof view.keys === "object" ? Object.keys(view.keys) : [];
      if (view.status !== "active" || keys.length === 0) continue;
      try {
        const r = await verifyKey({ ...this.verifyOptions(), account: u.accountId });
        if (r.keys.length === 0) throw new TrustlogError("NO_KEY", "the account has no active key");
        const confirmation = {
          keys: r.keys,
          checkpoint: r.checkpoint,
          cosigners: r.cosigners,
          genesis: r.genesis,
        };
        await this.o.database.db.transaction(async (tx) => {
          const [updated] = await tx
            .update(scimUsers)
            .set({ confirmedAt: sql`now()`, confirmation, logStatus: "active", problem: null })
            .where(
              and(eq(scimUsers.id, u.id), isNull(scimUsers.confirmedAt), eq(scimUsers.logStatus, "invited")),
            )
            .returning({ id: scimUsers.id });
          if (updated && c.confirmWebhookUrl)
            await tx.insert(scimOutbox).values({
              kind: "confirm",
              accountId: u.accountId,
              userId: u.id,
              payload: {
                type: "user.confirmed",
                org: c.org,
                account: u.accountId,
                scimId: u.id,
                userName: u.userName,
                ...confirmation,
              },
            });
        });
        this.o.metrics.confirmations.inc();
        this.o.logger.info(
          { account: u.accountId, keys: r.keys.length, checkpoint: r.checkpoint.size },
          "user confirmed",
        );
        this.trigger("confirms");
      } catch (e) {
        if (!isTrustlogError(e)) throw e;
        this.o.metrics.verifyFailures.inc({ code: e.code });
        this.o.logger.warn({ account: u.accountId, code: e.code }, `not confirmed: ${e.message}`);
        await this.o.database.db
          .update(scimUsers)
          .set({
            problem: { code: e.code, message: `verifyKey: ${e.message}`, at: new Date().toISOString() },
          })
          .where(eq(scimUsers.id, u.id));
      }
    }
  }

  private async sendConfirms(): Promise<void> {
    const url = this.o.config.confirmWebhookUrl;
    if (!url) return;
    const rows = await this.o.database.db
      .select()
      .from(scimOutbox)
      .where(
        and(
          eq(scimOutbox.kind, "confirm"),
          eq(scimOutbox.status, "pending"),
          lte(scimOutbox.nextAttemptAt, sql`now()`),
        ),
      )
      .orderBy(asc(scimOutbox.id))
      .limit(100);
    for (const row of rows) {
      try {
        await postWebhook(url, row.payload, `confirm-${row.id}`, this.o.config.webhookSecret);
        await this.o.database.db
          .update(scimOutbox)
          .set({ status: "done", doneAt: sql`now()`, attempts: row.attempts + 1 })
          .where(eq(scimOutbox.id, row.id));
        this.o.metrics.deliveries.inc({ kind: "confirm", outcome: "done" });
      } catch (e) {
        this.o.metrics.deliveries.inc({ kind: "confirm", outcome: "retry" });
        await this.retryLater(
          row,
          isTrustlogError(e)
            ? { code: e.code, message: e.message }
            : { code: "WEBHOOK_FAILED", message: String(e) },
        );
      }
    }
  }
}

export { parseEnvelope };
