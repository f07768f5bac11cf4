// End to end: a log with three witnesses, one of them auditing (it replays every entry with the
// trustlog rules before it cosigns), all real `trustlog` processes on loopback, gossiping every
// second. The operator injects (test/helpers/inject.ts) one entry that breaks the rules per log:
// an event its signer had no authority for, a second event at an existing seq, an index leaf
// that points an account at an old head. Each time the plain witnesses cosign it (an honest
// append), the auditor refuses it with evidence, the evidence reaches the plain witnesses by
// gossip and they refuse the log too, and a client whose policy requires the auditor refuses
// the checkpoint with AUDIT_QUORUM_NOT_MET (library and CLI) before reading any history.
// An honest log under load keeps being cosigned by the auditor.
//
// The log process gets a new port at each restart; witnesses reach it through a fixed proxy.

import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogClient } from "../../client/log-client.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { type VerifyKeyOptions, verifyKey } from "../../client/verify-key.js";
import { toBase64 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { isTrustlogError, type TrustlogError } from "../../core/errors.js";
import type { Envelope } from "../../core/event.js";
import { NOTE_TYPE_COSIGNATURE_V1, parseNote } from "../../core/note.js";
import { generateSignerKey } from "../../core/note-keys.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";
import { type InjectOptions, injectEntry } from "../helpers/inject.js";
import {
  freePort,
  runTrustlog,
  spawnWitness,
  startTrustlog,
  type TrustlogProcess,
  type WitnessProcess,
} from "../helpers/process.js";
import { type LogIdentity, newLogIdentity, stopLog, untilCosigned } from "../helpers/witnessed-log.js";

const ROOT = testKey("audit-e2e-root");
const BRIDGE = testKey("audit-e2e-bridge");
const LAPTOP = testKey("audit-e2e-laptop");
const PHONE = testKey("audit-e2e-phone");
const MALLORY = testKey("audit-e2e-mallory");

const ORIGINS = {
  policy: "audit-policy.e2e.example/log",
  dup: "audit-dup.e2e.example/log",
  index: "audit-index.e2e.example/log",
  load: "audit-load.e2e.example/log",
} as const;
type Name = keyof typeof ORIGINS;

/** A fixed URL in front of a log whose port changes at every restart. */
async function proxy(): Promise<{ url: string; target: { url: string }; server: Server }> {
  const target = { url: "" };
  const server = createServer(async (req, res) => {
    try {
      const r = await fetch(target.url + req.url, { method: req.method ?? "GET" });
      const headers: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "content-encoding" && k !== "transfer-encoding") headers[k] = v;
      });
      res.writeHead(r.status, headers);
      res.end(Buffer.from(await r.arrayBuffer()));
    } catch {
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, target, server };
}

describe("auditing witness, end to end", () => {
  let dir: string;
  const ids = {} as Record<Name, LogIdentity>;
  const proxies = {} as Record<Name, Awaited<ReturnType<typeof proxy>>>;
  const dbs: TestDatabase[] = [];
  const witnesses: { name: string; vkey: string; url: string; proc?: WitnessProcess }[] = [];
  const skeys: string[] = [];
  const procs: TrustlogProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "trustlog-audit-e2e-"));
    for (const [k, origin] of Object.entries(ORIGINS)) {
      ids[k as Name] = newLogIdentity(dir, origin);
      proxies[k as Name] = await proxy();
    }
    const ports = [await freePort(), await freePort(), await freePort()];
    for (let i = 0; i < 3; i++) {
      const name = `${i === 0 ? "auditor" : `w${i}`}.audit-e2e.example`;
      const k = generateSignerKey(name, new Uint8Array(32).fill(90 + i), NOTE_TYPE_COSIGNATURE_V1);
      witnesses.push({ name, vkey: k.vkey, url: `http://127.0.0.1:${ports[i]}` });
      skeys.push(k.skey);
    }
    await Promise.all(
      witnesses.map(async (w, i) => {
        const db = await createTestDatabase(`audit_e2e_w${i}`);
        dbs.push(db);
        const wdir = mkdtempSync(join(dir, `w${i}-`));
        const keyFile = join(wdir, "witness.key");
        writeFileSync(keyFile, `${skeys[i]}\n`, { mode: 0o600 });
        w.proc = await spawnWitness(wdir, {
          host: "127.0.0.1",
          port: ports[i]!,
          keyFile,
          databaseUrl: db.url,
          logs: (Object.keys(ORIGINS) as Name[]).map((n) => ({
            origin: ORIGINS[n],
            vkeys: [ids[n].vkey],
            url: proxies[n].url,
            audit: i === 0,
          })),
          peers: witnesses.filter((_, j) => j !== i).map((p) => ({ url: p.url, vkey: p.vkey })),
          pullIntervalSeconds: 0,
          gossipIntervalSeconds: 1,
          auditWaitMs: 8_000,
          logLevel: "warn",
        });
      }),
    );
  }, 120_000);

  afterAll(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    for (const w of witnesses) await w.proc?.stop("SIGKILL");
    for (const p of Object.values(proxies)) p.server.close();
    for (const d of dbs) await d.drop();
  });

  const names = () => witnesses.map((w) => w.name);
  const witnessEnv = () => JSON.stringify(witnesses.map((w) => ({ name: w.name, vkey: w.vkey, url: w.url })));

  async function startLog(n: Name, db: TestDatabase): Promise<TrustlogProcess> {
    const p = await startTrustlog(
      [
        "serve",
        "--database-url",
        db.url,
        "--key-file",
        ids[n].keyFile,
        "--origin",
        ORIGINS[n],
        "--data-dir",
        join(dir, `${n}-data`),
      ],
      {
        env: {
          TRUSTLOG_WITNESSES: witnessEnv(),
          TRUSTLOG_QUORUM: "2",
          TRUSTLOG_QUORUM_WAIT_MS: "2000",
          TRUSTLOG_WITNESS_REFRESH_SECONDS: "1",
        },
      },
    );
    procs.push(p);
    proxies[n].target.url = p.url;
    return p;
  }

  const clientOpts = (url: string, n: Name, extra: Partial<VerifyKeyOptions> = {}): VerifyKeyOptions => ({
    log: { url, vkey: ids[n].vkey },
    witnesses: witnesses.slice(1).map((w) => w.vkey),
    quorum: 2,
    org: "acme",
    account: "alice",
    store: new MemoryTrustStore(),
    ...extra,
  });
  const auditorPolicy = () => ({ auditors: [witnesses[0]!.vkey] });

  async function refusal(p: Promise<unknown>): Promise<TrustlogError> {
    try {
      await p;
    } catch (e) {
      if (isTrustlogError(e)) return e;
      throw e;
    }
    throw new Error("expected a refusal");
  }

  /** Until `w` serves audit evidence for `origin`. */
  async function untilEvidence(
    w: { url: string },
    origin: string,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = (await (await fetch(`${w.url}/v1/evidence`)).json()) as Record<string, unknown>[];
      const e = list.find((x) => x.origin === origin && x.kind === "audit");
      if (e) return e;
      if (Date.now() > deadline) throw new Error(`no audit evidence for ${origin} at ${w.url}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function attack(
    n: Name,
    build: (h: History) => Envelope,
    opts: InjectOptions,
    expectCode: { code: string; policyCode?: string },
  ): Promise<void> {
    const db = await createTestDatabase(`audit_e2e_${n}`);
    dbs.push(db);
    let log = await startLog(n, db);
    const h = new History({ start: Math.floor(Date.now() / 1000) });
    const submit = async (e: Envelope) => {
      h.append(e);
      return new LogClient(log.url).submit(e);
    };
    await submit(h.orgCreate("acme", { admins: [ROOT] }));
    await submit(
      h.grantIssue(
        "acme",
        {
          id: "scim",
          delegate: BRIDGE,
          ops: ["account.invite"],
          notBefore: h.now - 60,
          notAfter: h.now + 3600,
        },
        admin(ROOT),
      ),
    );
    await submit(h.invite("acme", "alice", delegate(BRIDGE, "scim")));
    const last = await submit(h.keyAdd("acme", "alice", LAPTOP, { id: "laptop" }));
    const honestSize = parseCheckpoint(parseNote(last.checkpoint).body).size;
    await untilCosigned(log.url, { names: names() }, 3, honestSize);
    // A sender requiring the auditor verifies alice, relying on both statements.
    const ok = await verifyKey(clientOpts(log.url, n, auditorPolicy()));
    expect(ok.statements.map((s) => [s.statement, s.witnesses])).toEqual([
      ["cosignature/v1", [witnesses[1]!.name, witnesses[2]!.name]],
      ["trustlog-audit/v1", [witnesses[0]!.name]],
    ]);

    // The operator writes the bad entry in the back and restarts the log.
    const bad = build(h);
    await stopLog(log);
    const ev = bad.event;
    const injected = await injectEntry(
      { databaseUrl: db.url, keyFile: ids[n].keyFile },
      bad,
      { org: ev.org, subject: ev.subject, type: ev.type },
      opts,
    );
    log = await startLog(n, db);
    // The plain witnesses cosign it (it is an append); the auditor does not.
    await untilCosigned(log.url, { names: names().slice(1) }, 2, injected.size);
    const evidence = await untilEvidence(witnesses[0]!, ORIGINS[n]);
    expect(evidence.violation).toMatchObject({
      index: expectCode.code === "INDEX_MISMATCH" ? injected.indexLeaf : injected.index,
      code: expectCode.code,
      ...(expectCode.policyCode ? { policy_code: expectCode.policyCode } : {}),
    });
    // Gossip carries it to the plain witnesses, which check it and refuse the log too.
    for (const w of witnesses.slice(1)) {
      await untilEvidence(w, ORIGINS[n]);
      const res = await fetch(`${w.url}/add-checkpoint`, {
        method: "POST",
        body: formatAddCheckpoint(injected.size, [], injected.note),
      });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/^LOG_VIOLATION: /);
    }
    // A policy requiring the auditor refuses the checkpoint itself, before it reads any history.
    const e = await refusal(verifyKey(clientOpts(log.url, n, auditorPolicy())));
    expect(e.code).toBe("AUDIT_QUORUM_NOT_MET");
    if (n === "policy") {
      const cli = await runTrustlog([
        "verify-key",
        "--log",
        log.url,
        "--log-key",
        ids[n].vkey,
        ...witnesses.slice(1).flatMap((w) => ["--witness", w.vkey]),
        "--auditor",
        witnesses[0]!.vkey,
        "--unsafe-ephemeral-state",
        "--org",
        "acme",
        "--account",
        "alice",
        "--json",
      ]);
      expect(cli.code).toBe(1);
      expect(JSON.parse(cli.stdout).error).toMatchObject({ code: "AUDIT_QUORUM_NOT_MET", quorum: 1 });
    }
    await stopLog(log);
  }

  it("an event no authoriser signed: MALLORY adds herself as an admin", async () => {
    await attack(
      "policy",
      (h) => h.adminAdd("acme", MALLORY, admin(MALLORY)),
      {},
      { code: "POLICY_VIOLATION" },
    );
  }, 180_000);

  it("a second event at an existing seq: another first key for alice", async () => {
    await attack(
      "dup",
      (h) => {
        const invite = h.entries.find((x) => x.envelope.event.type === "account.invite")!;
        return h.keyAdd("acme", "alice", PHONE, {
          id: "phone",
          seq: 1,
          prev: toBase64(invite.leafHash),
          inviteSecret: h.inviteSecret("acme", "alice"),
        });
      },
      {},
      { code: "POLICY_VIOLATION", policyCode: "CHAIN_CONFLICT" },
    );
  }, 180_000);

  it("an index leaf that points alice at her old head", async () => {
    await attack(
      "index",
      (h) => h.keyAdd("acme", "alice", PHONE, { id: "phone", by: self(LAPTOP) }),
      { index: "state" },
      { code: "INDEX_MISMATCH" },
    );
  }, 180_000);

  it("an honest log under load keeps being cosigned by the auditor", async () => {
    const n: Name = "load";
    const db = await createTestDatabase("audit_e2e_load");
    dbs.push(db);
    const log = await startLog(n, db);
    const h = new History({ start: Math.floor(Date.now() / 1000) });
    const post = async (events: Envelope[]) => {
      for (const e of events) h.append(e);
      const res = await fetch(`${log.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events }),
      });
      expect(res.status).toBe(200);
    };
    await post([h.orgCreate("acme", { admins: [ROOT] })]);
    await post([
      h.grantIssue(
        "acme",
        {
          id: "scim",
          delegate: BRIDGE,
          ops: ["account.invite"],
          notBefore: h.now - 60,
          notAfter: h.now + 3600,
        },
        admin(ROOT),
      ),
    ]);
    // ~10 s of invites from 4 concurrent writers, 20 per request; meanwhile sample how far the
    // auditor's cosigned checkpoint trails the log's.
    const auditorCp = async () => {
      const t = await (
        await fetch(`${witnesses[0]!.url}/v1/logs/${encodeURIComponent(ORIGINS[n])}/checkpoint`)
      ).text();
      return Number(t.split("\n")[1]);
    };
    const logCp = async () => Number((await (await fetch(`${log.url}/checkpoint`)).text()).split("\n")[1]);
    const samples: { size: number; at: number }[] = [];
    const delays: number[] = [];
    let stopAt = 0;
    const sampler = (async () => {
      // After the load, until the auditor caught up with every size sampled (or 30 s).
      while (stopAt === 0 || (samples.length > 0 && Date.now() - stopAt < 30_000)) {
        const now = Date.now();
        const [l, a] = await Promise.all([logCp(), auditorCp()]);
        if (stopAt === 0) samples.push({ size: l, at: now });
        while (samples.length > 0 && samples[0]!.size <= a) delays.push(now - samples.shift()!.at);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() - started < 10_000) {
          const batch = Array.from({ length: 20 }, () =>
            h.invite("acme", `u${next++}`, delegate(BRIDGE, "scim")),
          );
          await post(batch);
        }
      }),
    );
    stopAt = Date.now();
    await sampler;
    expect(samples).toEqual([]);
    const events = next;
    delays.sort((a, b) => a - b);
    const p50 = delays[Math.floor(delays.length / 2)]!;
    const p99 = delays[Math.floor(delays.length * 0.99)]!;
    console.log(`load: ${events} events in 10 s; auditor cosignature delay p50 ${p50} ms, p99 ${p99} ms`);
    const status = (
      (await (await fetch(`${witnesses[0]!.url}/v1/audit`)).json()) as { origin: string; phase: string }[]
    ).find((s) => s.origin === ORIGINS[n]);
    expect(status?.phase).toBe("ready");
    expect(events).toBeGreaterThan(200);
    // Bounded: the auditor stays within a few seconds of the log even on a loaded test machine.
    expect(p99).toBeLessThan(10_000);
    expect(await (await fetch(`${witnesses[0]!.url}/v1/evidence`)).json()).not.toContainEqual(
      expect.objectContaining({ origin: ORIGINS[n] }),
    );
    await stopLog(log);
  }, 180_000);
});
