// SCIM resources (RFC 7643): the User and Group shapes the bridge accepts, how a stored
// resource is shown (meta, ETag, attributes/excludedAttributes), and the discovery documents
// (ServiceProviderConfig, ResourceTypes, Schemas). Validation is zod, lenient where identity
// providers differ (unknown attributes are kept, unknown schema URNs dropped) and strict where
// the bridge depends on a value (userName, active, displayName, members).

import { z } from "zod";
import { badRequest } from "./errors.js";
import { stripCorePrefix } from "./filter.js";

export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
export const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
export const RT_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
export const SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema";

export const MAX_RESULTS = 200;
export const DEFAULT_COUNT = 100;

/** Attributes the bridge never stores or returns. */
const NEVER_STORED = new Set(["password", "meta", "id", "schemas"]);

/** A SCIM boolean as identity providers send it: true/false, or Entra's "True"/"False" strings. */
export const scimBoolean = z.union([
  z.boolean(),
  z
    .string()
    .regex(/^(true|false)$/i)
    .transform((s) => s.toLowerCase() === "true"),
]);

const userSchema = z
  .object({
    userName: z.string().trim().min(1).max(512),
    externalId: z.string().min(1).max(256).nullish(),
    active: scimBoolean.optional(),
    displayName: z.string().max(1024).nullish(),
    emails: z
      .array(z.object({ value: z.string().max(512).nullish() }).passthrough())
      .max(32)
      .nullish(),
  })
  .passthrough();

const memberSchema = z
  .object({ value: z.string().min(1).max(256), display: z.string().max(1024).nullish() })
  .passthrough();

const groupSchema = z
  .object({
    displayName: z.string().trim().min(1).max(1024),
    externalId: z.string().min(1).max(256).nullish(),
    members: z.array(memberSchema).max(10_000).nullish(),
  })
  .passthrough();

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
}

/**
 * Keeps what the bridge stores of a request body: core attributes, the enterprise extension;
 * drops the password (accepted, never stored), readOnly attributes, nulls and unknown schema URNs.
 */
export function cleanResource(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k0, v] of Object.entries(body)) {
    if (v === null || v === undefined) continue;
    let k = stripCorePrefix(k0);
    if (k.toLowerCase().startsWith("urn:")) {
      if (k.toLowerCase() !== ENTERPRISE_SCHEMA.toLowerCase()) continue; // unknown extension: ignored
      k = ENTERPRISE_SCHEMA;
    }
    if (NEVER_STORED.has(k.toLowerCase() === "password" ? "password" : k)) continue;
    if (k.toLowerCase() === "password") continue;
    out[k] = stripNulls(v);
  }
  return out;
}

function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (typeof v === "object" && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) o[k] = stripNulls(x);
    return o;
  }
  return v;
}

export interface UserInput {
  userName: string;
  externalId: string | undefined;
  active: boolean;
  resource: Record<string, unknown>;
}

export function parseUser(body: unknown): UserInput {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw badRequest("invalidSyntax", "a User must be a JSON object");
  const resource = cleanResource(body as Record<string, unknown>);
  const r = userSchema.safeParse(resource);
  if (!r.success) throw badRequest("invalidValue", issues(r.error));
  const active = r.data.active ?? true;
  return {
    userName: r.data.userName,
    externalId: r.data.externalId ?? undefined,
    active,
    resource: { ...resource, userName: r.data.userName, active },
  };
}

export interface GroupInput {
  displayName: string;
  externalId: string | undefined;
  members: string[];
  resource: Record<string, unknown>;
}

export function parseGroup(body: unknown): GroupInput {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw badRequest("invalidSyntax", "a Group must be a JSON object");
  const resource = cleanResource(body as Record<string, unknown>);
  const r = groupSchema.safeParse(resource);
  if (!r.success) throw badRequest("invalidValue", issues(r.error));
  const { members, ...rest } = resource;
  void members;
  return {
    displayName: r.data.displayName,
    externalId: r.data.externalId ?? undefined,
    members: [...new Set((r.data.members ?? []).map((m) => m.value))],
    resource: { ...rest, displayName: r.data.displayName },
  };
}

export const etag = (version: number) => `W/"${version}"`;

export interface Meta {
  resourceType: "User" | "Group";
  created: Date;
  lastModified: Date;
  version: number;
  location: string;
}

export function withMeta(
  schemas: string[],
  id: string,
  resource: Record<string, unknown>,
  m: Meta,
): Record<string, unknown> {
  const ext = resource[ENTERPRISE_SCHEMA] !== undefined ? [ENTERPRISE_SCHEMA] : [];
  return {
    schemas: [...schemas, ...ext],
    id,
    ...resource,
    meta: {
      resourceType: m.resourceType,
      created: m.created.toISOString(),
      lastModified: m.lastModified.toISOString(),
      version: etag(m.version),
      location: m.location,
    },
  };
}

const ALWAYS = new Set(["id", "schemas", "meta"]);

/** RFC 7644 §3.4.2.5: `attributes` keeps only the named ones (plus id, schemas, meta); `excludedAttributes` drops. */
export function project(
  resource: Record<string, unknown>,
  attributes: string | undefined,
  excluded: string | undefined,
): Record<string, unknown> {
  const list = (s: string | undefined) =>
    (s ?? "")
      .split(",")
      .map((a) => stripCorePrefix(a.trim()))
      .filter((a) => a !== "")
      .map((a) => a.toLowerCase());
  const inc = list(attributes);
  const exc = list(excluded);
  if (inc.length > 0) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(resource)) {
      const kl = k.toLowerCase();
      if (ALWAYS.has(kl) || inc.includes(kl)) out[k] = v;
      else {
        const subs = inc
          .filter((a) => a.startsWith(`${kl}.`) || a.startsWith(`${kl}:`))
          .map((a) => a.slice(kl.length + 1));
        if (subs.length > 0 && typeof v === "object" && v !== null) {
          out[k] = Array.isArray(v) ? v.map((x) => pick(x, subs)) : pick(v, subs);
        }
      }
    }
    return out;
  }
  if (exc.length > 0) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(resource)) {
      const kl = k.toLowerCase();
      if (!ALWAYS.has(kl) && exc.includes(kl)) continue;
      const subs = exc.filter((a) => a.startsWith(`${kl}.`)).map((a) => a.slice(kl.length + 1));
      out[k] =
        subs.length > 0 && typeof v === "object" && v !== null
          ? Array.isArray(v)
            ? v.map((x) => omit(x, subs))
            : omit(v, subs)
          : v;
    }
    return out;
  }
  return resource;
}

function pick(v: unknown, keys: string[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => keys.includes(k.toLowerCase())));
}

function omit(v: unknown, keys: string[]): unknown {
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !keys.includes(k.toLowerCase())));
}

export function listResponse(
  resources: unknown[],
  total: number,
  startIndex: number,
): Record<string, unknown> {
  return {
    schemas: [LIST_SCHEMA],
    totalResults: total,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

/** startIndex (1-based, below 1 counts as 1) and count (0..MAX_RESULTS; negative counts as 0). */
export function paging(q: { startIndex?: string | undefined; count?: string | undefined }): {
  startIndex: number;
  count: number;
} {
  const num = (s: string | undefined, name: string) => {
    if (s === undefined || s === "") return undefined;
    if (!/^-?\d+$/.test(s)) throw badRequest("invalidValue", `${name} must be an integer`);
    return Number(s);
  };
  const si = num(q.startIndex, "startIndex") ?? 1;
  const c = num(q.count, "count") ?? DEFAULT_COUNT;
  return { startIndex: Math.max(1, si), count: Math.min(MAX_RESULTS, Math.max(0, c)) };
}

// ---- discovery (RFC 7644 §4, RFC 7643 §5-7) ----

export function serviceProviderConfig(base: string): Record<string, unknown> {
  return {
    schemas: [SPC_SCHEMA],
    documentationUri: "https://github.com/trustlog/trustlog/blob/main/docs/scim.md",
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: "oauthbearertoken",
        name: "OAuth Bearer Token",
        description: "A bearer token from `trustlog scim token create`",
        primary: true,
      },
    ],
    meta: { resourceType: "ServiceProviderConfig", location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypes(base: string): Record<string, unknown>[] {
  return [
    {
      schemas: [RT_SCHEMA],
      id: "User",
      name: "User",
      endpoint: "/Users",
      description: "User Account",
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }],
      meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: [RT_SCHEMA],
      id: "Group",
      name: "Group",
      endpoint: "/Groups",
      description: "Group",
      schema: GROUP_SCHEMA,
      meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/Group` },
    },
  ];
}

type Attr = Record<string, unknown>;
function attr(
  name: string,
  type = "string",
  o: Partial<{
    multi: boolean;
    required: boolean;
    caseExact: boolean;
    mutability: string;
    returned: string;
    uniqueness: string;
    sub: Attr[];
    description: string;
    canonical: string[];
  }> = {},
): Attr {
  return {
    name,
    type,
    multiValued: o.multi ?? false,
    description: o.description ?? name,
    required: o.required ?? false,
    ...(type === "string" || type === "reference" ? { caseExact: o.caseExact ?? false } : {}),
    ...(o.canonical ? { canonicalValues: o.canonical } : {}),
    mutability: o.mutability ?? "readWrite",
    returned: o.returned ?? "default",
    uniqueness: o.uniqueness ?? "none",
    ...(o.sub ? { subAttributes: o.sub } : {}),
    ...(type === "reference" ? { referenceTypes: ["User", "Group", "external"] } : {}),
  };
}
const multiComplex = (name: string, types: string[]) =>
  attr(name, "complex", {
    multi: true,
    sub: [
      attr("value"),
      attr("display", "string", { mutability: "readOnly" }),
      attr("type", "string", { canonical: types }),
      attr("primary", "boolean"),
    ],
  });

export function schemas(base: string): Record<string, unknown>[] {
  const s = (id: string, name: string, attributes: Attr[]) => ({
    schemas: [SCHEMA_SCHEMA],
    id,
    name,
    description: name,
    attributes,
    meta: { resourceType: "Schema", location: `${base}/Schemas/${id}` },
  });
  return [
    s(USER_SCHEMA, "User", [
      attr("userName", "string", { required: true, uniqueness: "server" }),
      attr("name", "complex", {
        sub: ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"].map(
          (n) => attr(n),
        ),
      }),
      attr("displayName"),
      attr("nickName"),
      attr("profileUrl", "reference"),
      attr("title"),
      attr("userType"),
      attr("preferredLanguage"),
      attr("locale"),
      attr("timezone"),
      attr("active", "boolean"),
      attr("password", "string", { mutability: "writeOnly", returned: "never" }),
      multiComplex("emails", ["work", "home", "other"]),
      multiComplex("phoneNumbers", ["work", "home", "mobile", "fax", "pager", "other"]),
      attr("addresses", "complex", {
        multi: true,
        sub: ["formatted", "streetAddress", "locality", "region", "postalCode", "country", "type"].map((n) =>
          attr(n),
        ),
      }),
      attr("groups", "complex", {
        multi: true,
        mutability: "readOnly",
        sub: [
          attr("value", "string", { mutability: "readOnly" }),
          attr("display", "string", { mutability: "readOnly" }),
        ],
      }),
      multiComplex("roles", []),
      attr("externalId", "string", { caseExact: true }),
    ]),
    s(GROUP_SCHEMA, "Group", [
      attr("displayName", "string", { required: true }),
      attr("members", "complex", {
        multi: true,
        sub: [
          attr("value", "string", { mutability: "immutable" }),
          attr("display", "string", { mutability: "immutable" }),
          attr("$ref", "reference", { mutability: "immutable" }),
          attr("type", "string", { mutability: "immutable", canonical: ["User"] }),
        ],
      }),
      attr("externalId", "string", { caseExact: true }),
    ]),
    s(ENTERPRISE_SCHEMA, "EnterpriseUser", [
      attr("employeeNumber"),
      attr("costCenter"),
      attr("organization"),
      attr("division"),
      attr("department"),
      attr("manager", "complex", {
        sub: [
          attr("value"),
          attr("$ref", "reference"),
          attr("displayName", "string", { mutability: "readOnly" }),
        ],
      }),
    ]),
  ];
}
