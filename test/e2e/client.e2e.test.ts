// End to end: a real log and three real witnesses (separate `trustlog` processes on loopback),
// events written through the HTTP API, and a sender verifying a recipient's key with the
// library and the CLI; then attacks, each refused with its code. Every CLI run names its witness
// policy (or says --unsafe-no-witness) and keeps its trust state in a temporary --state file.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogClient } from "../../client/log-client.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { verifyKey } from "../../client/verify-key.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../../core/event-build.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { ADMIN, ALICE_SIGN, DELEGATE, INVITE_SECRET, pub } from "../helpers/memory-log.js";
import { runTrustlog, startTrustlog, type TrustlogProcess } from "../helpers/process.js";

const ORIGIN = "client-e2e.trustlog.example/log";
const BOB_INVITE_SECRET = new Uint8Array(32).fill(5);

describe("a sender verifies a recipient's key against a real log and witnesses", () => {
  let db: TestDatabase;
  let dir: string;
  let log: TrustlogProcess;
  const witnesses: TrustlogProcess[] = [];
  let logVkey: string;
  const witnessVkeys: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase("cli");
    dir = mkdtempSync(join(tmpdir(), "trustlog-client-e2e-"));
    const keygen = await runTrustlog(["keygen", "--name", ORIGIN, "--out", join(dir, "log.key")]);
    expect(keygen.code, keygen.stderr).toBe(0);
    logVkey = keygen.stdout.trim();
    for (let i = 0; i < 3; i++) {
      const name = `w${i}.client-e2e.example`;
      const k = await runTrustlog(["witness", "keygen", "--name", name, "--out", join(dir, `w${i}.key`)]);
      expect(k.code, k.stderr).toBe(0);
      witnessVkeys.push(k.stdout.trim());
      writeFileSync(
        join(dir, `w${i}.json`),
        JSON.stringify({
          keyFile: join(dir, `w${i}.key`),
          dataDir: join(dir, `w${i}-data`),
          logs: [{ origin: ORIGIN, vkeys: [logVkey] }],
          pullIntervalSeconds: 0,
          gossipIntervalSeconds: 0,
          // A test witness: PGlite does not fsync (docs/witness.md), fine for a throwaway.
          allowPglite: true,
        }),
      );
      witnesses.push(
        await startTrustlog(["witness", "serve", "--config", join(dir, `w${i}.json`)], {
          readyPath: "/healthz",
        }),
      );
    }
    log = await startTrustlog(
      [
        "serve",
        "--database-url",
        db.url,
        "--key-file",
        join(dir, "log.key"),
        "--origin",
        ORIGIN,
        "--data-dir",
        dir,
        "--log-level",
        "warn",
      ],
      {
        env: {
          TRUSTLOG_WITNESSES: JSON.stringify(
            witnesses.map((w, i) => ({
              name: `w${i}.client-e2e.example`,
              vkey: witnessVkeys[i],
              url: w.url,
            })),
          ),
          TRUSTLOG_QUORUM: "2",
        },
      },
    );
  }, 120_000);

  afterAll(async () => {
    await log?.stop("SIGKILL");
    for (const w of witnesses) await w.stop("SIGKILL");
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function writeHistory(): Promise<void> {
    const client = new LogClient(log.url);
    const now = Math.floor(Date.now() / 1000);
    const org = await client.submit(
      sealEvent(
        orgCreate({
          org: "acme",
          time: now,
          actor: { role: "admin", key: pub(ADMIN) },
          name: "Acme",
          admins: [pub(ADMIN)],
          threshold: 1,
        }),
        [ADMIN],
      ),
    );
    await client.submit(
      sealEvent(
        grantIssue({
          org: "acme",
          seq: 1,
          prev: org.result.leafHash,
          time: now,
          actor: { role: "admin", key: pub(ADMIN) },
          id: "scim-1",
          delegate: pub(DELEGATE),
          ops: ["account.invite", "account.suspend", "key.revoke"],
          accounts: ["*"],
          notBefore: now - 60,
          notAfter: now + 86_400,
          note: "SCIM bridge",
        }),
        [ADMIN],
      ),
    );
    const invite = await client.submit(
      sealEvent(
        accountInvite({
          org: "acme",
          subject: "alice",
          time: now,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          inviteSecret: INVITE_SECRET,
        }),
        [DELEGATE],
      ),
    );
    await client.submit(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 1,
          prev: invite.result.leafHash,
          time: now,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          key: { id: "sign-1", alg: "ed25519", use: "sign", pub: pub(ALICE_SIGN) },
        }),
        [ALICE_SIGN, inviteKeyFromSecret(INVITE_SECRET).seed],
      ),
    );
    // Bob is invited and has not enrolled a key yet.
    await client.submit(
      sealEvent(
        accountInvite({
          org: "acme",
          subject: "bob",
          time: now,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          inviteSecret: BOB_INVITE_SECRET,
        }),
        [DELEGATE],
      ),
    );
  }

  /** Events writeHistory submits, one at a time: each is one batch, ended by its index leaf. */
  const HISTORY_EVENTS = 5;

  // Cosignatures arrive asynchronously after each checkpoint.
  async function untilCosigned(n: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const text = await (await fetch(`${log.url}/checkpoint`)).text();
      const lines = text.split("\n").filter((l) => l.startsWith("— w"));
      if (lines.length >= n) return;
      if (Date.now() > deadline) throw new Error(`checkpoint not cosigned by ${n} witnesses:\n${text}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it("verifies alice's key with the library and the CLI, and refuses a quorum the log lacks", async () => {
    await writeHistory();
    await untilCosigned(3);
    const r = await verifyKey({
      log: { url: log.url, vkey: logVkey },
      witnesses: witnessVkeys,
      quorum: 2,
      org: "acme",
      account: "alice",
      key: pub(ALICE_SIGN),
      store: new MemoryTrustStore(),
    });
    expect(r.keys.map((k) => k.pub)).toEqual([pub(ALICE_SIGN)]);
    expect(r.cosigners.length).toBeGreaterThanOrEqual(2);

    const state = join(dir, "state.json");
    const args = ["--log", log.url, "--log-key", logVkey, ...witnessVkeys.flatMap((w) => ["--witness", w])];
    const cli = await runTrustlog([
      "verify-key",
      ...args,
      "--quorum",
      "2",
      "--org",
      "acme",
      "--account",
      "alice",
      "--key",
      pub(ALICE_SIGN),
      "--state",
      state,
      "--json",
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: true, status: "active" });

    // A witness the log never reached: with it required, the quorum cannot be met.
    const k = await runTrustlog([
      "witness",
      "keygen",
      "--name",
      "absent.example",
      "--out",
      join(dir, "absent.key"),
    ]);
    const strict = await runTrustlog([
      "verify-key",
      "--log",
      log.url,
      "--log-key",
      logVkey,
      "--witness",
      k.stdout.trim(),
      "--quorum",
      "1",
      "--org",
      "acme",
      "--account",
      "alice",
      "--state",
      join(dir, "strict-state.json"),
      "--json",
    ]);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout).error.code).toBe("QUORUM_NOT_MET");

    // An invited account with no key yet: refused (exit 1), unless the caller allows inactive
    // accounts; then its status is reported, with no key to encrypt to (docs/client.md: exit 0).
    const bob = [
      "verify-key",
      ...args,
      "--quorum",
      "2",
      "--org",
      "acme",
      "--account",
      "bob",
      "--state",
      state,
    ];
    const refusedBob = await runTrustlog([...bob, "--json"]);
    expect(refusedBob.code, refusedBob.stderr).toBe(1);
    expect(JSON.parse(refusedBob.stdout).error).toMatchObject({
      code: "ACCOUNT_NOT_ACTIVE",
      status: "invited",
    });
    const allowedBob = await runTrustlog([...bob, "--allow-inactive", "--json"]);
    expect(allowedBob.code, allowedBob.stderr).toBe(0);
    expect(JSON.parse(allowedBob.stdout)).toMatchObject({
      ok: true,
      status: "invited",
      keys: [],
      unrevokedKeys: [],
    });

    // One event a batch, so the audit replays an index leaf after each.
    const audited = await runTrustlog(["audit", ...args, "--quorum", "2", "--state", state, "--json"]);
    expect(audited.code, audited.stderr).toBe(0);
    expect(JSON.parse(audited.stdout)).toMatchObject({
      ok: true,
      violations: [],
      events: HISTORY_EVENTS,
      indexLeaves: HISTORY_EVENTS,
      entries: 2 * HISTORY_EVENTS,
      orgs: 1,
      checkpoint: { origin: ORIGIN, size: 2 * HISTORY_EVENTS },
    });

    const mon = await runTrustlog([
      "monitor",
      ...args,
      "--quorum",
      "2",
      "--org",
      "acme",
      "--once",
      "--state",
      state,
      "--json",
    ]);
    expect(mon.code, mon.stderr).toBe(0);
    const events = mon.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events.find((e) => e.type === "account.invite").flags).toContain("DELEGATE_ACTION");
  }, 120_000);

  it("refuses to run without a witness policy unless told it is unsafe", async () => {
    await untilCosigned(3);
    const base = ["--log", log.url, "--log-key", logVkey];
    const state = join(dir, "no-witness-state.json");
    const commands = [
      ["verify-key", "--org", "acme", "--account", "alice"],
      ["audit"],
      ["monitor", "--org", "acme", "--once"],
    ];
    for (const command of commands) {
      const r = await runTrustlog([...command, ...base, "--state", state, "--json"]);
      expect(r.code, `${command[0]}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toContain("NO_WITNESS_POLICY");
    }
    // A refused command trusts nothing, so it keeps no state either.
    expect(existsSync(state)).toBe(false);

    const unsafe = await runTrustlog([
      "verify-key",
      ...base,
      "--unsafe-no-witness",
      "--org",
      "acme",
      "--account",
      "alice",
      "--key",
      pub(ALICE_SIGN),
      "--state",
      state,
      "--json",
    ]);
    expect(unsafe.code, unsafe.stderr).toBe(0);
    expect(JSON.parse(unsafe.stdout)).toMatchObject({ ok: true, status: "active" });
    expect(existsSync(state)).toBe(true);
  }, 120_000);
});
