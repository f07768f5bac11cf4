// Evidence from an auditing witness travels by gossip: a plain witness with the log's URL
// confirms a violation that needs the log's history by replaying the log itself and stops
// cosigning; a plain witness without the URL still takes evidence that proves itself (a second
// event at an existing seq); evidence claiming a violation an honest log does not have is
// refuted and changes nothing.

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyAdd, sealEvent } from "../../core/event-build.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { type AuditEvidence, anyEvidenceFromJson, anyEvidenceToJson } from "../../witness/audit-evidence.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, startWitness } from "../../witness/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { AuditLog, DELEGATE, pub, T0 } from "./audit-fixture.js";
import { tempDir, witnessConfig, witnessKey } from "./helpers.js";

async function witness(
  db: TestDatabase,
  name: string,
  log: AuditLog,
  opts: { url?: string; audit?: boolean; peers?: { url: string; vkey: string }[] },
): Promise<RunningWitness> {
  const key = witnessKey(name, name.length + 50);
  const base = witnessConfig({ dir: tempDir(), key, logs: [], databaseUrl: db.url, peers: opts.peers ?? [] });
  return startWitness(
    parseWitnessConfig({
      ...base,
      logs: [
        {
          origin: log.origin,
          vkeys: [log.vkey],
          ...(opts.url ? { url: opts.url } : {}),
          ...(opts.audit ? { audit: true } : {}),
        },
      ],
      auditWaitMs: 20_000,
    }),
  );
}

async function add(w: RunningWitness, log: AuditLog, oldSize: number) {
  const res = await fetch(`${w.url}/add-checkpoint`, {
    method: "POST",
    body: formatAddCheckpoint(oldSize, log.proof(oldSize), log.note()),
  });
  return { status: res.status, text: await res.text() };
}

describe("audit evidence over gossip", () => {
  const dbs: TestDatabase[] = [];
  const closers: (() => Promise<void>)[] = [];
  const db = async (n: string) => {
    const d = await createTestDatabase(n);
    dbs.push(d);
    return d;
  };
  beforeAll(() => {});
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
    for (const d of dbs) await d.drop();
  });

  it("a plain witness with the log's URL replays to confirm, then refuses the log", async () => {
    const log = new AuditLog("audit.example/gossip-policy");
    log.genesis();
    log.grow(20, 10);
    const s = await log.serve();
    closers.push(s.close);
    const auditor = await witness(await db("wg_a"), "auditor-a", log, { url: s.url, audit: true });
    closers.push(() => auditor.close());
    const plain = await witness(await db("wg_b"), "plain-b", log, {
      url: s.url,
      peers: [{ url: auditor.url, vkey: auditor.vkey }],
    });
    closers.push(() => plain.close());
    const first = log.size;
    expect((await add(auditor, log, 0)).status).toBe(200);
    expect((await add(plain, log, 0)).status).toBe(200);
    const invite = log.inviteIndex(2);
    log.append(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "user2",
          seq: 2,
          prev: log.hash(invite + 1),
          time: T0 + 4,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim" },
          key: { id: "k2", alg: "ed25519", use: "sign", pub: pub(DELEGATE) },
        }),
        [DELEGATE],
      ),
    );
    log.grow(3, 10);
    expect((await add(auditor, log, first)).status).toBe(403);
    // The plain witness alone would cosign it: it only checks that the log grew.
    await plain.gossip.runOnce();
    const list = await plain.store.listEvidence();
    expect(list.map((e) => e.kind)).toEqual(["audit"]);
    const r = await add(plain, log, first);
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/^LOG_VIOLATION: /);
  });

  it("without the URL, only evidence that proves itself; refuted evidence changes nothing", async () => {
    const log = new AuditLog("audit.example/gossip-dup");
    log.genesis();
    log.grow(20, 10);
    const s = await log.serve();
    closers.push(s.close);
    const auditor = await witness(await db("wg_c"), "auditor-c", log, { url: s.url, audit: true });
    closers.push(() => auditor.close());
    const first = log.size;
    expect((await add(auditor, log, 0)).status).toBe(200);

    // A lying peer: evidence that the honest prefix breaks a rule (it does not).
    const honestCp = log.note(first);
    const lie: AuditEvidence = {
      origin: log.origin,
      kind: "audit",
      note: honestCp,
      violation: { index: 5, code: "POLICY_VIOLATION", policyCode: "NOT_ADMIN", message: "lie" },
      entries: [{ index: 5, leaf: Buffer.from(log.leaves[5]!).toString("base64"), inclusion: [] }],
    };
    const { proveInclusionSync } = await import("../../core/proof.js");
    lie.entries[0]!.inclusion = proveInclusionSync(5, first, log.reader(first)).map((h) =>
      Buffer.from(h).toString("base64"),
    );
    const liar = new Hono();
    liar.get("/v1/evidence", (c) => c.json([anyEvidenceToJson(lie)]));
    const liarServer = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const x = serve({ fetch: liar.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(x));
    });
    closers.push(() => new Promise<void>((r) => liarServer.close(() => r())));
    const liarUrl = `http://127.0.0.1:${(liarServer.address() as AddressInfo).port}`;

    const withUrl = await witness(await db("wg_d"), "plain-d", log, {
      url: s.url,
      peers: [{ url: liarUrl, vkey: auditor.vkey }],
    });
    closers.push(() => withUrl.close());
    const noUrl = await witness(await db("wg_e"), "plain-e", log, {
      peers: [{ url: auditor.url, vkey: auditor.vkey }],
    });
    closers.push(() => noUrl.close());
    await withUrl.gossip.runOnce();
    expect(await withUrl.store.listEvidence()).toEqual([]);
    expect((await add(withUrl, log, 0)).status).toBe(200);

    const invite = log.inviteIndex(4);
    log.append(log.firstKey(4, log.hash(invite), "second key"));
    log.grow(3, 10);
    expect((await add(auditor, log, first)).status).toBe(403);
    const served = ((await (await fetch(`${auditor.url}/v1/evidence`)).json()) as unknown[]).map(
      anyEvidenceFromJson,
    );
    expect(served[0]).toMatchObject({ kind: "audit", violation: { code: "POLICY_VIOLATION" } });
    expect((served[0] as AuditEvidence).entries).toHaveLength(2);
    await noUrl.gossip.runOnce();
    expect((await noUrl.store.listEvidence()).map((e) => e.kind)).toEqual(["audit"]);
    expect((await add(noUrl, log, 0)).status).toBe(403);
  });
});
