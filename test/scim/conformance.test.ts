// Conformance of a real bridge process (`trustlog scim serve` on PostgreSQL, against a real
// `trustlog serve`): the request steps and assertions of Okta's SCIM 2.0 "SPEC test", the checks
// of python-scim's scim2-tester (discovery, CRUD per resource type, errors), and the request /
// response samples of Microsoft Entra ID's provisioning documentation, in its default dialect
// and with the aadOptscim062020 flag. Then the mapping to the log: each state change is one event
// signed by the bridge under its grant, with the request's hash.

import { randomUUID } from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalize } from "../../core/jcs.js";
import { runTrustlog } from "../helpers/process.js";
import { type ScimWorld, scimWorld, until } from "./harness.js";

const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

let w: ScimWorld;
beforeAll(async () => {
  w = await scimWorld();
});
afterAll(async () => {
  await w?.close();
});

const json = async (r: Response) => (await r.json()) as Record<string, any>;
const rnd = () => randomUUID().slice(0, 8);

async function status(id: string): Promise<Record<string, any>> {
  const r = await fetch(`${w.bridge!.url}/status/users/${id}`, {
    headers: { authorization: `Bearer ${w.token}` },
  });
  return json(r);
}

/** Waits until every outbox row of the user has left (or failed). */
async function settled(id: string): Promise<Record<string, any>> {
  return until(async () => {
    const s = await status(id);
    return s.outbox.every((o: { status: string }) => o.status !== "pending") ? s : undefined;
  }, `outbox of ${id}`);
}

async function logAccount(account: string): Promise<Record<string, any>> {
  return json(await fetch(`${w.log.url}/v1/orgs/${w.org}/accounts/${encodeURIComponent(account)}`));
}

describe("Okta SCIM 2.0 SPEC test", () => {
  const userName = `okta-${rnd()}@example.com`;
  let id = "";

  it("lists users with paging metadata", async () => {
    const r = await w.scim("/Users?count=1&startIndex=1");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/scim+json");
    const b = await json(r);
    expect(b.schemas).toEqual([LIST]);
    expect(b).toHaveProperty("totalResults");
    expect(b).toHaveProperty("itemsPerPage");
    expect(b.startIndex).toBe(1);
    expect(Array.isArray(b.Resources)).toBe(true);
  });

  it("finds no user for an unknown userName", async () => {
    const b = await json(
      await w.scim(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`),
    );
    expect(b.totalResults).toBe(0);
    expect(b.Resources).toEqual([]);
  });

  it("creates a user (password accepted, never returned)", async () => {
    const r = await w.scim("/Users", {
      method: "POST",
      json: {
        schemas: [USER],
        userName,
        name: { givenName: "Okta", familyName: "Tester" },
        emails: [{ primary: true, value: userName, type: "work" }],
        displayName: "Okta Tester",
        locale: "en-US",
        externalId: "00ujl29u0le5T6Aj10h7",
        groups: [],
        password: "1mz050nq",
        active: true,
      },
    });
    expect(r.status).toBe(201);
    const b = await json(r);
    id = b.id;
    expect(typeof id).toBe("string");
    expect(b.userName).toBe(userName);
    expect(b.active).toBe(true);
    expect(b.schemas).toContain(USER);
    expect(b).not.toHaveProperty("password");
    expect(r.headers.get("location")).toBe(b.meta.location);
    expect(r.headers.get("etag")).toBe(b.meta.version);
  });

  it("gets the user by id and by userName, case-insensitively", async () => {
    const one = await json(await w.scim(`/Users/${id}`));
    expect(one.id).toBe(id);
    expect(one.userName).toBe(userName);
    const byName = await json(
      await w.scim(`/Users?filter=${encodeURIComponent(`userName eq "${userName.toUpperCase()}"`)}`),
    );
    expect(byName.totalResults).toBe(1);
    expect(byName.Resources[0].id).toBe(id);
  });

  it("refuses the same userName again with 409 uniqueness", async () => {
    const r = await w.scim("/Users", {
      method: "POST",
      json: { schemas: [USER], userName: userName.toUpperCase(), active: true },
    });
    expect(r.status).toBe(409);
    const b = await json(r);
    expect(b.schemas).toEqual([ERROR]);
    expect(b.status).toBe("409");
    expect(b.scimType).toBe("uniqueness");
  });

  it("answers 404 with a SCIM error for an unknown id", async () => {
    const r = await w.scim(`/Users/${randomUUID()}`);
    expect(r.status).toBe(404);
    const b = await json(r);
    expect(b.schemas).toEqual([ERROR]);
    expect(b.status).toBe("404");
  });

  it("deactivates with PATCH replace {active:false}, and PUTs a profile change", async () => {
    const p = await w.scim(`/Users/${id}`, {
      method: "PATCH",
      json: { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false } }] },
    });
    expect(p.status).toBe(200);
    expect((await json(p)).active).toBe(false);
    const current = await json(await w.scim(`/Users/${id}`));
    const put = await w.scim(`/Users/${id}`, {
      method: "PUT",
      json: { ...current, name: { givenName: "Okta2", familyName: "Tester" }, active: true },
    });
    expect(put.status).toBe(200);
    const b = await json(put);
    expect(b.name.givenName).toBe("Okta2");
    expect(b.active).toBe(true);
  });
});

/**
 * Okta's published "Okta SCIM 2.0 SPEC Test" (the Runscope file Okta's provisioning guide links
 * to), step by step: the same requests, headers and assertions, in order, with its variables
 * carried from step to step. Its first step expects the bridge to hold a user already, as an
 * Okta-connected service would; one is created first. The pauses between steps are left out.
 */
describe("Okta SCIM 2.0 SPEC test, the published step list", () => {
  const okta = (auth: string, extra: Record<string, string> = {}) => ({
    "Accept-Charset": "utf-8",
    "Content-Type": "application/scim+json; charset=utf-8",
    Accept: "application/scim+json",
    Authorization: auth,
    "User-Agent": "OKTA SCIM Integration",
    ...extra,
  });
  const get = (path: string, auth = `Bearer ${w.token}`) =>
    fetch(`${w.bridge!.url}/scim/v2${path}`, { headers: okta(auth) });
  const id = rnd();
  const randomGivenName = `Given${id}`;
  const randomFamilyName = `Family${id}`;
  const randomUsername = `spec-${id}@example.com`;
  const randomEmail = `spec-mail-${id}@example.com`;
  const randomUsernameCaps = randomUsername.toUpperCase();
  let ISVUserid = "";
  let idUserOne = "";

  beforeAll(async () => {
    // An existing user, as step 1 expects.
    const r = await w.scim("/Users", {
      method: "POST",
      json: {
        schemas: [USER],
        userName: `existing-${id}@example.com`,
        name: { givenName: "Existing", familyName: "User" },
        emails: [{ primary: true, value: `existing-${id}@example.com`, type: "work" }],
        active: true,
      },
    });
    expect(r.status).toBe(201);
  });

  it("Required Test: Test Users endpoint", async () => {
    const r = await get("/Users?count=1&startIndex=1");
    expect(r.status).toBe(200);
    const b = await json(r);
    expect(b.Resources.length).toBeGreaterThan(0);
    expect(b.schemas).toContain(LIST);
    for (const k of ["itemsPerPage", "startIndex", "totalResults"]) expect(typeof b[k]).toBe("number");
    const u = b.Resources[0];
    for (const v of [u.id, u.name.familyName, u.name.givenName, u.userName, u.emails[0].value])
      expect(String(v)).not.toBe("");
    expect(u.active).not.toBeUndefined();
    ISVUserid = u.id;
  });

  it("Required Test: Get Users/{{id}}", async () => {
    const r = await get(`/Users/${ISVUserid}`);
    expect(r.status).toBe(200);
    const u = await json(r);
    for (const v of [u.id, u.name.familyName, u.name.givenName, u.userName, u.emails[0].value])
      expect(String(v)).not.toBe("");
    expect(u.active).not.toBeUndefined();
    expect(u.id).toBe(ISVUserid);
  });

  it("Required Test: Test invalid User by username", async () => {
    const r = await get(`/Users?filter=${encodeURIComponent(`userName eq "invalid-${id}@example.com"`)}`);
    expect(r.status).toBe(200);
    const b = await json(r);
    expect(b.schemas).toContain(LIST);
    expect(String(b.totalResults)).toBe("0");
  });

  it("Required Test: Test invalid User by ID", async () => {
    const r = await get(`/Users/${randomUUID()}`);
    expect(r.status).toBe(404);
    const b = await json(r);
    expect(b.detail).toBeTruthy();
    expect(b.schemas).toContain(ERROR);
  });

  it("Required Test: Make sure random user doesn't exist", async () => {
    const r = await get(`/Users?filter=${encodeURIComponent(`userName eq "${randomEmail}"`)}`);
    expect(r.status).toBe(200);
    const b = await json(r);
    expect(b.totalResults).toBe(0);
    expect(b.schemas).toContain(LIST);
  });

  const body = (email: string) =>
    JSON.stringify({
      schemas: [USER],
      userName: randomUsername,
      name: { givenName: randomGivenName, familyName: randomFamilyName },
      emails: [{ primary: true, value: email, type: "work" }],
      displayName: `${randomGivenName} ${randomFamilyName}`,
      active: true,
    });
  const post = (text: string) =>
    fetch(`${w.bridge!.url}/scim/v2/Users`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Authorization: `Bearer ${w.token}`,
        Accept: "application/scim+json; charset=utf-8",
      },
      body: text,
    });

  it("Required Test: Create Okta user with realistic values", async () => {
    const r = await post(body(randomEmail));
    expect(r.status).toBe(201);
    const u = await json(r);
    expect(String(u.active)).toBe("true");
    expect(u.id).toBeTruthy();
    expect(u.name.familyName).toBe(randomFamilyName);
    expect(u.name.givenName).toBe(randomGivenName);
    expect(u.schemas).toContain(USER);
    expect(u.userName).toBe(randomUsername);
    idUserOne = u.id;
    expect(u.emails[0].value).toBe(randomEmail);
  });

  it("Required Test: Verify that user was created", async () => {
    const r = await get(`/Users/${idUserOne}`);
    expect(r.status).toBe(200);
    const u = await json(r);
    expect(u.userName).toBe(randomUsername);
    expect(u.name.familyName).toBe(randomFamilyName);
    expect(u.name.givenName).toBe(randomGivenName);
  });

  it("Required Test: Expect failure when recreating user with same values", async () => {
    const r = await post(body(randomUsername));
    expect(r.status).toBe(409);
  });

  it("Required Test: Username Case Sensitivity Check", async () => {
    const r = await get(`/Users?filter=${encodeURIComponent(`userName eq "${randomUsernameCaps}"`)}`);
    expect(r.status).toBe(200);
  });

  it("Optional Test: Verify Groups endpoint", async () => {
    const started = performance.now();
    const r = await get("/Groups");
    const ms = performance.now() - started;
    expect(r.status).toBe(200);
    const b = await json(r);
    if (b.totalResults >= 1) expect(Array.isArray(b.Resources)).toBe(true);
    // The step's response-time assertion (600 ms), with room for a loaded test machine.
    expect(ms).toBeLessThan(6000);
  });

  it("Required Test: Check status 401", async () => {
    const r = await get(
      `/Users?filter=${encodeURIComponent(`userName eq "${randomUsernameCaps}"`)}`,
      "non-token",
    );
    expect(r.status).toBe(401);
    const b = await json(r);
    expect(b.detail).toBeTruthy();
    expect(String(b.status)).toBe("401");
    expect(b.schemas).toContain(ERROR);
  });

  it("Required Test: Check status 404", async () => {
    const r = await get("/Users/00919288221112222");
    expect(r.status).toBe(404);
    const b = await json(r);
    expect(b.detail).toBeTruthy();
    expect(String(b.status)).toBe("404");
    expect(b.schemas).toContain(ERROR);
  });
});

describe("scim2-tester checks", () => {
  it("serves ServiceProviderConfig, ResourceTypes and Schemas; refuses POST to them with 405", async () => {
    const spc = await json(await w.scim("/ServiceProviderConfig"));
    expect(spc.schemas).toEqual(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]);
    expect(spc.patch.supported).toBe(true);
    expect(spc.filter.supported).toBe(true);
    expect(spc.etag.supported).toBe(true);
    const rts = await json(await w.scim("/ResourceTypes"));
    expect(rts.Resources.map((r: { id: string }) => r.id).sort()).toEqual(["Group", "User"]);
    expect((await json(await w.scim("/ResourceTypes/User"))).schema).toBe(USER);
    const schemas = await json(await w.scim("/Schemas"));
    expect(schemas.Resources.map((s: { id: string }) => s.id)).toEqual(
      expect.arrayContaining([USER, GROUP, ENTERPRISE]),
    );
    const userSchema = await json(await w.scim(`/Schemas/${USER}`));
    expect(userSchema.attributes.find((a: { name: string }) => a.name === "userName").uniqueness).toBe(
      "server",
    );
    for (const p of ["/Schemas", "/ResourceTypes", "/ServiceProviderConfig"]) {
      const r = await w.scim(p, { method: "POST", json: {} });
      expect(r.status, p).toBe(405);
      expect((await json(r)).schemas).toEqual([ERROR]);
    }
  });

  it("runs create, query, replace, delete for Users and Groups, then 404", async () => {
    for (const [type, body] of [
      ["Users", { schemas: [USER], userName: `t-${rnd()}`, displayName: "T" }],
      ["Groups", { schemas: [GROUP], displayName: `g-${rnd()}` }],
    ] as const) {
      const c = await w.scim(`/${type}`, { method: "POST", json: body });
      expect(c.status, type).toBe(201);
      const created = await json(c);
      expect(created.meta.resourceType).toBe(type.slice(0, -1));
      expect((await w.scim(`/${type}/${created.id}`)).status).toBe(200);
      const all = await json(await w.scim(`/${type}?count=200`));
      expect(all.Resources.some((r: { id: string }) => r.id === created.id)).toBe(true);
      const put = await w.scim(`/${type}/${created.id}`, {
        method: "PUT",
        json: { ...body, displayName: "Replaced" },
      });
      expect(put.status).toBe(200);
      expect((await json(put)).displayName).toBe("Replaced");
      expect((await w.scim(`/${type}/${created.id}`, { method: "DELETE" })).status).toBe(204);
      expect((await w.scim(`/${type}/${created.id}`)).status).toBe(404);
      expect((await w.scim(`/${type}/${created.id}`, { method: "DELETE" })).status).toBe(404);
    }
  });

  it("answers bad requests with SCIM errors: invalidFilter, invalidSyntax, invalidValue, 401", async () => {
    const f = await w.scim(`/Users?filter=${encodeURIComponent("userName eq")}`);
    expect(f.status).toBe(400);
    expect((await json(f)).scimType).toBe("invalidFilter");
    const s = await w.scim("/Users", {
      method: "POST",
      body: "{not json",
      headers: { "content-type": "application/scim+json" },
    });
    expect(s.status).toBe(400);
    expect((await json(s)).scimType).toBe("invalidSyntax");
    const v = await w.scim("/Users", {
      method: "POST",
      json: { schemas: [USER], displayName: "no userName" },
    });
    expect(v.status).toBe(400);
    expect((await json(v)).scimType).toBe("invalidValue");
    const none = await w.scim("/Users", { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect((await w.scim("/Users", { token: "tls_wrong" })).status).toBe(401);
  });

  it("pages with startIndex and count, and projects attributes / excludedAttributes", async () => {
    const tag = rnd();
    for (let i = 0; i < 5; i++)
      expect(
        (
          await w.scim("/Users", {
            method: "POST",
            json: { schemas: [USER], userName: `page-${tag}-${i}`, title: "T" },
          })
        ).status,
      ).toBe(201);
    const filter = encodeURIComponent(`userName sw "page-${tag}"`);
    const p1 = await json(await w.scim(`/Users?filter=${filter}&startIndex=1&count=2`));
    const p3 = await json(await w.scim(`/Users?filter=${filter}&startIndex=5&count=2`));
    expect(p1.totalResults).toBe(5);
    expect(p1.itemsPerPage).toBe(2);
    expect(p1.Resources.map((r: { userName: string }) => r.userName)).toEqual([
      `page-${tag}-0`,
      `page-${tag}-1`,
    ]);
    expect(p3.Resources.map((r: { userName: string }) => r.userName)).toEqual([`page-${tag}-4`]);
    const zero = await json(await w.scim(`/Users?filter=${filter}&count=0`));
    expect(zero.totalResults).toBe(5);
    expect(zero.Resources).toEqual([]);
    const only = await json(await w.scim(`/Users?filter=${filter}&attributes=userName&count=1`));
    expect(Object.keys(only.Resources[0]).sort()).toEqual(["id", "meta", "schemas", "userName"]);
    const without = await json(await w.scim(`/Users?filter=${filter}&excludedAttributes=title&count=1`));
    expect(without.Resources[0]).not.toHaveProperty("title");
    expect(without.Resources[0]).toHaveProperty("userName");
    const andFilter = encodeURIComponent(`userName eq "page-${tag}-3" and title eq "t"`);
    expect((await json(await w.scim(`/Users?filter=${andFilter}`))).totalResults).toBe(1);
  });

  it("supports ETags: If-None-Match → 304, stale If-Match → 412, meta.version moves", async () => {
    const c = await json(
      await w.scim("/Users", { method: "POST", json: { schemas: [USER], userName: `etag-${rnd()}` } }),
    );
    const g = await w.scim(`/Users/${c.id}`);
    const tag = g.headers.get("etag")!;
    expect(tag).toBe(c.meta.version);
    expect((await w.scim(`/Users/${c.id}`, { headers: { "if-none-match": tag } })).status).toBe(304);
    const p = await w.scim(`/Users/${c.id}`, {
      method: "PATCH",
      headers: { "if-match": tag },
      json: { schemas: [PATCH], Operations: [{ op: "add", path: "title", value: "X" }] },
    });
    expect(p.status).toBe(200);
    const newTag = p.headers.get("etag")!;
    expect(newTag).not.toBe(tag);
    const stale = await w.scim(`/Users/${c.id}`, {
      method: "PUT",
      headers: { "if-match": tag },
      json: { schemas: [USER], userName: c.userName },
    });
    expect(stale.status).toBe(412);
    expect((await json(stale)).schemas).toEqual([ERROR]);
  });
});

describe("Microsoft Entra ID provisioning samples", () => {
  for (const flag of ["default", "aadOptscim062020"] as const) {
    it(`runs the user and group samples (${flag})`, async () => {
      const opt = flag === "aadOptscim062020";
      const userName = `Test_User_${randomUUID()}`;
      // Create User (Entra sends the enterprise extension and an unknown meta block).
      const c = await w.scim("/Users", {
        method: "POST",
        json: {
          schemas: [USER, ENTERPRISE],
          externalId: "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
          userName,
          active: true,
          emails: [{ primary: true, type: "work", value: "Test_User_11bb6b26@testuser.com" }],
          meta: { resourceType: "User" },
          name: { formatted: "givenName familyName", familyName: "familyName", givenName: "givenName" },
          roles: [],
        },
      });
      expect(c.status).toBe(201);
      const user = await json(c);
      expect(user.externalId).toBe("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
      // Get User by query; zero results.
      const q = await json(await w.scim(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`));
      expect(q.totalResults).toBe(1);
      const q0 = await json(
        await w.scim(`/Users?filter=${encodeURIComponent('userName eq "non-existent user"')}`),
      );
      expect(q0.totalResults).toBe(0);
      // Update User [Multi-valued properties] and [Single-valued properties].
      const op = (s: string) => (opt ? s.toLowerCase() : s);
      const m = await w.scim(`/Users/${user.id}`, {
        method: "PATCH",
        json: {
          schemas: [PATCH],
          Operations: [
            { op: op("Replace"), path: 'emails[type eq "work"].value', value: "updatedEmail@microsoft.com" },
            { op: op("Replace"), path: "name.familyName", value: "updatedFamilyName" },
          ],
        },
      });
      expect(m.status).toBe(200);
      const mb = await json(m);
      expect(mb.emails[0].value).toBe("updatedEmail@microsoft.com");
      expect(mb.name.familyName).toBe("updatedFamilyName");
      expect(mb.name.givenName).toBe("givenName");
      const s = await w.scim(`/Users/${user.id}`, {
        method: "PATCH",
        json: {
          schemas: [PATCH],
          Operations: [{ op: op("Replace"), path: "userName", value: `${userName}-renamed` }],
        },
      });
      expect((await json(s)).userName).toBe(`${userName}-renamed`);
      // Disable User: "False" by default, false with aadOptscim062020; the path-less form too.
      const d = await w.scim(`/Users/${user.id}`, {
        method: "PATCH",
        json: {
          schemas: [PATCH],
          Operations: opt
            ? [{ op: "replace", path: "active", value: false }]
            : [{ op: "Replace", value: { active: "False" } }],
        },
      });
      expect((await json(d)).active).toBe(false);
      // Create Group (with Entra's extra schema URN, ignored), get it without members, by name.
      const g = await w.scim("/Groups", {
        method: "POST",
        json: {
          externalId: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
          schemas: [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
          displayName: `displayName-${rnd()}`,
          meta: { resourceType: "Group" },
        },
      });
      expect(g.status).toBe(201);
      const group = await json(g);
      expect(group.members).toEqual([]);
      const gx = await json(await w.scim(`/Groups/${group.id}?excludedAttributes=members`));
      expect(gx).not.toHaveProperty("members");
      const byName = await json(
        await w.scim(
          `/Groups?excludedAttributes=members&filter=${encodeURIComponent(`displayName eq "${group.displayName}"`)}`,
        ),
      );
      expect(byName.totalResults).toBe(1);
      // Update Group [Non-member attributes], [Add Members], [Remove Members].
      const rename = await w.scim(`/Groups/${group.id}`, {
        method: "PATCH",
        json: {
          schemas: [PATCH],
          Operations: [{ op: op("Replace"), path: "displayName", value: `renamed-${rnd()}` }],
        },
      });
      expect(rename.status).toBe(200);
      const add = await w.scim(`/Groups/${group.id}`, {
        method: "PATCH",
        json: {
          schemas: [PATCH],
          Operations: [{ op: op("Add"), path: "members", value: [{ $ref: null, value: user.id }] }],
        },
      });
      expect([200, 204]).toContain(add.status);
      const withMember = await json(await w.scim(`/Groups/${group.id}`));
      expect(withMember.members.map((x: { value: string }) => x.value)).toEqual([user.id]);
      expect(
        (await json(await w.scim(`/Users/${user.id}`))).groups.map((x: { value: string }) => x.value),
      ).toEqual([group.id]);
      const remove = await w.scim(`/Groups/${group.id}`, {
        method: "PATCH",
        json: {
          schemas: [PATCH],
          Operations: opt
            ? [{ op: "remove", path: `members[value eq "${user.id}"]` }]
            : [{ op: "Remove", path: "members", value: [{ $ref: null, value: user.id }] }],
        },
      });
      expect([200, 204]).toContain(remove.status);
      expect((await json(await w.scim(`/Groups/${group.id}`))).members).toEqual([]);
      // Delete Group, Delete User.
      expect((await w.scim(`/Groups/${group.id}`, { method: "DELETE" })).status).toBe(204);
      expect((await w.scim(`/Users/${user.id}`, { method: "DELETE" })).status).toBe(204);
    });
  }
});

describe("mapping to the log", () => {
  it("accepts a create without Content-Type, and logs invite, suspend, reactivate, delete signed by the bridge", async () => {
    const userName = `Map-${rnd()}@Example.com`;
    const c = await fetch(`${w.bridge!.url}/scim/v2/Users`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.token}` },
      body: JSON.stringify({ schemas: [USER], userName, active: true }),
    });
    expect(c.status).toBe(201);
    const { id } = await json(c);
    const account = userName.toLowerCase();
    const patchBody = { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: false }] };
    expect((await w.scim(`/Users/${id}`, { method: "PATCH", json: patchBody })).status).toBe(200);
    // The identity provider retries the same request: answered, nothing logged twice.
    expect((await w.scim(`/Users/${id}`, { method: "PATCH", json: patchBody })).status).toBe(200);
    expect(
      (
        await w.scim(`/Users/${id}`, {
          method: "PATCH",
          json: { schemas: [PATCH], Operations: [{ op: "replace", path: "active", value: true }] },
        })
      ).status,
    ).toBe(200);
    expect((await w.scim(`/Users/${id}`, { method: "DELETE" })).status).toBe(204);
    const s = await settled(id);
    expect(s.accountId).toBe(account);
    expect(
      s.outbox
        .filter((o: { kind: string }) => o.kind === "event")
        .map((o: { op: string; status: string }) => `${o.op}:${o.status}`),
    ).toEqual([
      "account.invite:done",
      "account.suspend:done",
      "account.reactivate:done",
      "account.delete:done",
    ]);
    const a = await logAccount(account);
    expect(a.status).toBe("deleted");
    const events = await Promise.all(
      (a.events as { index: number }[]).map(
        async (e) => (await json(await fetch(`${w.log.url}/v1/entries/${e.index}`))).envelope.event,
      ),
    );
    expect(events.map((e) => e.type)).toEqual([
      "account.invite",
      "account.suspend",
      "account.reactivate",
      "account.delete",
    ]);
    for (const e of events)
      expect(e.actor).toEqual({ role: "delegate", key: w.delegateKey, grant: w.grantId });
    expect(events[0].body.externalId).toBe(id);
    const hash = Buffer.from(
      sha256(
        new TextEncoder().encode(
          canonicalize({ method: "PATCH", path: `/scim/v2/Users/${id}`, body: patchBody }),
        ),
      ),
    ).toString("base64");
    expect(events[1].body.scimRequestHash).toBe(hash);
    // The invite carries the hash of the create that caused it.
    expect(events[0].body.scimRequestHash).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(events[0].body.scimRequestHash).not.toBe(hash);
    // The invitation was written (file delivery) and its secret then forgotten by the bridge.
    const inv = s.outbox.find((o: { kind: string }) => o.kind === "invite");
    expect(inv.status).toBe("done");
  });

  it("stops accepting a revoked token", async () => {
    const t = await runTrustlog(["scim", "token", "create", "short-lived", "--database-url", w.bridgeDb.url]);
    const token = t.stdout.trim();
    // Another process wrote it: the bridge's token list is cached for a second (scim/tokens.ts).
    await until(
      async () => ((await w.scim("/Users?count=1", { token })).status === 200 ? true : undefined),
      "the new token",
    );
    expect(
      (await runTrustlog(["scim", "token", "revoke", "short-lived", "--database-url", w.bridgeDb.url])).code,
    ).toBe(0);
    await until(
      async () => ((await w.scim("/Users?count=1", { token })).status === 401 ? true : undefined),
      "revocation",
    );
    const list = await runTrustlog(["scim", "token", "list", "--database-url", w.bridgeDb.url]);
    expect(list.stdout).toMatch(/short-lived\t\S+\trevoked/);
    expect(list.stdout).toMatch(/idp\t\S+\tactive/);
  });
});
