// Write admission (docs/api.md, "Write admission"): bearer tokens made with `trustlog token
// add|list|revoke`, stored as SHA-256 only; with `writeAuth: "token"` every write needs one,
// with `orgCreation: "token"` creating an org does. A refused write is 401 UNAUTHORIZED with
// `WWW-Authenticate: Bearer`, decided before the body is read, and changes nothing.

import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { sha256 } from "@noble/hashes/sha2.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64, utf8 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { loadServerConfig } from "../../server/config.js";
import { WriteTokens } from "../../server/storage/tokens.js";
import { admin, History, testKey } from "../helpers/events.js";
import { runTrustlog } from "../helpers/process.js";
import { batch, createStorage, startTestServer, type TestServer, type TestStorage } from "./http-harness.js";

async function treeSize(t: TestServer): Promise<number> {
  const res = await t.request("/checkpoint");
  return parseCheckpoint(openNote(await res.text(), [parseVerifierKey(t.server.key.vkey)]).body).size;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("write admission", () => {
  it("is open by default (development), and configurable", () => {
    expect(loadServerConfig({})).toMatchObject({ writeAuth: "none", orgCreation: "open" });
    const env = { TRUSTLOG_WRITE_AUTH: "token", TRUSTLOG_ORG_CREATION: "token" };
    expect(loadServerConfig(env)).toMatchObject({ writeAuth: "token", orgCreation: "token" });
    expect(() => loadServerConfig({ TRUSTLOG_WRITE_AUTH: "password" })).toThrow(/writeAuth/);
  });

  it("the deploy examples (compose, Kubernetes, environment) ask writers for tokens", () => {
    const deploy = (p: string) =>
      readFileSync(fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url)), "utf8");
    const env: Record<string, string> = {};
    for (const m of deploy("examples/log.env").matchAll(/^([A-Z_]+)=(.*)$/gm)) env[m[1]!] = m[2]!;
    expect(loadServerConfig(env)).toMatchObject({ writeAuth: "token", orgCreation: "token" });
    expect(deploy("compose.yaml")).toMatch(/--write-auth token --org-creation token/);
    expect(deploy("compose.yaml")).toMatch(/token add provisioner/);
    const k8s = deploy("k8s/log.yaml");
    expect(k8s).toMatch(/name: TRUSTLOG_WRITE_AUTH, value: token/);
    expect(k8s).toMatch(/name: TRUSTLOG_ORG_CREATION, value: token/);
  });

  describe('writeAuth "token"', () => {
    let storage: TestStorage;
    let t: TestServer;
    let tokens: WriteTokens;
    const h = new History();
    const root = testKey("adm-root");

    beforeAll(async () => {
      storage = await createStorage("postgres");
      t = await startTestServer(storage, { clock: () => h.now, config: { writeAuth: "token" } });
      tokens = new WriteTokens(t.server.database);
    });
    afterAll(async () => {
      await t?.stop();
      await storage?.dispose();
    });

    const post = (body: unknown, headers: Record<string, string> = {}) =>
      t.request("/v1/events", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });

    it("stores a token as its SHA-256 only, with a name and its times", async () => {
      const token = await tokens.add("provisioner");
      expect(token).toMatch(/^tlw_[A-Za-z0-9_-]{43}$/);
      const rows = await t.server.database.query<Record<string, unknown>>("select * from write_tokens");
      expect(rows).toHaveLength(1);
      expect(Object.keys(rows[0]!).sort()).toEqual(["created_at", "hash", "name", "revoked_at"]);
      expect(toBase64(new Uint8Array(rows[0]!.hash as Uint8Array))).toBe(toBase64(sha256(utf8(token))));
      expect(JSON.stringify(rows)).not.toContain(token.slice(4));
      const [info] = await tokens.list();
      expect(info).toMatchObject({ name: "provisioner", revokedAt: null });
      expect(info!.createdAt).toBeInstanceOf(Date);
      await expect(tokens.add("provisioner")).rejects.toMatchObject({ code: "TOKEN_EXISTS" });
      await expect(tokens.add("bad name")).rejects.toMatchObject({ code: "BAD_REQUEST" });
    });

    it("refuses a write without a valid token: 401, WWW-Authenticate, nothing changed", async () => {
      const before = await treeSize(t);
      const env = h.orgCreate("acme", { admins: [root] });
      const cases: [Record<string, string>, string][] = [
        [{}, 'Bearer realm="trustlog"'],
        [bearer(`tlw_${"A".repeat(43)}`), 'Bearer realm="trustlog", error="invalid_token"'],
        [bearer("not-even-a-token"), 'Bearer realm="trustlog", error="invalid_token"'],
        [{ authorization: "Basic dXNlcjpwYXNz" }, 'Bearer realm="trustlog", error="invalid_token"'],
      ];
      for (const [headers, challenge] of cases) {
        const res = await post(env, headers);
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe(challenge);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
      }
      expect(await treeSize(t)).toBe(before);
    });

    it("decides before reading the body", async () => {
      // Headers announce a body that never comes: only a server deciding first can answer.
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(t.server.port, "127.0.0.1", () =>
          socket.write("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"),
        );
        let data = "";
        socket.on("close", () => resolve(data));
        socket.setEncoding("utf8").on("data", (d: string) => {
          data += d;
          if (data.includes("UNAUTHORIZED")) {
            socket.destroy();
            resolve(data);
          }
        });
      });
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
      expect(answer).toMatch(/\r\nwww-authenticate: Bearer/i);
    });

    /** Posts until the answer is not 401 (a token added elsewhere works within a second). */
    async function postOnceAdmitted(body: unknown, token: string): Promise<Response> {
      const deadline = performance.now() + 10_000;
      for (;;) {
        const res = await post(body, bearer(token));
        if (res.status !== 401 || performance.now() > deadline) return res;
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    it("accepts a write with a valid token", async () => {
      const token = await tokens.add("writer-2");
      const env = h.orgCreate("acme", { admins: [root] });
      const res = await postOnceAdmitted(env, token);
      expect(res.status).toBe(200);
      h.append(env);
    });

    it("`trustlog token add|list|revoke` manage tokens; a revoked token stops working within seconds", async () => {
      const db = ["--database-url", storage.config.databaseUrl as string];
      const added = await runTrustlog(["token", "add", "ci", ...db]);
      expect(added.code, added.stderr).toBe(0);
      const token = added.stdout.trim();
      expect(token).toMatch(/^tlw_/);
      expect(added.stderr).toMatch(/shown this once/);
      const env = h.invite("acme", "alice", admin(root));
      expect((await postOnceAdmitted(env, token)).status).toBe(200);
      h.append(env);

      const revoked = await runTrustlog(["token", "revoke", "ci", ...db]);
      expect(revoked.code, revoked.stderr).toBe(0);
      const list = await runTrustlog(["token", "list", ...db]);
      expect(list.stdout).toMatch(/^ci\tcreated \S+\trevoked \S+$/m);
      expect(list.stdout).toMatch(/^provisioner\tcreated \S+\tactive$/m);
      expect(list.stdout).not.toContain(token);
      // The server reads the tokens again within 5 s: poll until the token is refused.
      const next = h.invite("acme", "bob", admin(root));
      const deadline = performance.now() + 15_000;
      let status = 200;
      while (performance.now() < deadline) {
        status = (await post(batch([{} as never]), bearer(token))).status;
        if (status === 401) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(401);
      const before = await treeSize(t);
      expect((await post(next, bearer(token))).status).toBe(401);
      expect(await treeSize(t)).toBe(before);
      // Revoking what is not active is an error.
      const again = await runTrustlog(["token", "revoke", "ci", ...db]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/NOT_FOUND: no active token named ci/);
    });
  });

  describe('orgCreation "token" (writes otherwise open)', () => {
    let storage: TestStorage;
    let t: TestServer;
    let token: string;
    const h = new History();
    const root = testKey("adm2-root");

    beforeAll(async () => {
      storage = await createStorage("postgres");
      t = await startTestServer(storage, { clock: () => h.now, config: { orgCreation: "token" } });
      token = await new WriteTokens(t.server.database).add("org-admin-console");
    });
    afterAll(async () => {
      await t?.stop();
      await storage?.dispose();
    });

    it("refuses org.create without a token, with 401 and nothing changed", async () => {
      const before = await treeSize(t);
      const res = await t.post(h.orgCreate("acme", { admins: [root] }));
      expect(res.status).toBe(401);
      expect(res.json.error).toEqual({
        code: "UNAUTHORIZED",
        message: "creating an org on this log needs a bearer token",
      });
      expect(res.res.headers.get("www-authenticate")).toBe('Bearer realm="trustlog"');
      expect(await treeSize(t)).toBe(before);
    });

    it("creates an org with a token; the org's own signed events need none", async () => {
      const create = h.orgCreate("acme", { admins: [root] });
      const res = await t.request("/v1/events", {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(token) },
        body: JSON.stringify(create),
      });
      expect(res.status).toBe(200);
      h.append(create);
      const invite = h.invite("acme", "alice", admin(root));
      expect((await t.post(invite)).status).toBe(200);
      h.append(invite);
    });

    it("in a batch, refuses only the org.create items", async () => {
      const before = await treeSize(t);
      const invite = h.invite("acme", "bob", admin(root));
      const r = await t.post(batch([h.orgCreate("beta", { admins: [root] }), invite]));
      expect(r.status).toBe(200);
      expect(r.json.results[0].error.code).toBe("UNAUTHORIZED");
      expect(r.json.results[1].error).toBeUndefined();
      h.append(invite);
      // bob's invite and its index leaf; no org beta.
      expect(await treeSize(t)).toBe(before + 2);
      expect((await t.getJson("/v1/orgs/beta")).status).toBe(404);
    });

    it("refuses a token that is presented and wrong, even where none is needed", async () => {
      const res = await t.request("/v1/events", {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(`tlw_${"B".repeat(43)}`) },
        body: JSON.stringify(h.invite("acme", "carol", admin(root))),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/invalid_token/);
    });
  });
});
