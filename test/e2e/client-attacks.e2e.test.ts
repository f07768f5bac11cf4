// End to end: a sender's client against a log operator who turns against it. A real log process
// on PostgreSQL and three real witness processes (quorum 2); the operator holds the log key and
// the database, so it can sign any checkpoint, write any leaf (and the index leaf after it),
// serve an old copy of the database, hide rows, or sit as a proxy between the client and an
// honest log. It holds no admin, delegate, account or witness key. Witnesses check that each
// checkpoint extends the last (they cosign an injected leaf: it is an honest append), not the
// policy: clients that replay every rule and check the index of chain heads catch the rest.
// Each attack is refused with its stable code, by the library and by the CLI.
//
// Logs: "main" carries the sender's trust store through verification, quorum, rollback,
// staleness and hidden events (in that order: each step builds on the previous state); each
// other attack gets its own log (own origin, own database).

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogClient } from "../../client/log-client.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { type VerifyKeyOptions, verifyKey } from "../../client/verify-key.js";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { isTrustlogError, type TrustlogError } from "../../core/errors.js";
import type { Envelope } from "../../core/event.js";
import { parseNote } from "../../core/note.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";
import { deleteEntryRow, type InjectOptions, injectEntry, snapshotDatabase } from "../helpers/inject.js";
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
const ROOT2 = testKey("attacks-acme-root-2");
const BRIDGE = testKey("attacks-scim-bridge");
const LAPTOP = testKey("attacks-alice-laptop");
const PHONE = testKey("attacks-alice-phone");
const MALLORY = testKey("attacks-mallory");
const GRANT_HOURS = 1;
const DAY_MS = 86_400_000;

const ORIGINS = {
  main: "attacks-main.e2e.example/log",
  forged: "attacks-forged.e2e.example/log",
  delegateKey: "attacks-delegate-key.e2e.example/log",
  expired: "attacks-expired.e2e.example/log",
  fork: "attacks-fork.e2e.example/log",
  strip: "attacks-strip.e2e.example/log",
  moved: "attacks-moved.e2e.example/log",
} as const;

/** One log: its key, its database, its process (restartable) and the history written to it. */
class Log {
  proc!: TrustlogProcess;
  readonly history = new History({ start: Math.floor(Date.now() / 1000) });
  /** The log index of each history entry (the log adds an index leaf after each batch). */
  readonly indices: number[] = [];
  /** The tree size of the latest checkpoint this test saw the log sign. */
  size = 0;
  constructor(
    readonly id: LogIdentity,
    readonly db: TestDatabase,
    private readonly witnesses: Witnesses,
    private readonly dataDir: string,
  ) {}

  get url(): string {
    return this.proc.url;
  }

  /** The log index of the history's entry `i`. */
  indexOf(entry: { index: number }): number {
    return this.indices[entry.index]!;
  }

  /** Starts (or restarts) the log process on its database; `env` overrides its settings. */
  async start(env: Record<string, string> = {}): Promise<void> {
    this.proc = await startLog(this.id, this.db.url, this.witnesses, this.dataDir, env);
  }

  /** Graceful: the sequencer drains and the database connections close (needed for TEMPLATE). */
  stop(): Promise<void> {
    return stopLog(this.proc);
  }

  /**
   * Submits an honest event over HTTP; the policy accepts it locally and in the log alike. Each
   * submission is a batch of its own: the event at the old size, its index leaf right after.
   */
  async submit(envelope: Envelope): Promise<void> {
    this.history.append(envelope);
    const r = await new LogClient(this.url).submit(envelope);
    expect(r.result.index).toBe(this.size);
    this.indices.push(r.result.index);
    this.size = parseCheckpoint(parseNote(r.checkpoint).body).size;
    expect(this.size).toBe(r.result.index + 2);
  }

  /** Waits for `n` witness cosignatures on the latest checkpoint, of at least the log's size. */
  cosigned(n = 3): Promise<string> {
    return untilCosigned(this.url, this.witnesses, n, this.size);
  }

  /** acme (one admin, or two with threshold 1), a SCIM grant, alice invited by it, her laptop key. */
  async writeHonestHistory(admins = [ROOT]): Promise<void> {
    const h = this.history;
    await this.submit(h.orgCreate("acme", { admins }));
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

/**
 * An operator's proxy in front of an honest log: every request goes through unchanged except
 * history bundles, which `edit` rewrites before the client sees them.
 */
async function bundleProxy(
  target: string,
  edit: (bundle: Record<string, unknown>) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(async (req, res) => {
    try {
      const upstream = await fetch(`${target}${req.url}`, { method: req.method ?? "GET" });
      const body = Buffer.from(await upstream.arrayBuffer());
      const type = upstream.headers.get("content-type") ?? "application/octet-stream";
      if (upstream.ok && /\/proof(\?|$)/.test(req.url ?? "")) {
        const bundle = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
        edit(bundle);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(bundle));
        return;
      }
      res.writeHead(upstream.status, { "content-type": type });
      res.end(body);
    } catch (e) {
      res.writeHead(502);
      res.end(String(e));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
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
  // Where a CLI run without --state would keep its trust state (never the user's home).
  let xdg: string;

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
  const run = (args: string[]) => runTrustlog(args, { env: { XDG_STATE_HOME: xdg } });
  const verifyCli = async (args: string[]) => {
    const r = await run(["verify-key", ...args, "--org", "acme", "--account", "alice", "--json"]);
    return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
  };
  const auditCli = async (log: Log) => {
    const r = await run([
      "audit",
      ...cliArgs(log.url, log.id.vkey),
      "--unsafe-ephemeral-state",
      "--json",
      "--no-progress",
    ]);
    return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
  };

  async function newLog(name: keyof typeof ORIGINS): Promise<Log> {
    const log = new Log(ids[name], await createTestDatabase(`atk_${name}`), witnesses, join(dir, name));
    logs.push(log);
    await log.start();
    return log;
  }

  /**
   * A log with the honest history, then `envelope` written straight into its stopped database
   * (with the index leaf after it), after dropping the rows at `drop` (log indices).
   */
  async function logWithInjected(
    name: keyof typeof ORIGINS,
    build: (h: History, log: Log) => Envelope,
    opts: InjectOptions & { drop?: (log: Log) => number[]; admins?: (typeof ROOT)[] } = {},
  ): Promise<{ log: Log; index: number; front: TrustlogError }> {
    const log = await newLog(name);
    await log.writeHonestHistory(opts.admins);
    await log.cosigned();
    const envelope = build(log.history, log);
    // The server refuses it through the front door...
    const front = await refusal(new LogClient(log.url).submit(envelope));
    await log.stop();
    // ...so the operator writes it in the back.
    for (const i of opts.drop?.(log) ?? []) await deleteEntryRow({ databaseUrl: log.db.url }, i);
    const ev = envelope.event;
    const injected = await injectEntry(
      { databaseUrl: log.db.url, keyFile: log.id.keyFile },
      envelope,
      { org: ev.org, subject: ev.subject, type: ev.type },
      opts,
    );
    expect(injected.index).toBe(log.size);
    log.size = injected.size;
    await log.start();
    // Restarted, the log re-submits its latest checkpoint: an append, so the witnesses cosign.
    await untilCosigned(log.url, witnesses, 3, log.size);
    return { log, index: injected.index, front };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "trustlog-attacks-e2e-"));
    xdg = join(dir, "xdg-state");
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
    // Four events, each followed by its batch's index leaf.
    expect(r.checkpoint.size).toBe(8);
    expect(r.index.index).toBe(7);
    expect(r.cosigners.length).toBeGreaterThanOrEqual(2);

    const cli = await verifyCli([
      ...cliArgs(main.url, main.id.vkey),
      "--key",
      LAPTOP.pub,
      "--state",
      stateFile,
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.json).toMatchObject({ ok: true, status: "active", checkpoint: { size: 8 } });
    // First use of the org: the genesis is pinned on trust, with a warning naming the flag.
    expect(cli.stderr).toContain(`--genesis ${cli.json.genesis}`);
  }, 60_000);

  it("0. refuses to run without a witness policy unless told it is unsafe: NO_WITNESS_POLICY", async () => {
    const bare = ["--log", main.url, "--log-key", main.id.vkey];
    const cli = await run(["verify-key", ...bare, "--org", "acme", "--account", "alice"]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain("NO_WITNESS_POLICY");
    const zero = await run([
      "verify-key",
      ...cliArgs(main.url, main.id.vkey, witnesses.vkeys, 0),
      "--org",
      "acme",
      "--account",
      "alice",
    ]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("NO_WITNESS_POLICY");
    for (const cmd of [
      ["audit", "--no-progress"],
      ["monitor", "--org", "acme", "--once"],
    ]) {
      const r = await run([...cmd, ...bare]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("NO_WITNESS_POLICY");
    }
    const unsafe = await run([
      "verify-key",
      ...bare,
      "--unsafe-no-witness",
      "--org",
      "acme",
      "--account",
      "alice",
    ]);
    expect(unsafe.code, unsafe.stderr).toBe(0);
    // Without --state the trust state persisted in the XDG state directory.
    const again = await run([
      "verify-key",
      ...bare,
      "--unsafe-no-witness",
      "--org",
      "acme",
      "--account",
      "alice",
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(unsafe.stderr).toContain("first use of org acme");
    expect(again.stderr).not.toContain("first use of org acme");
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
    expect((await senderStore.load(main.id.vkey)).checkpoint?.size).toBe(8);

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
    expect((await senderStore.load(main.id.vkey)).checkpoint?.size).toBe(8);

    // Back with all three witnesses: the restarted log re-submits that checkpoint, an append
    // of what they cosigned before, so they cosign it and the sender accepts it.
    await main.stop();
    await main.start();
    await main.cosigned(3);
    expect((await verifyKey(verifyOpts(main))).checkpoint.size).toBe(main.size);
  }, 90_000);

  it("2. refuses a rolled-back checkpoint (ROLLBACK), and a stale one even on first use (CHECKPOINT_STALE)", async () => {
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
    // log and cosigned by the witnesses (from when it was current), without PHONE. The
    // witnesses have cosigned N since, so they refuse to cosign M again: its cosignatures age.
    const old = await startLog(main.id, snap.url, witnesses, join(dir, "snap"));
    extraProcs.push(old);
    const oldLog = { url: old.url, id: main.id } as Log;
    // A client with no memory still accepts it while its cosignatures are fresh (within the
    // maximum age): only the trust store can tell a recent rollback...
    const fresh = await verifyKey(verifyOpts(oldLog, { store: new MemoryTrustStore() }));
    expect(fresh.checkpoint.size).toBe(m);
    expect(fresh.keys.map((k) => k.pub)).toEqual([LAPTOP.pub]);

    const e = await refusal(verifyKey(verifyOpts(oldLog)));
    expect(e.code).toBe("ROLLBACK");
    expect(e.details).toMatchObject({ size: m, trustedSize: n });
    const cli = await verifyCli([...cliArgs(old.url, main.id.vkey), "--state", stateFile]);
    expect(cli.code).toBe(1);
    expect(cli.json).toMatchObject({ ok: false, error: { code: "ROLLBACK", size: m, trustedSize: n } });

    // ...but not for long: 60 days on, the same cosigned checkpoint is refused by a first-time
    // client, whose clock is all it needs.
    const later = () => Date.now() + 60 * DAY_MS;
    const stale = await refusal(verifyKey(verifyOpts(oldLog, { store: new MemoryTrustStore(), now: later })));
    expect(stale.code).toBe("CHECKPOINT_STALE");
    expect(stale.details?.ageSeconds as number).toBeGreaterThanOrEqual(60 * 86_400);
    // The CLI, with a maximum age the checkpoint has outlived: wait (on the cosignatures' own
    // timestamps) until the quorum is older than 1 s, then ask with --max-age 1.
    const quorumTime = Object.values(fresh.cosignedAt).sort((a, b) => b - a)[1]!;
    while (Date.now() / 1000 - quorumTime < 2) await new Promise((res) => setTimeout(res, 100));
    const cliStale = await verifyCli([
      ...cliArgs(old.url, main.id.vkey),
      "--unsafe-ephemeral-state",
      "--max-age",
      "1",
    ]);
    expect(cliStale.code).toBe(1);
    expect(cliStale.json.error).toMatchObject({ code: "CHECKPOINT_STALE", maxAgeSeconds: 1 });
    await stopLog(old);
  }, 120_000);

  it("3. refuses a history with events hidden from it: CHAIN_BROKEN, then HISTORY_TRUNCATED even on first use", async () => {
    // alice's chain on the main log: invite (seq 0), laptop (seq 1), phone (seq 2). The operator
    // drops entry rows: the tree, tiles and checkpoint stay as they were, so every event still
    // served keeps a valid inclusion proof (hence not INCLUSION_INVALID); what breaks is the
    // chain, or its end against the index of chain heads.
    const alice = main.history.entries.filter((e) => e.envelope.event.subject === "alice");
    expect(alice.map((e) => e.envelope.event.seq)).toEqual([0, 1, 2]);
    const [, laptop, phone] = alice as [(typeof alice)[0], (typeof alice)[0], (typeof alice)[0]];

    // Hiding an event in the middle (the laptop key): the phone key's seq 2 follows seq 0, and
    // its prev points at a leaf that is not there. checkChain catches it before any replay or
    // trust-store check, so the sender and a client with no memory get the same CHAIN_BROKEN,
    // naming the first event out of place.
    await main.stop();
    await deleteEntryRow({ databaseUrl: main.db.url }, main.indexOf(laptop));
    await main.start();
    for (const store of [senderStore, new MemoryTrustStore()]) {
      const e = await refusal(verifyKey(verifyOpts(main, { store })));
      expect(e.code).toBe("CHAIN_BROKEN");
      expect(e.details).toEqual({ index: main.indexOf(phone), seq: 2 });
    }
    const cli = await verifyCli([...cliArgs(main.url, main.id.vkey), "--state", stateFile]);
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({ code: "CHAIN_BROKEN", index: main.indexOf(phone), seq: 2 });

    // Hiding the phone key too leaves a chain that is valid on its own (the invite alone, with
    // its proof). The index leaf still proves seq 2 is alice's latest event, so even a client
    // with no memory refuses it: HISTORY_TRUNCATED, by the library and by the CLI.
    await main.stop();
    await deleteEntryRow({ databaseUrl: main.db.url }, main.indexOf(phone));
    await main.start();
    for (const store of [new MemoryTrustStore(), senderStore]) {
      const e = await refusal(verifyKey(verifyOpts(main, { store })));
      expect(e.code).toBe("HISTORY_TRUNCATED");
      expect(e.details).toMatchObject({
        kind: "account",
        servedSeq: 0,
        provedSeq: 2,
        provedIndex: main.indexOf(phone),
      });
    }
    const cli2 = await verifyCli([...cliArgs(main.url, main.id.vkey), "--unsafe-ephemeral-state"]);
    expect(cli2.code).toBe(1);
    expect(cli2.json.error).toMatchObject({ code: "HISTORY_TRUNCATED", servedSeq: 0, provedSeq: 2 });

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
      const at = env.sigs.findIndex((x) => x.key === LAPTOP.pub);
      const sig = fromBase64(env.sigs[at]!.sig);
      sig[10]! ^= 0x01;
      return { ...env, sigs: env.sigs.map((x, i) => (i === at ? { ...x, sig: toBase64(sig) } : x)) };
    });
    expect(front.code).toBe("SIG_INVALID");

    const e = await refusal(verifyKey(verifyOpts(log, { store: new MemoryTrustStore() })));
    expect(e.code).toBe("POLICY_VIOLATION");
    expect(e.details).toEqual({ index, policyCode: "SIG_INVALID" });
    const cli = await verifyCli([...cliArgs(log.url, log.id.vkey), "--unsafe-ephemeral-state"]);
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({ code: "POLICY_VIOLATION", policyCode: "SIG_INVALID", index });

    const audited = await auditCli(log);
    expect(audited.code).toBe(1);
    expect(audited.json.ok).toBe(false);
    expect(audited.json.violations).toEqual([
      expect.objectContaining({ index, code: "POLICY_VIOLATION", policyCode: "SIG_INVALID" }),
      // The operator's index made the forged event alice's head; the auditor's replay did not.
      expect.objectContaining({ index: index + 1, code: "INDEX_MISMATCH" }),
    ]);
    expect(audited.json.violations[0].message).toContain(`entry ${index}`);
  }, 120_000);

  it("5. refuses a delegate-signed key.add written into the database: DELEGATE_CANNOT_ADD_KEY", async () => {
    // The SCIM bridge (or whoever holds its key) adds Mallory's key to alice: every signature is
    // valid (the bridge's and Mallory's own), but rule 4 says a delegate can never add a key.
    const { log, index, front } = await logWithInjected(
      "delegateKey",
      (h) => h.keyAdd("acme", "alice", MALLORY, { id: "mallory", by: delegate(BRIDGE, "scim") }),
      { index: "state" },
    );
    expect(front.code).toBe("DELEGATE_CANNOT_ADD_KEY");

    const e = await refusal(verifyKey(verifyOpts(log, { store: new MemoryTrustStore() })));
    expect(e.code).toBe("POLICY_VIOLATION");
    expect(e.details).toEqual({ index, policyCode: "DELEGATE_CANNOT_ADD_KEY" });
    const cli = await verifyCli([...cliArgs(log.url, log.id.vkey), "--unsafe-ephemeral-state"]);
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({
      code: "POLICY_VIOLATION",
      policyCode: "DELEGATE_CANNOT_ADD_KEY",
      index,
    });

    // Here the operator left its index honest: the violation is the only finding.
    const audited = await auditCli(log);
    expect(audited.code).toBe(1);
    expect(audited.json.violations).toEqual([
      expect.objectContaining({ index, code: "POLICY_VIOLATION", policyCode: "DELEGATE_CANNOT_ADD_KEY" }),
    ]);
  }, 120_000);

  it("6. refuses a delegate event dated inside its expired grant or past it: SKEW, GRANT_EXPIRED", async () => {
    // The bridge suspends alice with a time past the grant's notAfter. The server refuses it at
    // the door (its clock: SKEW). Written in the back, its index leaf carries the log's time:
    // replay holds the event's time to it, and to the grant. Here the operator also lies in the
    // index leaf's time to match the event, so the skew holds and the grant decides.
    const { log, index, front } = await logWithInjected(
      "expired",
      (h) => h.suspend("acme", "alice", delegate(BRIDGE, "scim"), { time: h.now + GRANT_HOURS * 3600 + 60 }),
      { time: (Math.floor(Date.now() / 1000) + GRANT_HOURS * 3600 + 60) * 1000 },
    );
    expect(front.code).toBe("SKEW");

    const e = await refusal(verifyKey(verifyOpts(log, { store: new MemoryTrustStore() })));
    expect(e.code).toBe("POLICY_VIOLATION");
    expect(e.details).toEqual({ index, policyCode: "GRANT_EXPIRED" });
    const cli = await verifyCli([...cliArgs(log.url, log.id.vkey), "--unsafe-ephemeral-state"]);
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({ code: "POLICY_VIOLATION", policyCode: "GRANT_EXPIRED", index });

    const audited = await auditCli(log);
    expect(audited.code).toBe(1);
    expect(audited.json.violations[0]).toMatchObject({
      index,
      code: "POLICY_VIOLATION",
      policyCode: "GRANT_EXPIRED",
    });
  }, 120_000);

  it("7. refuses the operator's fork of an active account at seq 1: POLICY_VIOLATION INVITE_SIG_MISSING", async () => {
    // The attack an earlier invite format allowed: a second first key for alice, of a key the
    // operator holds, with the real seq 1 hidden and the index pointing at the fork. The invite
    // secret never reached the log, so the operator cannot co-sign with the invite key.
    const { log, index, front } = await logWithInjected(
      "fork",
      (h) => {
        const invite = h.entries.find((x) => x.envelope.event.type === "account.invite")!;
        return h.keyAdd("acme", "alice", MALLORY, {
          id: "laptop",
          seq: 1,
          prev: toBase64(invite.leafHash),
          inviteSecret: null,
        });
      },
      { drop: (l) => [l.indexOf(l.history.entries[3]!)] },
    );
    // Through the front door: alice's seq 1 is taken.
    expect(front.code).toBe("CHAIN_CONFLICT");

    for (const store of [new MemoryTrustStore(), new MemoryTrustStore()]) {
      const e = await refusal(verifyKey(verifyOpts(log, { store, key: MALLORY.pub })));
      expect(e.code).toBe("POLICY_VIOLATION");
      expect(e.details).toEqual({ index, policyCode: "INVITE_SIG_MISSING" });
    }
    const cli = await verifyCli([
      ...cliArgs(log.url, log.id.vkey),
      "--unsafe-ephemeral-state",
      "--key",
      MALLORY.pub,
    ]);
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({
      code: "POLICY_VIOLATION",
      policyCode: "INVITE_SIG_MISSING",
      index,
    });
  }, 120_000);

  it("8. refuses a bundle whose last two account events a proxy stripped: HISTORY_TRUNCATED", async () => {
    // An honest log; alice rotates to her phone and revokes the laptop. The operator's proxy
    // strips those two events from every bundle, so a sender would encrypt to the laptop key.
    const log = await newLog("strip");
    await log.writeHonestHistory();
    const h = log.history;
    await log.submit(h.keyAdd("acme", "alice", PHONE, { id: "phone", by: self(LAPTOP) }));
    await log.submit(h.keyRevoke("acme", "alice", "laptop", self(PHONE)));
    await log.cosigned(3);
    const direct = await verifyKey(verifyOpts(log, { store: new MemoryTrustStore() }));
    expect(direct.keys.map((k) => k.pub)).toEqual([PHONE.pub]);

    const proxy = await bundleProxy(log.url, (b) => {
      const events = b.accountEvents as unknown[];
      events.splice(events.length - 2, 2);
    });
    try {
      const through = { url: proxy.url, id: log.id } as Log;
      const e = await refusal(
        verifyKey(verifyOpts(through, { store: new MemoryTrustStore(), key: LAPTOP.pub })),
      );
      expect(e.code).toBe("HISTORY_TRUNCATED");
      expect(e.details).toMatchObject({ kind: "account", servedSeq: 1, provedSeq: 3 });
      const cli = await verifyCli([
        ...cliArgs(proxy.url, log.id.vkey),
        "--unsafe-ephemeral-state",
        "--key",
        LAPTOP.pub,
      ]);
      expect(cli.code).toBe(1);
      expect(cli.json.error).toMatchObject({ code: "HISTORY_TRUNCATED", servedSeq: 1, provedSeq: 3 });
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it("9. refuses a revocation seen at one index and re-appended at a later one: HISTORY_FORKED", async () => {
    // Two admins (threshold 1) both sign the grant's revocation. The sender sees it. The same
    // event with one signature dropped is another leaf: the log answers it at the door with the
    // existing entry, but the operator writes it at a later index, hides the original and points
    // its index there, so that between the two the revoked grant would act again.
    const log = await newLog("moved");
    await log.writeHonestHistory([ROOT, ROOT2]);
    const revocation = log.history.grantRevoke("acme", "scim", admin(ROOT, ROOT2));
    await log.submit(revocation);
    await log.cosigned(3);
    const revokedAt = log.indices[log.indices.length - 1]!;
    const store = new MemoryTrustStore();
    const movedState = join(dir, "moved-state.json");
    await verifyKey(verifyOpts(log, { store }));
    const seen = await verifyCli([...cliArgs(log.url, log.id.vkey), "--state", movedState]);
    expect(seen.code, seen.stderr).toBe(0);

    const oneSig = { ...revocation, sigs: revocation.sigs.filter((x) => x.key === ROOT.pub) };
    const again = await new LogClient(log.url).submit(oneSig);
    expect(again.result.index).toBe(revokedAt);
    expect(parseCheckpoint(parseNote(again.checkpoint).body).size).toBe(log.size);

    await log.stop();
    await deleteEntryRow({ databaseUrl: log.db.url }, revokedAt);
    const moved = await injectEntry({ databaseUrl: log.db.url, keyFile: log.id.keyFile }, oneSig, {
      org: "acme",
      subject: "acme",
      type: "grant.revoke",
    });
    log.size = moved.size;
    await log.start();
    await untilCosigned(log.url, witnesses, 3, log.size);

    // The copy is another leaf (one signature fewer), so the grant's sub-chain the sender saw
    // (its issue, then the revocation) no longer matches at its second event. (The same bytes
    // shown at another index are refused as well, by the index comparison:
    // test/client/verify-key.test.ts.)
    const e = await refusal(verifyKey(verifyOpts(log, { store })));
    expect(e.code).toBe("HISTORY_FORKED");
    expect(e.details).toEqual({ subject: "grant scim of org acme", seq: 1 });
    const cli = await verifyCli([...cliArgs(log.url, log.id.vkey), "--state", movedState]);
    expect(cli.code).toBe(1);
    expect(cli.json.error).toMatchObject({
      code: "HISTORY_FORKED",
      subject: "grant scim of org acme",
      seq: 1,
    });
    // A newcomer cannot tell (the moved copy is all it is shown, and the index agrees); an
    // auditor can: the original's entry is gone from the log it must read in full.
    const newcomer = await verifyKey(verifyOpts(log, { store: new MemoryTrustStore() }));
    expect(newcomer.events.find((x) => x.type === "grant.revoke")?.index).toBe(moved.index);
    const audited = await auditCli(log);
    expect(audited.code).toBe(1);
  }, 120_000);
});
