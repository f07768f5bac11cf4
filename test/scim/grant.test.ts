// The bridge refuses to start without a valid grant, and says which problem it has.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTrustlog } from "../helpers/process.js";
import { type ScimWorld, scimWorld } from "./harness.js";

let w: ScimWorld;
beforeAll(async () => {
  w = await scimWorld({ skipGrant: true, startBridge: false });
});
afterAll(async () => {
  await w?.close();
});

const serve = (grant: string) =>
  runTrustlog(
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
      grant,
      "--port",
      "0",
      "--unsafe-no-witness",
    ],
    { timeoutMs: 60_000 },
  );

describe("grant check at start", () => {
  it("refuses a missing grant", async () => {
    const r = await serve("never-issued");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("GRANT_UNKNOWN");
  });

  it("refuses a grant that lacks an op the bridge needs, naming it", async () => {
    await w.issueGrant("no-delete", ["account.invite", "account.suspend", "account.reactivate"]);
    const r = await serve("no-delete");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("GRANT_MISSING_OP");
    expect(r.stderr).toContain("account.delete");
  });

  it("refuses an expired grant", async () => {
    await w.issueGrant("short", undefined, { notAfterSeconds: 1 });
    await new Promise((r) => setTimeout(r, 2100)); // the grant's own validity: 1 s after issue
    const r = await serve("short");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("GRANT_EXPIRED");
  });

  it("starts with a valid grant, and `scim init` prints the grant command", async () => {
    const init = await runTrustlog([
      "scim",
      "init",
      "--data-dir",
      join(w.dir, "init"),
      "--org",
      w.org,
      "--log",
      w.log.url,
    ]);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain("trustlog admin grant");
    expect(init.stdout).toContain("--ops account.invite,account.suspend,account.reactivate,account.delete");
    await w.issueGrant(w.grantId);
    const b = await w.startBridge();
    const h = (await (await fetch(`${b.url}/health`)).json()) as { grant: { valid: boolean } };
    expect(h.grant.valid).toBe(true);
  });
});
