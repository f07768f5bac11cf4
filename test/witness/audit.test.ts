// An auditing witness (witness/auditor.ts) against a trustlog log served from memory: it cosigns
// a checkpoint only once it replayed every entry below it clean, answers 503 AUDIT_SYNCING while
// its audit lags, refuses a log that breaks a rule with 403 LOG_VIOLATION and checkable
// evidence, never lets the database hold a cosigned size beyond the audited one, and resumes
// from its snapshot after a restart instead of replaying the log again.

import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyAdd, sealEvent } from "../../core/event-build.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { type AuditEvidence, anyEvidenceFromJson, checkAuditEvidence } from "../../witness/audit-evidence.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { AuditLog, DELEGATE, pub, T0 } from "./audit-fixture.js";
import { tempDir, witnessConfig, witnessKey } from "./helpers.js";

type Served = Awaited<ReturnType<AuditLog["serve"]>>;

async function auditingWitness(
  db: TestDatabase,
  log: AuditLog,
  url: string,
  extra: Record<string, unknown> = {},
): Promise<RunningWitness> {
  const cfg = witnessConfig({
    dir: tempDir(),
    key: witnessKey("auditor", 41),
    logs: [{ origin: log.origin, vkeys: [log.vkey], url }],
    databaseUrl: db.url,
  });
  return startWitness(
    parseWitnessConfig({
      ...cfg,
      logs: [{ origin: log.origin, vkeys: [log.vkey], url, audit: true }],
      auditWaitMs: 20_000,
      ...extra,
    }),
  );
}

async function add(w: RunningWitness, log: AuditLog, oldSize: number, size = log.size) {
  const res = await fetch(`${w.url}/add-checkpoint`, {
    method: "POST",
    body: formatAddCheckpoint(oldSize, log.proof(oldSize, size), log.note(size)),
  });
  return { status: res.status, text: await res.text() };
}

async function sizes(w: RunningWitness, origin: string): Promise<{ cosigned: number; audited: number }> {
  const r = await w.database.db.execute(
    sql`select l.size as cosigned, a.audited_size as audited from witness_logs l join witness_audit a using (origin) where origin = ${origin}`,
  );
  const row =
    (r as unknown as { rows?: Record<string, unknown>[] }).rows?.[0] ??
    (r as unknown as Record<string, unknown>[])[0]!;
  return { cosigned: Number(row.cosigned), audited: Number(row.audited) };
}

async function evidence(w: RunningWitness): Promise<AuditEvidence[]> {
  const list = (await (await fetch(`${w.url}/v1/evidence`)).json()) as unknown[];
  return list.map((x) => anyEvidenceFromJson(x)).filter((e): e is AuditEvidence => e.kind === "audit");
}

describe("an auditing witness on an honest log", () => {
  let db: TestDatabase;
  let w: RunningWitness | undefined;
  let served: Served;
  const log = new AuditLog("audit.example/honest");

  beforeAll(async () => {
    db = await createTestDatabase("witness_audit");
    log.genesis();
    log.grow(400, 50);
    served = await log.serve();
  });

  afterAll(async () => {
    await w?.close();
    await served?.close();
    await db?.drop();
  });

  it("cosigns once it replayed everything, and states what its key stands for", async () => {
    w = await auditingWitness(db, log, served.url, { auditSnapshotEntries: 300 });
    const r = await add(w, log, 0);
    expect(r.status, r.text).toBe(200);
    const status = w.witness.auditor(log.origin)!.status();
    expect(status).toMatchObject({ phase: "ready", auditedSize: log.size });
    expect(await sizes(w, log.origin)).toEqual({ cosigned: log.size, audited: log.size });
    const st = (await (await fetch(`${w.url}/v1/statement`)).json()) as { logs: { statements: string[] }[] };
    expect(st.logs[0]!.statements).toEqual(["cosignature/v1", "trustlog-audit/v1"]);
    // Next checkpoint: only the new entries are fetched.
    const before = log.size;
    log.grow(20, 50);
    served.requests.length = 0;
    const r2 = await add(w, log, before);
    expect(r2.status, r2.text).toBe(200);
    expect(served.requests.every((p) => !p.startsWith("/tile/entries/000"))).toBe(true);
  });

  it("a restart resumes from the last snapshot, never from 0", async () => {
    const committed = (await sizes(w!, log.origin)).cosigned;
    await w!.close();
    log.grow(30, 50);
    served.requests.length = 0;
    w = await auditingWitness(db, log, served.url, { auditSnapshotEntries: 300 });
    const resumed = w.witness.auditor(log.origin)!.status().resumedFrom;
    expect(resumed).toBeGreaterThan(256);
    const r = await add(w, log, committed);
    expect(r.status, r.text).toBe(200);
    expect(served.requests.some((p) => p.startsWith("/tile/entries/000"))).toBe(false);
  });

  it("answers 503 AUDIT_SYNCING while its audit has not reached the checkpoint", async () => {
    const big = new AuditLog("audit.example/big");
    big.genesis();
    big.grow(1500, 100);
    const s = await big.serve();
    const db2 = await createTestDatabase("witness_audit_sync");
    const w2 = await auditingWitness(db2, big, s.url, { auditWaitMs: 0 });
    try {
      const r = await add(w2, big, 0);
      expect(r.status).toBe(503);
      expect(r.text).toMatch(/^AUDIT_SYNCING: .*replayed \d+ of \d+ entries/);
      expect((await sizes(w2, big.origin)).cosigned).toBe(0);
      // The replay gives the event loop turns within a chunk (this log is one chunk), so the
      // witness keeps answering while it syncs: a timer sees the replay part-way.
      const seen = new Set<number>();
      const poll = setInterval(() => seen.add(w2.witness.auditor(big.origin)!.status().replayedSize), 1);
      await w2.witness.auditor(big.origin)!.idle();
      clearInterval(poll);
      expect(
        [...seen].some((n) => n > 0 && n < big.size),
        `seen ${[...seen]}`,
      ).toBe(true);
      const again = await add(w2, big, 0);
      expect(again.status, again.text).toBe(200);
      const sz = await sizes(w2, big.origin);
      expect(sz.cosigned).toBeLessThanOrEqual(sz.audited);
    } finally {
      await w2.close();
      await s.close();
      await db2.drop();
    }
  });
});

describe("an auditing witness refuses a log that breaks the rules", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase("witness_audit_bad");
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function run(
    name: string,
    breakIt: (log: AuditLog) => void,
  ): Promise<{ ev: AuditEvidence; verdict: string; first: number }> {
    const log = new AuditLog(`audit.example/${name}`);
    log.genesis();
    log.grow(30, 20);
    const s = await log.serve();
    const w = await auditingWitness(db, log, s.url);
    try {
      const first = log.size;
      expect((await add(w, log, 0)).status).toBe(200);
      breakIt(log);
      log.grow(5, 20);
      const r = await add(w, log, first);
      expect(r.status, r.text).toBe(403);
      expect(r.text).toMatch(/^LOG_VIOLATION: /);
      // Refused for good, and the database never moved past the audited prefix.
      expect((await add(w, log, first)).text).toMatch(/^LOG_VIOLATION: /);
      expect((await sizes(w, log.origin)).cosigned).toBe(first);
      const [ev] = (await evidence(w)).filter((e) => e.origin === log.origin);
      expect(ev).toBeDefined();
      const { verdict } = checkAuditEvidence(ev!, parseVerifierKey(log.vkey));
      return { ev: ev!, verdict, first };
    } finally {
      await w.close();
      await s.close();
    }
  }

  it("an event no authoriser could sign: a delegate adds a key", async () => {
    const { ev, verdict } = await run("policy", (log) => {
      const invite = log.inviteIndex(3);
      // user3 has its key already; a delegate adding one breaks rule 4 (and the chain).
      const forged = sealEvent(
        keyAdd({
          org: "acme",
          subject: "user3",
          seq: 2,
          prev: log.hash(invite + 1),
          time: T0 + 4,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim" },
          key: { id: "k2", alg: "ed25519", use: "sign", pub: pub(DELEGATE) },
        }),
        [DELEGATE],
      );
      log.append(forged);
    });
    expect(ev.violation.code).toBe("POLICY_VIOLATION");
    expect(verdict).toBe("replay");
  });

  it("a second event at an existing seq: both entries shipped, proven from the evidence alone", async () => {
    const { ev, verdict } = await run("dup", (log) => {
      const invite = log.inviteIndex(7);
      log.append(log.firstKey(7, log.hash(invite), "another key"));
    });
    expect(ev.violation).toMatchObject({ code: "POLICY_VIOLATION" });
    expect(ev.entries).toHaveLength(2);
    expect(verdict).toBe("proven");
  });

  it("an index leaf whose root is wrong", async () => {
    const { ev, verdict } = await run("index", (log) => {
      log.grow(2, 1000, false);
      log.seal({ root: new Uint8Array(32).fill(7) });
    });
    expect(ev.violation.code).toBe("INDEX_MISMATCH");
    expect(verdict).toBe("replay");
  });
});
