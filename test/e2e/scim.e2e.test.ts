// The SCIM bridge end to end, all real processes on loopback: a log on PostgreSQL, three
// witnesses, the bridge (`trustlog scim serve`, PostgreSQL) with its own witness policy, the
// invitee's `trustlog account accept`, `trustlog verify-key`, `trustlog admin revoke-grant`.
// An identity-provider script drives it over SCIM; a small HTTP server plays the platform that
// receives confirmations.

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogClient } from "../../client/log-client.js";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { ed25519 } from "../../core/ed25519.js";
import { keyAdd, sealEvent } from "../../core/event-build.js";
import { runTrustlog } from "../helpers/process.js";
import { type ScimWorld, scimWorld, until } from "../scim/harness.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

let w: ScimWorld;
let hook: Server;
let hookUrl = "";
const confirmations: Record<string, any>[] = [];

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      confirmations.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
  hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/confirm`;
  w = await scimWorld({
    witnesses: 3,
    bridgeArgs: ["--confirm-webhook-url", "PLACEHOLDER"],
    startBridge: false,
  });
  await w.startBridge(["--confirm-webhook-url", hookUrl, "--grant-check-seconds", "3600"]);
});

afterAll(async () => {
  await w?.close();
  hook?.close();
});

const json = async (r: Response) => (await r.json()) as Record<string, any>;

async function status(id: string): Promise<Record<string, any>> {
  return json(
    await fetch(`${w.bridge!.url}/status/users/${id}`, { headers: { authorization: `Bearer ${w.token}` } }),
  );
}

async function settled(id: string): Promise<Record<string, any>> {
  return until(async () => {
    const s = await status(id);
    return s.outbox.every((o: { status: string }) => o.status !== "pending") ? s : undefined;
  }, `outbox of ${id}`);
}

async function createUser(userName: string): Promise<string> {
  const r = await w.scim("/Users", {
    method: "POST",
    json: { schemas: [USER], userName, emails: [{ value: userName, primary: true }], active: true },
  });
  expect(r.status).toBe(201);
  return (await json(r)).id;
}

const setActive = (id: string, active: boolean) =>
  w.scim(`/Users/${id}`, {
    method: "PATCH",
    json: {
      schemas: [PATCH],
      Operations: [{ op: "Replace", path: "active", value: active ? "True" : "False" }],
    },
  });

function readInvite(account: string): Record<string, any> {
  return JSON.parse(readFileSync(join(w.dir, "bridge", "invites", `${account}.json`), "utf8"));
}

async function accept(account: string): Promise<{ pub: string }> {
  const inv = await until(async () => {
    try {
      return readInvite(account);
    } catch {
      return undefined;
    }
  }, `invitation of ${account}`);
  const r = await runTrustlog([
    "account",
    "accept",
    "--log",
    inv.log,
    "--org",
    inv.org,
    "--account",
    inv.account,
    "--invite-secret",
    inv.secret,
    "--key-file",
    join(w.dir, `${account}.key`),
    "--json",
  ]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function verifyKeyCli(account: string): Promise<Record<string, any>> {
  const r = await runTrustlog([
    "verify-key",
    "--log",
    w.log.url,
    "--log-key",
    w.logId.vkey,
    ...w.witnesses!.vkeys.flatMap((v) => ["--witness", v]),
    "--org",
    w.org,
    "--account",
    account,
    "--allow-inactive",
    "--unsafe-ephemeral-state",
    "--json",
  ]);
  return JSON.parse(r.stdout);
}

describe("SCIM bridge end to end", () => {
  it("invites, confirms only after verification, suspends, reactivates, deletes", async () => {
    const account = "alice@acme.example";
    const id = await createUser("Alice@Acme.example");
    const invited = await settled(id);
    expect(invited.logStatus).toBe("invited");
    expect(invited.confirmed).toBe(false);
    expect(confirmations).toHaveLength(0);

    const { pub } = await accept(account);
    const confirmation = await until(
      async () => confirmations.find((c) => c.account === account),
      "confirmation webhook",
    );
    expect(confirmation.keys.map((k: { pub: string }) => k.pub)).toEqual([pub]);
    expect(confirmation.checkpoint.size).toBeGreaterThan(0);
    expect(confirmation.cosigners).toHaveLength(3);
    expect(confirmation.scimId).toBe(id);
    const confirmed = await status(id);
    expect(confirmed.confirmed).toBe(true);
    expect(confirmed.logStatus).toBe("active");

    expect((await setActive(id, false)).status).toBe(200);
    await settled(id);
    const suspended = await verifyKeyCli(account);
    expect(suspended.ok).toBe(true);
    expect(suspended.status).toBe("suspended");
    const lastEvent = suspended.events.at(-1);
    expect(lastEvent).toMatchObject({ type: "account.suspend", role: "delegate" });

    expect((await setActive(id, true)).status).toBe(200);
    await settled(id);
    expect((await verifyKeyCli(account)).status).toBe("active");

    expect((await w.scim(`/Users/${id}`, { method: "DELETE" })).status).toBe(204);
    await settled(id);
    expect((await verifyKeyCli(account)).status).toBe("deleted");
  });

  it("the bridge's delegate key cannot add a key: the log refuses", async () => {
    const id = await createUser("mallory-target@acme.example");
    await settled(id);
    const client = new LogClient(w.log.url);
    const a = (await client.account(w.org, "mallory-target@acme.example")) as {
      head: { seq: number; leafHash: string };
    };
    const delegateSeed = fromBase64(readFileSync(w.delegateKeyFile, "utf8").trim());
    const rogue = new Uint8Array(32).fill(7);
    const env = sealEvent(
      keyAdd({
        org: w.org,
        subject: "mallory-target@acme.example",
        seq: a.head.seq + 1,
        prev: a.head.leafHash,
        time: Math.floor(Date.now() / 1000),
        actor: { role: "delegate", key: toBase64(ed25519().publicKey(delegateSeed)), grant: w.grantId },
        key: { id: "rogue", alg: "ed25519", use: "sign", pub: toBase64(ed25519().publicKey(rogue)) },
      }),
      [delegateSeed, rogue],
    );
    await expect(client.submit(env)).rejects.toMatchObject({ code: "DELEGATE_CANNOT_ADD_KEY" });
  });

  it("a bridge killed with SIGKILL mid-stream loses nothing and duplicates nothing", async () => {
    const n = 40;
    const names = Array.from({ length: n }, (_, i) => `crash-${i}@acme.example`);
    const answered = new Map<string, string>();
    const inflight = names.map(async (userName, i) => {
      try {
        const r = await w.scim("/Users", {
          method: "POST",
          json: { schemas: [USER], userName, active: i % 2 === 0 },
        });
        if (r.status === 201) answered.set(userName, (await json(r)).id);
      } catch {
        // the connection died with the bridge
      }
    });
    // Kill once some requests were answered but not all events can have left.
    await until(async () => (answered.size >= 5 ? true : undefined), "first answers", 30_000);
    await w.bridge!.stop("SIGKILL");
    await Promise.all(inflight);
    expect(answered.size).toBeGreaterThanOrEqual(5);

    await w.startBridge(["--confirm-webhook-url", hookUrl, "--grant-check-seconds", "3600"]);
    // Whatever was not answered the identity provider sends again (its retry).
    for (const [i, userName] of names.entries()) {
      if (answered.has(userName)) continue;
      const r = await w.scim("/Users", {
        method: "POST",
        json: { schemas: [USER], userName, active: i % 2 === 0 },
      });
      expect([201, 409]).toContain(r.status);
      if (r.status === 201) answered.set(userName, (await json(r)).id);
      else {
        const found = await json(
          await w.scim(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`),
        );
        answered.set(userName, found.Resources[0].id);
      }
    }
    const client = new LogClient(w.log.url);
    for (const [i, userName] of names.entries()) {
      await settled(answered.get(userName)!);
      const a = (await client.account(w.org, userName)) as { status: string; events: { type: string }[] };
      const types = a.events.map((e) => e.type);
      // Exactly one invite; the inactive ones exactly one suspend.
      expect(types, userName).toEqual(
        i % 2 === 0 ? ["account.invite"] : ["account.invite", "account.suspend"],
      );
    }
  });

  it("a key that does not verify is never confirmed, and the bridge says why", async () => {
    const account = "bob@acme.example";
    const id = await createUser(account);
    await settled(id);
    // One of the bridge's three required witnesses stops answering: checkpoints from now on
    // carry two cosignatures, below the bridge's quorum of three.
    const paused = w.witnesses!.processes[2]!.child;
    paused.kill("SIGSTOP");
    try {
      await accept(account);
      const s = await until(async () => {
        const st = await status(id);
        return st.problem ? st : undefined;
      }, "the verification refusal");
      expect(s.problem.code).toBe("QUORUM_NOT_MET");
      expect(s.problem.message).toContain("verifyKey");
      expect(s.confirmed).toBe(false);
      expect(confirmations.find((c) => c.account === account)).toBeUndefined();
    } finally {
      paused.kill("SIGCONT");
    }
    // With the witness back, the next cosigned checkpoint verifies and the user is confirmed.
    await until(
      async () => confirmations.find((c) => c.account === account),
      "confirmation after recovery",
      90_000,
    );
    expect((await status(id)).confirmed).toBe(true);
  });

  it("a revoked grant stops the bridge's writes with a clear error, and its health turns red", async () => {
    const before = await fetch(`${w.bridge!.url}/health`);
    expect(before.status).toBe(200);
    const adminKey = join(w.dir, "admin.key");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(adminKey, `${toBase64(w.adminSeed)}\n`, { mode: 0o600 });
    const r = await runTrustlog([
      "admin",
      "revoke-grant",
      "--log",
      w.log.url,
      "--org",
      w.org,
      "--admin-key",
      adminKey,
      "--id",
      w.grantId,
      "--reason",
      "offboarding the bridge",
    ]);
    expect(r.code, r.stderr).toBe(0);

    const id = await createUser("after-revoke@acme.example");
    const s = await until(async () => {
      const st = await status(id);
      return st.outbox[0]?.lastError ? st : undefined;
    }, "the refusal");
    expect(s.outbox[0].lastError.code).toBe("GRANT_REVOKED");
    const health = await fetch(`${w.bridge!.url}/health`);
    expect(health.status).toBe(503);
    const h = await json(health);
    expect(h.status).toBe("failing");
    expect(h.grant.valid).toBe(false);
    expect(h.grant.code).toBe("GRANT_REVOKED");
    const refused = await w.scim("/Users", {
      method: "POST",
      json: { schemas: [USER], userName: "later@acme.example" },
    });
    expect(refused.status).toBe(503);
    expect((await json(refused)).detail).toContain("GRANT_REVOKED");
    // Restarted, the bridge refuses to start and says why.
    await w.bridge!.stop("SIGKILL");
    const again = await runTrustlog(
      [
        "scim",
        "serve",
        "--database-url",
        w.bridgeDb.url,
        "--data-dir",
        join(w.dir, "bridge"),
        "--delegate-key-file",
        w.delegateKeyFile,
        "--log-url",
        w.log.url,
        "--log-key",
        w.logId.vkey,
        "--org",
        w.org,
        "--grant",
        w.grantId,
        "--port",
        "0",
        ...w.witnesses!.vkeys.flatMap((v) => ["--witness", v]),
      ],
      { timeoutMs: 60_000 },
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("GRANT_REVOKED");
    expect(again.stderr).toContain("offboarding the bridge");
  });
});
