// Pure parts of the bridge: the filter parser, the PATCH normaliser (Okta's and Entra's
// dialects), attribute projection, the userName → account id rule, the request hash.

import { describe, expect, it } from "vitest";
import { ScimError } from "../../scim/errors.js";
import { matches, parseFilter } from "../../scim/filter.js";
import { applyPatch, normalisePatch } from "../../scim/patch.js";
import { cleanResource, paging, parseUser, project } from "../../scim/resources.js";
import { accountIdFor, scimRequestHash } from "../../scim/service.js";

const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const user = {
  id: "u1",
  userName: "Alice@Example.com",
  externalId: "ExT-1",
  active: true,
  name: { givenName: "Alice", familyName: "Smith" },
  emails: [
    { type: "work", value: "alice@example.com", primary: true },
    { type: "home", value: "a@home.example" },
  ],
  meta: { version: 'W/"1"' },
};

describe("filter", () => {
  it("matches userName eq case-insensitively, externalId case-exactly", () => {
    expect(matches(user, parseFilter('userName eq "alice@example.COM"'))).toBe(true);
    expect(matches(user, parseFilter('externalId eq "ext-1"'))).toBe(false);
    expect(matches(user, parseFilter('externalId eq "ExT-1"'))).toBe(true);
  });

  it("supports and, or, not, pr, co/sw/ew, value paths and sub-attributes", () => {
    expect(matches(user, parseFilter('userName sw "alice" and active eq true'))).toBe(true);
    expect(matches(user, parseFilter('userName sw "bob" or name.familyName eq "smith"'))).toBe(true);
    expect(matches(user, parseFilter('not (userName co "bob")'))).toBe(true);
    expect(matches(user, parseFilter('emails[type eq "work" and value ew "example.com"]'))).toBe(true);
    expect(matches(user, parseFilter('emails[type eq "other"]'))).toBe(false);
    expect(matches(user, parseFilter('emails.value eq "a@home.example"'))).toBe(true);
    expect(matches(user, parseFilter("title pr"))).toBe(false);
    expect(matches(user, parseFilter("name pr"))).toBe(true);
    expect(
      matches(
        user,
        parseFilter('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice@example.com"'),
      ),
    ).toBe(true);
    expect(matches(user, parseFilter('USERNAME EQ "alice@example.com"'))).toBe(true);
  });

  it("refuses bad filters with 400 invalidFilter", () => {
    for (const bad of [
      "userName eq",
      'userName xx "a"',
      '(userName eq "a"',
      'userName eq "a" extra',
      '"a" eq userName',
      'userName eq "unterminated',
    ]) {
      let err: unknown;
      try {
        parseFilter(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ScimError);
      expect((err as ScimError).status).toBe(400);
      expect((err as ScimError).scimType).toBe("invalidFilter");
    }
  });
});

describe("PATCH normaliser", () => {
  it('lower-cases Entra\'s ops and turns "False"/"True" into booleans', () => {
    const ops = normalisePatch({
      schemas: [PATCH],
      Operations: [
        { op: "Replace", path: "active", value: "False" },
        { op: "Add", value: { active: "True" } },
      ],
    });
    expect(ops).toEqual([
      { op: "replace", path: "active", value: false },
      { op: "add", path: "active", value: true },
    ]);
  });

  it("expands attribute-path keys of a path-less value and ignores unknown schema URNs", () => {
    const ops = normalisePatch({
      schemas: [PATCH],
      Operations: [
        {
          op: "Replace",
          value: {
            "name.givenName": "Al",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Eng",
            "urn:example:custom:2.0:User:shoeSize": "42",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Al S",
          },
        },
        { op: "replace", path: "urn:example:custom:2.0:User:shoeSize", value: "43" },
      ],
    });
    expect(ops).toEqual([
      { op: "replace", path: "name.givenName", value: "Al" },
      {
        op: "replace",
        path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        value: "Eng",
      },
      { op: "replace", path: "displayName", value: "Al S" },
    ]);
    const out = applyPatch(user as Record<string, unknown>, ops);
    expect(out.name).toEqual({ givenName: "Al", familyName: "Smith" });
    expect(out.displayName).toBe("Al S");
  });

  it('applies path filters (emails[type eq "work"].value)', () => {
    const out = applyPatch(
      user as Record<string, unknown>,
      normalisePatch({
        schemas: [PATCH],
        Operations: [{ op: "replace", path: 'emails[type eq "work"].value', value: "new@example.com" }],
      }),
    );
    expect((out.emails as { value: string }[])[0]!.value).toBe("new@example.com");
    expect((out.emails as { value: string }[])[1]!.value).toBe("a@home.example");
  });

  it('adds and removes members in both shapes, dropping "$ref": null', () => {
    const group = { displayName: "G", members: [{ value: "a" }, { value: "b" }] };
    const add = normalisePatch({
      schemas: [PATCH],
      Operations: [{ op: "Add", path: "members", value: [{ value: "c", $ref: null, display: "C" }] }],
    });
    expect(add[0]!.value).toEqual([{ value: "c", display: "C" }]);
    const removeByValue = normalisePatch({
      schemas: [PATCH],
      Operations: [{ op: "Remove", path: "members", value: [{ value: "a" }] }],
    });
    const removeByFilter = normalisePatch({
      schemas: [PATCH],
      Operations: [{ op: "remove", path: 'members[value eq "b"]' }],
    });
    let g = applyPatch(group, add);
    g = applyPatch(g, removeByValue);
    g = applyPatch(g, removeByFilter);
    expect(g.members.map((m) => m.value)).toEqual(["c"]);
  });

  it("refuses malformed PATCH bodies", () => {
    expect(() => normalisePatch({ schemas: [PATCH], Operations: [{ op: "move", path: "x" }] })).toThrow(
      ScimError,
    );
    expect(() =>
      normalisePatch({ schemas: ["urn:x"], Operations: [{ op: "add", path: "x", value: 1 }] }),
    ).toThrow(ScimError);
    expect(() => normalisePatch({ schemas: [PATCH] })).toThrow(ScimError);
    expect(() => normalisePatch({ schemas: [PATCH], Operations: [{ op: "remove" }] })).toThrow(ScimError);
  });
});

describe("resources", () => {
  it("accepts a password and never keeps it; drops unknown extensions", () => {
    const u = parseUser({
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:example:x"],
      userName: "bob",
      password: "hunter2",
      "urn:example:x": { a: 1 },
      active: "False",
    });
    expect(JSON.stringify(u.resource)).not.toContain("hunter2");
    expect(u.resource).not.toHaveProperty("urn:example:x");
    expect(u.active).toBe(false);
    expect(cleanResource({ id: "x", meta: {}, userName: "a", title: null })).toEqual({ userName: "a" });
  });

  it("projects attributes and excludedAttributes, always keeping id, schemas, meta", () => {
    const r = {
      schemas: ["s"],
      id: "1",
      meta: {},
      userName: "a",
      name: { givenName: "g", familyName: "f" },
      emails: [],
    };
    expect(project(r, "userName", undefined)).toEqual({ schemas: ["s"], id: "1", meta: {}, userName: "a" });
    expect(project(r, "name.givenName", undefined)).toEqual({
      schemas: ["s"],
      id: "1",
      meta: {},
      name: { givenName: "g" },
    });
    expect(project(r, undefined, "emails,name.familyName")).toEqual({
      schemas: ["s"],
      id: "1",
      meta: {},
      userName: "a",
      name: { givenName: "g" },
    });
  });

  it("pages from startIndex 1 with count capped", () => {
    expect(paging({})).toEqual({ startIndex: 1, count: 100 });
    expect(paging({ startIndex: "0", count: "-3" })).toEqual({ startIndex: 1, count: 0 });
    expect(paging({ count: "100000" }).count).toBe(200);
    expect(() => paging({ count: "x" })).toThrow(ScimError);
  });
});

describe("account ids and request hashes", () => {
  it("lower-cases a userName that fits the id rules, hashes one that does not", () => {
    expect(accountIdFor(" Alice@Example.COM ")).toBe("alice@example.com");
    const odd = accountIdFor("Renée O'Brien");
    expect(odd).toMatch(/^u\.[0-9a-f]{32}$/);
    expect(accountIdFor("renée o'brien")).toBe(odd);
    expect(accountIdFor("x".repeat(129))).toMatch(/^u\./);
  });

  it("hashes the canonical request, whatever the key order", () => {
    // The hash is public: a password (attribute, or a PATCH value at a password path) never
    // enters it, so it cannot be guessed offline from the log.
    const create = { userName: "a@example.com", password: "hunter2" };
    expect(scimRequestHash("POST", "/scim/v2/Users", create)).toBe(
      scimRequestHash("POST", "/scim/v2/Users", { ...create, password: "other" }),
    );
    const patch = (value: string) => ({ Operations: [{ op: "replace", path: "password", value }] });
    expect(scimRequestHash("PATCH", "/scim/v2/Users/1", patch("x"))).toBe(
      scimRequestHash("PATCH", "/scim/v2/Users/1", patch("y")),
    );
    const a = scimRequestHash("PATCH", "/scim/v2/Users/1", { b: 1, a: [true] });
    expect(a).toBe(scimRequestHash("PATCH", "/scim/v2/Users/1", { a: [true], b: 1 }));
    expect(a).not.toBe(scimRequestHash("PATCH", "/scim/v2/Users/2", { a: [true], b: 1 }));
    expect(Buffer.from(a, "base64")).toHaveLength(32);
  });
});
