// End to end: a sender's client against a log operator who turns against it. A real log process
// on PostgreSQL and three real witness processes (quorum 2); the operator holds the log key and
// the database, so it can sign any checkpoint, write any leaf, serve an old copy of the
// database, or hide rows. Witnesses check that each checkpoint extends the last (they cosign an
// injected leaf: it is an honest append), not the policy: only clients that replay every rule
// catch the rest. Each attack is refused with its stable code, by the library and by the CLI.
//
// Logs: "main" carries the sender's trust store through verification, quorum, rollback and a
// hidden event (in that order: each step builds on the previous state); the forged-event,
// delegate-key and expired-grant attacks each get their own log (own origin, own database),
// since `audit` stops at the first violation of a log and must name that attack's index.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogClient } from "../../client/log-client.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { type VerifyKeyOptions, verifyKey } from "../../client/verify-key.js";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { isTrustlogError, type TrustlogError } from "../../core/errors.js";
import type { Envelope } from "../../core/event.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";
import { deleteEntryRow, injectEntry, snapshotDatabase } from "../helpers/inject.js";
import { runTrustlog, type TrustlogProcess } from "../helpers/process.js";
import {
  absentWitnessVkey,
  type LogIdentity,
  newLogIdentity,
  startLog,
  startWitnesses,
  stopLog,
  untilCosigned,
  type Witnesses,
} from "../helpers/witnessed-log.js";

const ROOT = testKey("attacks-acme-root");
const BRIDGE = testKey("attacks-scim-bridge");
const LAPTOP = testKey("attacks-alice-laptop");
const PHONE = testKey("attacks-alice-phone");
const MALLORY = testKey("attacks-mallory");
const GRANT_HOURS = 1;

const ORIGINS = {
  main: "attacks-main.e2e.example/log",
  forged: "attacks-forged.e2e.example/log",
  delegateKey: "attacks-delegate-key.e2e.example/log",
  expired: "attacks-expired.e2e.example/log",
} as const;

/** One log: its key, its database, its process (restartable) and the history written to it. */
class Log {
  proc!: TrustlogProcess;
  readonly history = new History({ start: Math.floor(Date.now() / 1000) });
  constructor(
    readonly id: LogIdentity,
    readonly db: TestDatabase,
    private readonly witnesses: Witnesses,
    private readonly dataDir: string,
  ) {}

  get url(): string {
    return this.proc.url;
  }

  get size(): number {
    return this.history.entries.length;
  }

  /** Starts (or restarts) the log process on its database; `env` overrides its settings. */
  async start(env: Record<string, string> = {}): Promise<void> {
    this.proc = await startLog(this.id, this.db.url, this.witnesses, this.dataDir, env);
  }

  /** Graceful: the sequencer drains and the database connections close (needed for TEMPLATE). */
  stop(): Promise<void> {
    return stopLog(this.proc);
  }

  /** Submits an honest event over HTTP; the policy accepts it locally and in the log alike. */
  async submit(envelope: Envelope): Promise<void> {
    const e = this.history.append(envelope);
    const r = await new LogClient(this.url).submit(envelope);
    expect(r.result.index).toBe(e.index);
  }

  /** Waits for `n` witness cosignatures on the latest checkpoint, of at least the history's size. */
  cosigned(n = 3): Promise<string> {
    return untilCosigned(this.url, this.witnesses, n, this.size);
  }

  /** acme (one admin), a SCIM grant valid for GRANT_HOURS, alice invited by it and her laptop key. */
  async writeHonestHistory(): Promise<void> {
    const h = this.history;
    await this.submit(h.orgCreate("acme", { admins: [ROOT] }));
    await this.submit(
      h.grantIssue(
        "acme",
        {
          id: "scim",
          delegate: BRIDGE,
          ops: ["account.invite", "account.suspend", "key.revoke"],
          notBefore: h.now - 60,
          notAfter: h.now + GRANT_HOURS * 3600,
        },
        admin(ROOT),
      ),
    );
    await this.submit(h.invite("acme", "alice", delegate(BRIDGE, "scim")));
    await this.submit(h.keyAdd("acme", "alice", LAPTOP, { id: "laptop" }));
  }
}

async function refusal(p: Promise<unknown>): Promise<TrustlogError> {
  try {
    await p;
  } catch (e) {
    if (isTrustlogError(e)) return e;
    throw e;
  }
  throw new Error("accepted; expected a refusal");
}

describe("a sender's client refuses what a dishonest log operator serves", () => {
  let dir: string;
  let witnesses: Witnesses;
  const ids = {} as Record<keyof typeof ORIGINS, LogIdentity>;
  const logs: Log[] = [];
  const extraDbs: { drop(): Promise<void> }[] = [];
  const extraProcs: TrustlogProcess[] = [];
  let main: Log;
  // The sender's memory, carried from one step to the next on the main log.
  const senderStore = new MemoryTrustStore();
  let stateFile: string;

  const policy = () => ({ witnesses: witnesses.vkeys, quorum: 2 });
  const verifyOpts = (log: Log, extra: Partial<VerifyKeyOptions> = {}): VerifyKeyOptions => ({
    log: { url: log.url, vkey: log.id.vkey },
    ...policy(),
    org: "acme",
    account: "alice",
    store: senderStore,
    ...extra,
  });
  const cliArgs = (url: string, vkey: string, ws: string[] = witnesses.vkeys, quorum = 2) => [
    "--log",
    url,
    "--log-key",
    vkey,
    ...ws.flatMap((w) => ["--witness", w]),
    "--quorum",
    String(quorum),
  ];
  const verifyCli = async (args: string[]) => {
    const r = await runTrustlog(["verify-key", ...args, "--org", "acme", "--account", "alice", "--json"]);
    return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
  };
  const auditCli = async (log: Log) => {
    const r = await runTrustlog(["audit", ...cliArgs(log.url, log.id.vkey), "--json", "--no-progress"]);
    return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
  };

  async function newLog(name: keyof typeof ORIGINS): Promise<Log> {
    const log = new Log(ids[name], await createTestDatabase(`atk_${name}`), witnesses, join(dir, name));
    logs.push(log);
    await log.start();
    return log;
  }

  /** A log with the honest history, then `envelope` written straight into its stopped database. */
  async function logWithInjected(
    name: keyof typeof ORIGINS,
    build: (h: History) => Envelope,
  ): Promise<{ log: Log; index: number; front: TrustlogError }> {
    const log = await newLog(name);
    await log.writeHonestHistory();
    await log.cosigned();
    const envelope = build(log.history);
    // The server refuses it through the front door...
    const front = await refusal(new LogClient(log.url).submit(envelope));
    await log.stop();
    // ...so the operator writes it in the back.
    const ev = envelope.event;
    const injected = await injectEntry({ databaseUrl: log.db.url, keyFile: log.id.keyFile }, envelope, {
      org: ev.org,
      subject: ev.subject,
      type: ev.type,
    });
    expect(injected.index).toBe(log.size);
    await log.start();
    // Restarted, the log re-submits its latest checkpoint: an append, so the witnesses cosign.
    await untilCosigned(log.url, witnesses, 3, log.size + 1);
    return { log, index: injected.index, front };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "trustlog-attacks-e2e-"));
    for (const [k, origin] of Object.entries(ORIGINS))
      ids[k as keyof typeof ORIGINS] = newLogIdentity(dir, origin);
    witnesses = await startWitnesses(dir, Object.values(ids), { domain: "attacks-e2e.example" });
    stateFile = join(dir, "sender-state.json");
    main = await newLog("main");
    await main.writeHonestHistory();
    await main.cosigned();
  }, 120_000);

  afterAll(async () => {
    for (const p of extraProcs) await p.stop("SIGKILL");
    for (const l of logs) await l.proc?.stop("SIGKILL");
    await witnesses?.stop();
    for (const d of extraDbs) await d.drop();
    for (const l of logs) await l.db.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a sender verifies alice's key with the library and the CLI", async () => {
    const r = await verifyKey(verifyOpts(main, { key: LAPTOP.pub }));
    expect(r.keys.map((k) => k.pub)).toEqual([LAPTOP.pub]);
    expect(r.checkpoint.size).toBe(4);
    expect(r.cosigners.length).toBeGreaterThanOrEqual(2);

    const cli = await verifyCli([
      ...cliArgs(main.url, main.id.vkey),
      "--key",
      LAPTOP.pub,
      "--state",
      stateFile,
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.json).toMatchObject({ ok: true, status: "active", checkpoint: { size: 4 } });
  }, 60_000);

  it("1. refuses a checkpoint signed by the log without the witness quorum: QUORUM_NOT_MET", async () => {
    // The log's checkpoint is cosigned by w0..w2; a sender whose policy lists one of them and
    // two witnesses this log never reached cannot get 2 of its 3.
    const ws = [
      witnesses.vkeys[0]!,
      absentWitnessVkey("absent-1.example"),
      absentWitnessVkey("absent-2.example"),
    ];
    const e = await refusal(verifyKey(verifyOpts(main, { witnesses: ws, quorum: 2 })));
    expect(e.code).toBe("QUORUM_NOT_MET");
    expect(e.details).toMatchObject({ cosigned: [witnesses.names[0]], quorum: 2 });

    const cli = await verifyCli([...cliArgs(main.url, main.id.vkey, ws, 2), "--state", stateFile]);
    expect(cli.code).toBe(1);
    expect(cli.json).toMatchObject({ ok: false, error: { code: "QUORUM_NOT_MET", quorum: 2 } });
    // The refusal left the sender's trust state where it was.
    expect((await senderStore.load(main.id.vkey)).checkpoint?.size).toBe(4);

    // The operator restarts the log showing its checkpoints to w0 alone (as it would to show
    // a view the other witnesses must not see): the next checkpoint is signed by the log and
    // cosigned by w0 only, short of the sender's 2 of 3.
    await main.stop();
    const onlyW0 = JSON.stringify(JSON.parse(witnesses.config()).slice(0, 1));
    await main.start({ TRUSTLOG_WITNESSES: onlyW0, TRUSTLOG_QUORUM: "1" });
    await main.submit(main.history.orgCreate("globex", { admins: [ROOT] }));
    await untilCosigned(main.url, { names: [witnesses.names[0]!] }, 1, main.size);
    const lone = await refusal(verifyKey(verifyOpts(main)));
    expect(lone.code).toBe("QUORUM_NOT_MET");
    expect(lone.details).toEqual({ cosigned: [witnesses.names[0]], quorum: 2 });
    const cli2 = await verifyCli([...cliArgs(main.url, main.id.vkey), "--state", stateFile]);
    expect(cli2.code).toBe(1);
    expect(cli2.json).toMatchObject({
      ok: false,
      error: { code: "QUORUM_NOT_MET", cosigned: [witnesses.names[0]] },
    });
    expect((await senderStore.load(main.id.vkey)).checkpoint?.size).toBe(4);

    // Back with all three witnesses: the restarted log re-submits that checkpoint, an append
    // of what they cosigned before, so they cosign it and the sender accepts it.
    await main.stop();
    await main.start();
    await main.cosigned(3);
    expect((await verifyKey(verifyOpts(main))).checkpoint.size).toBe(main.size);
  }, 90_000);

  it("2. refuses a rolled-back checkpoint that still carries valid cosignatures: ROLLBACK", async () => {
    // The operator keeps a copy of the database at size M...
    await main.stop();
    const snap = await snapshotDatabase(main.db.url, `atk_snap_${Date.now().toString(36)}`);
    extraDbs.push(snap);
    const m = main.size;
    // ...the log grows to N > M and the sender verifies there (its trust store is now at N)...
    await main.start();
    await main.submit(main.history.keyAdd("acme", "alice", PHONE, { id: "phone", by: self(LAPTOP) }));
    await main.cosigned(2);
    const n = main.size;
    expect(n).toBeGreaterThan(m);
    const r = await verifyKey(verifyOpts(main, { key: PHONE.pub }));
    expect(r.checkpoint.size).toBe(n);
    const ok = await verifyCli([...cliArgs(main.url, main.id.vkey), "--state", stateFile]);
    expect(ok.code, ok.stderr).toBe(0);

    // ...then a second log process, same key, serves the copy: its checkpoint M is signed by the
    // log and cosigned by the witnesses (from when it was current), without PHONE.
    const old = await startLog(main.id, snap.url, witnesses, join(dir, "snap"));
    extraProcs.push(old);
    const oldLog = { url: old.url, id: main.id } as Log;
    const fresh = await verifyKey(verifyOpts(oldLog, { store: new MemoryTrustStore() }));
    // A client with no memory accepts it (freshness is not covered, docs/client.md): the quorum
    // holds, so only the trust store can tell.
    expect(fresh.checkpoint.size).toBe(m);
    expect(fresh.keys.map((k) => k.pub)).toEqual([LAPTOP.pub]);

    const e = await refusal(verifyKey(verifyOpts(oldLog)));
    expect(e.code).toBe("ROLLBACK");
    expect(e.details).toMatchObject({ size: m, trustedSize: n });
    const cli = await verifyCli([...cliArgs(old.url, main.id.vkey), "--state", stateFile]);
    expect(cli.code).toBe(1);
    expect(cli.json).toMatchObject({ ok: false, error: { code: "ROLLBACK", size: m, trustedSize: n } });
    await stopLog(old);
  }, 120_000);

  it("3. refuses a history with an event hidden from it: CHAIN_BROKEN, then HISTORY_TRUNCATED", async () => {
    // alice's chain on the main log: invite (seq 0), laptop (seq 1), phone (seq 2); the sender
    // saw all three in step 2. The operator drops entry rows: the tree, tiles and checkpoint
    // stay as they were, so every event still served keeps a valid inclusion proof (hence not
    // INCLUSION_INVALID); what breaks is the chain, or the sender's memory of it.
    const alice = main.history.entries.filter((e) => e.envelope.event.subject === "alice");
    expect(alice.map((e) => e.envelope.event.seq)).toEqual([0, 1, 2]);
    const [invite, laptop, phone] = alice as [(typeof alice)[0], (typeof alice)[0], (typeof alice)[0]];

    // Hiding an event in the middle (the laptop key): the phone key's seq 2 follows seq 0, and
    // its prev points at a leaf that is not there. checkChain catches it before any replay or
    // trust-store check, so the sender and a client with no memory get the same CHAIN_BROKEN,
    // naming the first event out of place.
    await main.stop();
    await deleteEntryRow({ databaseUrl: main.db.url }, laptop.index);
    await main.start();
    for (const store of [senderStore, new MemoryTrustStore()]) {
      const e = await refusal(verifyKey(verifyOpts(main, { store })));
      expect(e.code).toBe("CHAIN_BROKEN");
      expect(e.details).toEqual({ index: phone.index, seq: 2 });
    }
    const cli = await verifyCli([...cliArgs(main.url, main.id.vkey), "--state", stateFile]);
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({ code: "CHAIN_BROKEN", index: phone.index, seq: 2 });

    // Hiding the phone key too leaves a chain that is valid on its own (the invite alone, with
    // its proof): a bundle cannot show that events are missing after its end, and a client
    // with no memory accepts it (docs/client.md, threat model). The sender saw seq 2 before:
    // HISTORY_TRUNCATED, by the library and by the CLI's trust-state file.
    await main.stop();
    await deleteEntryRow({ databaseUrl: main.db.url }, phone.index);
    await main.start();
    const fresh = await verifyKey(verifyOpts(main, { store: new MemoryTrustStore() }));
    expect(fresh.status).toBe("invited");
    expect(fresh.events.filter((e) => e.index === invite.index)).toHaveLength(1);
    const e = await refusal(verifyKey(verifyOpts(main)));
    expect(e.code).toBe("HISTORY_TRUNCATED");
    expect(e.details).toEqual({ subject: "alice", seenSeq: 2, served: 1 });
    const cli2 = await verifyCli([...cliArgs(main.url, main.id.vkey), "--state", stateFile]);
    expect(cli2.code).toBe(1);
    expect(cli2.json.error).toMatchObject({ code: "HISTORY_TRUNCATED", seenSeq: 2, served: 1 });

    // An auditor reads every entry the checkpoint covers: this log cannot serve the entry
    // bundle its tree commits to, and its own error passes through (a log that served a short
    // bundle instead would get ENTRY_BUNDLE_INVALID). Either way the audit does not pass.
    const audited = await auditCli(main);
    expect(audited.code).toBe(1);
    expect(audited.json).toMatchObject({ ok: false, error: { code: "INTERNAL", status: 500 } });
  }, 120_000);

  it("4. refuses a forged event (bad signature) the operator wrote in: POLICY_VIOLATION SIG_INVALID", async () => {
    const { log, index, front } = await logWithInjected("forged", (h) => {
      // A key.add for alice of Mallory's key, "signed" by alice's laptop: one byte flipped.
      const env = h.keyAdd("acme", "alice", MALLORY, { id: "mallory", by: self(LAPTOP) });
      const sig = fromBase64(env.sigs[0]!.sig);
      sig[10]! ^= 0x01;
      return { ...env, sigs: [{ ...env.sigs[0]!, sig: toBase64(sig) }, ...env.sigs.slice(1)] };
    });
    expect(front.code).toBe("SIG_INVALID");

    const e = await refusal(verifyKey(verifyOpts(log, { store: new MemoryTrustStore() })));
    expect(e.code).toBe("POLICY_VIOLATION");
    expect(e.details).toEqual({ index, policyCode: "SIG_INVALID" });
    const cli = await verifyCli(cliArgs(log.url, log.id.vkey));
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({ code: "POLICY_VIOLATION", policyCode: "SIG_INVALID", index });

    const audited = await auditCli(log);
    expect(audited.code).toBe(1);
    expect(audited.json.error).toMatchObject({ code: "POLICY_VIOLATION", policyCode: "SIG_INVALID", index });
    expect(audited.json.error.message).toContain(`entry ${index}`);
  }, 120_000);

  it("5. refuses a delegate-signed key.add written into the database: DELEGATE_CANNOT_ADD_KEY", async () => {
    // The SCIM bridge (or whoever holds its key) adds Mallory's key to alice: every signature is
    // valid (the bridge's and Mallory's own), but rule 4 says a delegate can never add a key.
    const { log, index, front } = await logWithInjected("delegateKey", (h) =>
      h.keyAdd("acme", "alice", MALLORY, { id: "mallory", by: delegate(BRIDGE, "scim") }),
    );
    expect(front.code).toBe("DELEGATE_CANNOT_ADD_KEY");

    const e = await refusal(verifyKey(verifyOpts(log, { store: new MemoryTrustStore() })));
    expect(e.code).toBe("POLICY_VIOLATION");
    expect(e.details).toEqual({ index, policyCode: "DELEGATE_CANNOT_ADD_KEY" });
    const cli = await verifyCli(cliArgs(log.url, log.id.vkey));
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({
      code: "POLICY_VIOLATION",
      policyCode: "DELEGATE_CANNOT_ADD_KEY",
      index,
    });

    const audited = await auditCli(log);
    expect(audited.code).toBe(1);
    expect(audited.json.error).toMatchObject({
      code: "POLICY_VIOLATION",
      policyCode: "DELEGATE_CANNOT_ADD_KEY",
      index,
    });
  }, 120_000);

  it("6. refuses a delegate event timed after its grant expired: GRANT_EXPIRED", async () => {
    // The bridge suspends alice with a time past the grant's notAfter. The server refuses it at
    // the door (its clock: SKEW); replay has no clock and judges the grant by the event's own
    // time, which is deterministic and catches it wherever it sits in the log.
    const { log, index, front } = await logWithInjected("expired", (h) =>
      h.suspend("acme", "alice", delegate(BRIDGE, "scim"), { time: h.now + GRANT_HOURS * 3600 + 60 }),
    );
    expect(front.code).toBe("SKEW");

    const e = await refusal(verifyKey(verifyOpts(log, { store: new MemoryTrustStore() })));
    expect(e.code).toBe("POLICY_VIOLATION");
    expect(e.details).toEqual({ index, policyCode: "GRANT_EXPIRED" });
    const cli = await verifyCli(cliArgs(log.url, log.id.vkey));
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({ code: "POLICY_VIOLATION", policyCode: "GRANT_EXPIRED", index });

    const audited = await auditCli(log);
    expect(audited.code).toBe(1);
    expect(audited.json.error).toMatchObject({
      code: "POLICY_VIOLATION",
      policyCode: "GRANT_EXPIRED",
      index,
    });
  }, 120_000);
});
