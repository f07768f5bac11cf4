// Per-org and per-account limits, configured on the log, answered with a clear 403 code that
// changes nothing: unrevoked grants per org, admins per org, keys an account ever had.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admin, History, self, testKey } from "../helpers/events.js";
import { createStorage, startTestServer, type TestServer, type TestStorage } from "./http-harness.js";

const root = testKey("limits-root");
const bridge = testKey("limits-bridge");
const laptop = testKey("limits-laptop");

describe("per-org and per-account limits (TRUSTLOG_MAX_*)", () => {
  let storage: TestStorage;
  let server: TestServer;
  const h = new History({ start: Math.floor(Date.now() / 1000) });

  beforeAll(async () => {
    storage = await createStorage("postgres");
    server = await startTestServer(storage, {
      config: { maxActiveGrants: 2, maxAdmins: 2, maxKeysPerAccount: 2 },
    });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await storage?.dispose();
  });

  const ok = async (env: ReturnType<History["orgCreate"]>) => {
    h.append(env);
    const r = await server.post(env);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  };
  const refused = async (env: ReturnType<History["orgCreate"]>, code: string) => {
    const size = Number((await (await server.request("/checkpoint")).text()).split("\n")[1]);
    const r = await server.post(env);
    expect(r.status).toBe(403);
    expect(r.json.results?.[0]?.error?.code ?? r.json.error?.code).toBe(code);
    expect(Number((await (await server.request("/checkpoint")).text()).split("\n")[1])).toBe(size);
  };

  it("refuses the grant, admin and key beyond the limits, and frees a grant slot on revocation", async () => {
    await ok(h.orgCreate("acme", { admins: [root] }));
    const grant = (id: string) =>
      h.grantIssue("acme", { id, delegate: bridge, ops: ["account.invite"] }, admin(root));
    await ok(grant("g1"));
    await ok(grant("g2"));
    await refused(grant("g3"), "GRANT_LIMIT");
    await ok(h.grantRevoke("acme", "g1", admin(root)));
    await ok(grant("g3"));

    await ok(h.adminAdd("acme", testKey("limits-admin-2"), admin(root)));
    await refused(h.adminAdd("acme", testKey("limits-admin-3"), admin(root)), "ADMIN_LIMIT");

    await ok(h.invite("acme", "alice", admin(root)));
    await ok(h.keyAdd("acme", "alice", laptop));
    await ok(h.keyAdd("acme", "alice", laptop, { id: "enc", use: "encrypt", by: self(laptop) }));
    await refused(h.keyAdd("acme", "alice", testKey("limits-phone"), { by: self(laptop) }), "KEY_LIMIT");
  });
});
