// SCIM PATCH (RFC 7644 §3.5.2), as Okta and Entra ID actually send it. A normaliser turns each
// identity provider's dialect into plain RFC 7644 operations, then `scim-patch` applies them:
//   - Entra's capitalised ops ("Replace", "Add", "Remove");
//   - booleans sent as strings ("True"/"False") for boolean attributes (active);
//   - operations without a path whose value object is keyed by attribute paths
//     ({"name.givenName": "…"}, {"urn:…:enterprise:2.0:User:department": "…"});
//   - core schema URN prefixes on paths; paths of unknown schema URNs are ignored;
//   - members added or removed as a list of {value} (with "$ref": null, which is dropped) or by a
//     path filter (members[value eq "…"]);
//   - path filters such as emails[type eq "work"].value, which scim-patch resolves.

import { scimPatch } from "scim-patch";
import { z } from "zod";
import { badRequest, ScimError } from "./errors.js";
import { stripCorePrefix } from "./filter.js";
import { ENTERPRISE_SCHEMA, PATCH_SCHEMA } from "./resources.js";

export interface PatchOp {
  op: "add" | "remove" | "replace";
  path?: string;
  value?: unknown;
}

const MAX_OPERATIONS = 1000;
const BOOLEAN_ATTRS = new Set(["active", "primary"]);

const bodySchema = z.object({
  schemas: z.array(z.string()).optional(),
  Operations: z
    .array(
      z
        .object({ op: z.string(), path: z.string().max(1024).optional(), value: z.unknown().optional() })
        .passthrough(),
    )
    .min(1)
    .max(MAX_OPERATIONS),
});

/** Parses and normalises a PatchOp request body; throws 400 invalidSyntax / invalidPath. */
export function normalisePatch(body: unknown): PatchOp[] {
  // Some clients send "operations" in lower case.
  const b =
    typeof body === "object" && body !== null && !("Operations" in body) && "operations" in body
      ? { ...(body as Record<string, unknown>), Operations: (body as { operations: unknown }).operations }
      : body;
  const r = bodySchema.safeParse(b);
  if (!r.success)
    throw badRequest("invalidSyntax", "a PATCH body needs Operations: a list of {op, path?, value?}");
  if (r.data.schemas && !r.data.schemas.includes(PATCH_SCHEMA))
    throw badRequest("invalidSyntax", `a PATCH body's schemas must include ${PATCH_SCHEMA}`);
  const out: PatchOp[] = [];
  for (const raw of r.data.Operations) {
    const op = raw.op.toLowerCase();
    if (op !== "add" && op !== "remove" && op !== "replace")
      throw badRequest("invalidSyntax", `unknown PATCH op ${raw.op}`);
    const path = raw.path === undefined || raw.path === "" ? undefined : normalisePath(raw.path);
    if (path === null) continue; // an unknown schema's attribute: ignored
    let value = raw.value;
    if (path === undefined) {
      if (op === "remove") throw new ScimError(400, "noTarget", "a remove needs a path");
      if (typeof value !== "object" || value === null || Array.isArray(value))
        throw badRequest("invalidValue", "an operation without a path needs an object value");
      // A path-less add/replace sets the attributes it names and leaves the others alone
      // (RFC 7644 §3.5.2.1, §3.5.2.3): spelled out as one operation per sub-attribute.
      for (const o of explode(op, normaliseValueObject(value as Record<string, unknown>))) out.push(o);
      continue;
    } else {
      const leaf = path
        .replace(/\[.*\]/, "")
        .split(".")
        .pop()!
        .toLowerCase();
      value = normaliseValue(value, BOOLEAN_ATTRS.has(leaf));
      if (path.toLowerCase() === "members" && op === "remove" && Array.isArray(value) && value.length === 0)
        value = undefined;
    }
    // "Remove members, value [...]" with an empty list is a no-op in Entra's dialect.
    if (
      op === "remove" &&
      path?.toLowerCase() === "members" &&
      raw.value !== undefined &&
      value === undefined
    )
      continue;
    const o: PatchOp = { op };
    if (path !== undefined) o.path = path;
    if (value !== undefined) o.value = value;
    out.push(o);
  }
  return out;
}

/** Strips core URN prefixes; extension paths are kept as scim-patch reads them; unknown URNs → null. */
function normalisePath(p: string): string | null {
  const path = stripCorePrefix(p.trim());
  if (path.toLowerCase().startsWith("urn:")) {
    if (path.toLowerCase().startsWith(`${ENTERPRISE_SCHEMA.toLowerCase()}:`))
      return `${ENTERPRISE_SCHEMA}:${path.slice(ENTERPRISE_SCHEMA.length + 1)}`;
    if (path.toLowerCase() === ENTERPRISE_SCHEMA.toLowerCase()) return ENTERPRISE_SCHEMA;
    return null;
  }
  if (!/^[A-Za-z0-9$._-]+(\[.+\])?(\.[A-Za-z0-9$_-]+)?$/.test(path))
    throw badRequest("invalidPath", `bad path ${p}`);
  // scim-patch matches attribute names exactly: use the canonical case of well-known ones.
  return canonicalCase(path);
}

const CANONICAL = new Map(
  [
    "userName",
    "displayName",
    "nickName",
    "externalId",
    "active",
    "emails",
    "phoneNumbers",
    "addresses",
    "name",
    "givenName",
    "familyName",
    "middleName",
    "formatted",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "members",
    "roles",
    "value",
    "type",
    "primary",
    "display",
  ].map((n) => [n.toLowerCase(), n]),
);

function canonicalCase(path: string): string {
  return path
    .replace(/^([A-Za-z0-9$_-]+)/, (m) => CANONICAL.get(m.toLowerCase()) ?? m)
    .replace(/\.([A-Za-z0-9$_-]+)$/, (_m, s: string) => `.${CANONICAL.get(s.toLowerCase()) ?? s}`);
}

function normaliseValue(v: unknown, isBoolean: boolean): unknown {
  if (isBoolean && typeof v === "string" && /^(true|false)$/i.test(v)) return v.toLowerCase() === "true";
  if (Array.isArray(v)) return v.map((x) => normaliseValue(x, false));
  if (typeof v === "object" && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === null || x === undefined) continue; // "$ref": null and friends
      o[k] = normaliseValue(x, BOOLEAN_ATTRS.has(k.toLowerCase()));
    }
    return o;
  }
  return v;
}

/** {"name.givenName": "x", "urn:…:User:dept": "y"} → {name: {givenName: "x"}, "urn:…:User": {dept: "y"}}. */
function normaliseValueObject(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const set = (path: string[], x: unknown) => {
    let o = out;
    for (const p of path.slice(0, -1)) {
      if (typeof o[p] !== "object" || o[p] === null) o[p] = {};
      o = o[p] as Record<string, unknown>;
    }
    const last = path[path.length - 1]!;
    o[last] =
      typeof x === "object" && x !== null && !Array.isArray(x) && typeof o[last] === "object"
        ? { ...(o[last] as object), ...(x as object) }
        : x;
  };
  for (const [k0, x0] of Object.entries(v)) {
    if (x0 === null || x0 === undefined) continue;
    let k = stripCorePrefix(k0);
    if (k.toLowerCase().startsWith("urn:")) {
      const lower = k.toLowerCase();
      const ent = ENTERPRISE_SCHEMA.toLowerCase();
      if (lower === ent) set([ENTERPRISE_SCHEMA], normaliseValue(x0, false));
      else if (lower.startsWith(`${ent}:`))
        set([ENTERPRISE_SCHEMA, ...k.slice(ent.length + 1).split(".")], x0);
      continue; // unknown schema URNs are ignored
    }
    k = canonicalCase(k);
    const parts = k.split(".");
    set(parts, normaliseValue(x0, BOOLEAN_ATTRS.has(parts[parts.length - 1]!.toLowerCase())));
  }
  return out;
}

const MULTI_VALUED = new Set([
  "emails",
  "phoneNumbers",
  "addresses",
  "roles",
  "members",
  "groups",
  "ims",
  "photos",
  "entitlements",
  "x509Certificates",
]);

/** {name: {givenName}} → path name.givenName; extension objects → "urn:…:User:attr"; others as they are. */
function explode(op: "add" | "replace", v: Record<string, unknown>): PatchOp[] {
  const out: PatchOp[] = [];
  for (const [k, x] of Object.entries(v)) {
    const plainObject = typeof x === "object" && x !== null && !Array.isArray(x);
    if (k === ENTERPRISE_SCHEMA && plainObject) {
      for (const [s, y] of Object.entries(x as Record<string, unknown>))
        out.push({ op, path: `${ENTERPRISE_SCHEMA}:${s}`, value: y });
    } else if (plainObject && !MULTI_VALUED.has(k)) {
      for (const [s, y] of Object.entries(x as Record<string, unknown>))
        out.push({ op, path: `${k}.${s}`, value: y });
    } else out.push({ op, path: k, value: x });
  }
  return out;
}

/** Applies normalised operations to a resource (a copy); throws ScimError 400 on a bad target. */
export function applyPatch<T extends Record<string, unknown>>(resource: T, ops: PatchOp[]): T {
  try {
    // biome-ignore lint/suspicious/noExplicitAny: scim-patch's operation type is a union this satisfies.
    return scimPatch(structuredClone(resource) as any, ops as any, { mutateDocument: true }) as T;
  } catch (e) {
    const err = e as { name?: string; message?: string; scimType?: string };
    const t =
      err.scimType === "noTarget"
        ? "noTarget"
        : err.scimType === "invalidPath"
          ? "invalidPath"
          : "invalidValue";
    throw new ScimError(400, t, err.message ?? "PATCH failed");
  }
}
