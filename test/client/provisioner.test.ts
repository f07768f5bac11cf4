// The Provisioner (what a SCIM bridge uses) against a real log server on PostgreSQL: it invites
// with an invite KEY (the secret stays with the invitee), the invitee's first key is co-signed
// by that key, and a sender's verifyKey sees each step; concurrent operations on one account
// are serialised and a conflicting writer is absorbed by a retry on the new head.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provisioner } from "../../client/provisioner.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { type VerifyKeyOptions, verifyKey } from "../../client/verify-key.js";
import { toBase64 } from "../../core/bytes.js";
import { isTrustlogError } from "../../core/errors.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { WriteTokens } from "../../server/storage/tokens.js";
import { admin, History, testKey } from "../helpers/events.js";
import { createStorage, startTestServer, type TestServer, type TestStorage } from "../server/http-harness.js";

const root = testKey("prov-root");
const bridge = testKey("prov-bridge");
const laptop = testKey("prov-laptop");

describe("Provisioner against a real log", () => {
  let storage: TestStorage;
  let server: TestServer;
  const h = new History({ start: Math.floor(Date.now() / 1000) });
  let prov: Provisioner;

  const opts = (extra: Partial<VerifyKeyOptions> = {}): VerifyKeyOptions => ({
    log: { url: server.server.url, vkey: server.server.key.vkey },
    // This log has no witnesses: the library takes quorum 0 when told (the CLI refuses it).
    witnesses: [],
    quorum: 0,
    org: "acme",
    account: "alice",
    store: new MemoryTrustStore(),
    ...extra,
  });

  beforeAll(async () => {
    storage = await createStorage("postgres");
    server = await startTestServer(storage);
    const post = async (env: ReturnType<History["orgCreate"]>) => {
      h.append(env);
      expect((await server.post(env)).status).toBe(200);
    };
    await post(h.orgCreate("acme", { admins: [root] }));
    await post(
      h.grantIssue(
        "acme",
        { id: "scim", delegate: bridge, ops: ["account.invite", "account.suspend", "account.reactivate"] },
        admin(root),
      ),
    );
    prov = new Provisioner({
      log: server.server.url,
      org: "acme",
      grantId: "scim",
      delegateSeed: bridge.seed,
    });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await storage?.dispose();
  });

  it("invites with the invite key; the invitee's first key, co-signed by it, verifies", async () => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const invite = await prov.invite("alice", {
      externalId: "2819c223",
      inviteKey: inviteKeyFromSecret(secret).publicKey,
    });
    expect(invite.envelope.event.body).toEqual({
      externalId: "2819c223",
      inviteKey: toBase64(inviteKeyFromSecret(secret).publicKey),
    });
    expect(JSON.stringify(invite.envelope)).not.toContain(toBase64(secret));
    h.append(invite.envelope);
    const invited = await verifyKey(opts({ allowInactive: true }));
    expect(invited.status).toBe("invited");

    // Alice, holding the secret, adds her laptop key; the History builds the co-signed form.
    const add = h.keyAdd("acme", "alice", laptop, { id: "laptop", inviteSecret: secret });
    expect(add.sigs.map((s) => s.key)).toContain(toBase64(inviteKeyFromSecret(secret).publicKey));
    h.append(add);
    expect((await server.post(add)).status).toBe(200);
    const active = await verifyKey(opts({ key: laptop.pub }));
    expect(active.status).toBe("active");
    expect(active.keys.map((k) => k.pub)).toEqual([laptop.pub]);
  });

  it("serialises concurrent operations on one account and retries on another writer's conflict", async () => {
    // An admin suspends alice behind the provisioner's back: its cached head is now stale.
    const bySide = h.suspend("acme", "alice", admin(root));
    h.append(bySide);
    expect((await server.post(bySide)).status).toBe(200);
    const [a, b] = await Promise.all([
      prov.reactivate("alice", { reason: "SCIM active=true" }),
      prov.suspend("alice", { reason: "SCIM active=false" }),
    ]);
    expect(b.index).toBeGreaterThan(a.index);
    const e = await verifyKey(opts()).catch((x: unknown) => x);
    expect(isTrustlogError(e, "ACCOUNT_NOT_ACTIVE")).toBe(true);
    const r = await verifyKey(opts({ allowInactive: true }));
    expect(r.status).toBe("suspended");
    expect(r.keys).toEqual([]);
    expect(r.unrevokedKeys.map((k) => k.pub)).toEqual([laptop.pub]);
  });
});

describe("Provisioner against a log that requires write tokens", () => {
  let storage: TestStorage;
  let server: TestServer;

  beforeAll(async () => {
    storage = await createStorage("postgres");
    server = await startTestServer(storage, { config: { writeAuth: "token", orgCreation: "token" } });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await storage?.dispose();
  });

  it("sends its bearer token; without it the log answers 401 UNAUTHORIZED and stores nothing", async () => {
    const token = await new WriteTokens(server.server.database).add("scim-bridge");
    const h = new History({ start: Math.floor(Date.now() / 1000) });
    const post = (env: ReturnType<History["orgCreate"]>) =>
      server.request("/v1/events", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(env),
      });
    for (const env of [h.orgCreate("acme", { admins: [root] })]) {
      h.append(env);
      expect((await post(env)).status).toBe(200);
    }
    const g = h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root));
    h.append(g);
    expect((await post(g)).status).toBe(200);
    const invite = { inviteKey: inviteKeyFromSecret(new Uint8Array(32).fill(7)).publicKey };
    const without = new Provisioner({
      log: server.server.url,
      org: "acme",
      grantId: "scim",
      delegateSeed: bridge.seed,
      maxAttempts: 1,
    });
    await expect(without.invite("bob", invite)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    const withToken = new Provisioner({
      log: server.server.url,
      org: "acme",
      grantId: "scim",
      delegateSeed: bridge.seed,
      token,
    });
    const w = await withToken.invite("bob", invite);
    expect(w.index).toBeGreaterThan(0);
  });
});
