// The bridge's HTTP face (hono): SCIM 2.0 (RFC 7644) at /scim/v2, plus /health, /metrics and
// /status. Request logic is in scim/service.ts; this file parses bodies (whatever the
// Content-Type: Okta's create may send none), authenticates the identity provider's bearer
// token, maps errors to SCIM error bodies in `scimErrorResponse` (the one place), and sets
// ETags (meta.version) and Location.

import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { Hono } from "hono";
import { HTTP_STATUS_OF_KIND } from "../core/error-codes.js";
import { type ErrorKind, isTrustlogError } from "../core/errors.js";
import type { Database } from "../node/db.js";
import { isDatabaseUnavailable, ping } from "../node/db.js";
import type { Logger } from "../node/log.js";
import type { Bridge } from "./bridge.js";
import { ScimError } from "./errors.js";
import type { ScimMetrics } from "./metrics.js";
import {
  etag,
  listResponse,
  paging,
  project,
  resourceTypes,
  schemas,
  serviceProviderConfig,
} from "./resources.js";
import { scimOutbox, scimUsers } from "./schema.js";
import { type RequestInfo, type ScimService, scimRequestHash } from "./service.js";
import type { ScimTokens } from "./tokens.js";

export const SCIM_PREFIX = "/scim/v2";
const SCIM_JSON = "application/scim+json";

export interface ScimAppOptions {
  service: ScimService;
  tokens: ScimTokens;
  bridge: Bridge;
  database: Database;
  metrics: ScimMetrics;
  logger: Logger;
  baseUrl: () => string;
  maxBodyBytes: number;
}

function scimJson(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": `${SCIM_JSON}; charset=utf-8`, ...headers },
  });
}

/** The one mapping from errors to SCIM error answers. */
/**
 * The bridge's answer to each kind of code (core/error-codes.ts) that is not already a SCIM
 * error: the client's mistakes and pushback keep their status, everything else is the bridge's
 * own failure (500).
 */
const KIND_STATUS: Record<ErrorKind, number> = { ...HTTP_STATUS_OF_KIND, unprocessable: 400 };

export function scimErrorResponse(err: unknown, logger?: Logger): Response {
  if (err instanceof ScimError) return scimJson(err.body(), err.status);
  if (isTrustlogError(err) && KIND_STATUS[err.kind] !== 500) {
    const status = KIND_STATUS[err.kind];
    const retry: Record<string, string> = status === 503 || status === 429 ? { "retry-after": "1" } : {};
    return scimJson(new ScimError(status, undefined, err.message, err.code).body(), status, retry);
  }
  if (isDatabaseUnavailable(err))
    return scimJson(new ScimError(503, undefined, "the database cannot be reached; retry").body(), 503, {
      "retry-after": "1",
    });
  logger?.error({ err }, "internal error");
  return scimJson(new ScimError(500, undefined, "internal error").body(), 500);
}

export function createScimApp(o: ScimAppOptions): Hono {
  const app = new Hono();
  const { service } = o;

  app.onError((err) => scimErrorResponse(err, o.logger));
  app.notFound((c) =>
    c.req.path.startsWith(SCIM_PREFIX)
      ? scimJson(
          new ScimError(404, undefined, `no such endpoint ${c.req.path}`, "SCIM_NOT_FOUND").body(),
          404,
        )
      : c.json({ error: { code: "NOT_FOUND", message: "no such route" } }, 404),
  );

  // Metrics: one count per request, by resource type.
  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    const m = c.req.path.match(/^\/scim\/v2\/([A-Za-z]+)/);
    const resource = m ? m[1]! : c.req.path === "/health" ? "health" : "other";
    o.metrics.requests.inc({ method: c.req.method, resource, status: String(c.res.status) });
    o.metrics.requestSeconds.observe(
      { method: c.req.method, resource },
      (performance.now() - started) / 1000,
    );
  });

  const auth = async (c: Context, next: () => Promise<void>) => {
    const h = c.req.header("authorization");
    const m = h?.match(/^Bearer\s+(\S+)\s*$/i);
    if (!(await o.tokens.check(m?.[1]))) {
      const r = scimJson(
        new ScimError(401, undefined, "a valid bearer token is needed", "UNAUTHORIZED").body(),
        401,
        {
          "www-authenticate": `Bearer realm="trustlog-scim"${m ? ', error="invalid_token"' : ""}`,
        },
      );
      return r;
    }
    await next();
  };
  app.use(`${SCIM_PREFIX}/*`, auth);
  app.use("/status/*", auth);

  /** Reads the body as JSON whatever the Content-Type, within the size limit. */
  const body = async (c: Context): Promise<unknown> => {
    const len = Number(c.req.header("content-length") ?? 0);
    if (len > o.maxBodyBytes)
      throw new ScimError(413, undefined, `the body is over ${o.maxBodyBytes} bytes`, "TOO_LARGE");
    const buf = new Uint8Array(await c.req.arrayBuffer());
    if (buf.length > o.maxBodyBytes)
      throw new ScimError(413, undefined, `the body is over ${o.maxBodyBytes} bytes`, "TOO_LARGE");
    const text = new TextDecoder().decode(buf);
    if (text.trim() === "") throw new ScimError(400, "invalidSyntax", "the request needs a JSON body");
    try {
      return JSON.parse(text);
    } catch {
      throw new ScimError(400, "invalidSyntax", "the body is not JSON");
    }
  };

  const writable = () => {
    if (!o.bridge.grant.ok)
      throw new ScimError(
        503,
        undefined,
        `the bridge cannot write to the log: ${o.bridge.grant.code}: ${o.bridge.grant.message}`,
        o.bridge.grant.code ?? "GRANT_INVALID",
      );
  };

  const info = (c: Context, b: unknown): RequestInfo => ({
    method: c.req.method,
    path: c.req.path,
    hash: scimRequestHash(c.req.method, c.req.path, b),
    ifMatch: c.req.header("if-match"),
  });

  const one = (c: Context, r: { resource: Record<string, unknown>; version: number }, status = 200) => {
    const tag = etag(r.version);
    if (status === 200 && c.req.method === "GET") {
      const inm = c.req.header("if-none-match");
      if (
        inm
          ?.split(",")
          .map((t) => t.trim())
          .includes(tag)
      )
        return new Response(null, { status: 304, headers: { etag: tag } });
    }
    const shown = project(r.resource, c.req.query("attributes"), c.req.query("excludedAttributes"));
    const headers: Record<string, string> = { etag: tag };
    if (status === 201) headers.location = String((r.resource.meta as { location: string }).location);
    return scimJson(shown, status, headers);
  };

  const list = (c: Context, total: number, items: Record<string, unknown>[], startIndex: number) =>
    scimJson(
      listResponse(
        items.map((r) => project(r, c.req.query("attributes"), c.req.query("excludedAttributes"))),
        total,
        startIndex,
      ),
    );

  // ---- Users ----
  const P = SCIM_PREFIX;
  app.get(`${P}/Users`, async (c) => {
    const { startIndex, count } = paging(c.req.query());
    const r = await service.listUsers(c.req.query("filter"), startIndex, count);
    return list(c, r.total, r.items, startIndex);
  });
  app.post(`${P}/Users/.search`, async (c) => {
    const b = (await body(c)) as Record<string, string | undefined>;
    const { startIndex, count } = paging({
      startIndex: b.startIndex?.toString(),
      count: b.count?.toString(),
    });
    const r = await service.listUsers(b.filter, startIndex, count);
    return list(c, r.total, r.items, startIndex);
  });
  app.post(`${P}/Users`, async (c) => {
    writable();
    const b = await body(c);
    return one(c, await service.createUser(b, info(c, b)), 201);
  });
  app.get(`${P}/Users/:id`, async (c) => {
    const row = await service.getUserRow(c.req.param("id"));
    return one(c, { resource: await service.userResource(row), version: row.version });
  });
  app.put(`${P}/Users/:id`, async (c) => {
    writable();
    const b = await body(c);
    return one(c, await service.replaceUser(c.req.param("id"), b, info(c, b)));
  });
  app.patch(`${P}/Users/:id`, async (c) => {
    writable();
    const b = await body(c);
    const r = await service.patchUser(c.req.param("id"), b, info(c, b));
    return one(c, r);
  });
  app.delete(`${P}/Users/:id`, async (c) => {
    writable();
    await service.deleteUser(c.req.param("id"), info(c, null));
    return new Response(null, { status: 204 });
  });

  // ---- Groups ----
  const excludesMembers = (c: Context) =>
    (c.req.query("excludedAttributes") ?? "")
      .toLowerCase()
      .split(",")
      .map((s) => s.trim())
      .includes("members");
  app.get(`${P}/Groups`, async (c) => {
    const { startIndex, count } = paging(c.req.query());
    const r = await service.listGroups(c.req.query("filter"), startIndex, count, !excludesMembers(c));
    return list(c, r.total, r.items, startIndex);
  });
  app.post(`${P}/Groups`, async (c) => one(c, await service.createGroup(await body(c)), 201));
  app.get(`${P}/Groups/:id`, async (c) => one(c, await service.getGroup(c.req.param("id"))));
  app.put(`${P}/Groups/:id`, async (c) => {
    const b = await body(c);
    return one(c, await service.replaceGroup(c.req.param("id"), b, info(c, b)));
  });
  app.patch(`${P}/Groups/:id`, async (c) => {
    const b = await body(c);
    const r = await service.patchGroup(c.req.param("id"), b, info(c, b));
    // Entra expects 204 or 200; answering the resource serves both (and Okta wants it).
    return one(c, r);
  });
  app.delete(`${P}/Groups/:id`, async (c) => {
    await service.deleteGroup(c.req.param("id"), info(c, null));
    return new Response(null, { status: 204 });
  });

  // ---- discovery: GET only ----
  const notAllowed = () =>
    scimJson(new ScimError(405, undefined, "method not allowed", "SCIM_METHOD").body(), 405, {
      allow: "GET",
    });
  const discovery = (path: string, get: (c: Context) => Response) => {
    app.get(path, get);
    app.on(["POST", "PUT", "PATCH", "DELETE"], path, notAllowed);
  };
  discovery(`${P}/ServiceProviderConfig`, () => scimJson(serviceProviderConfig(o.baseUrl())));
  discovery(`${P}/ResourceTypes`, () => {
    const all = resourceTypes(o.baseUrl());
    return scimJson(listResponse(all, all.length, 1));
  });
  discovery(`${P}/ResourceTypes/:id`, (c) => {
    const r = resourceTypes(o.baseUrl()).find((t) => t.id === c.req.param("id"));
    if (!r) throw new ScimError(404, undefined, "no such resource type", "SCIM_NOT_FOUND");
    return scimJson(r);
  });
  discovery(`${P}/Schemas`, () => {
    const all = schemas(o.baseUrl());
    return scimJson(listResponse(all, all.length, 1));
  });
  discovery(`${P}/Schemas/:id`, (c) => {
    const r = schemas(o.baseUrl()).find((s) => s.id === c.req.param("id"));
    if (!r) throw new ScimError(404, undefined, "no such schema", "SCIM_NOT_FOUND");
    return scimJson(r);
  });
  app.on(["GET", "POST", "PUT", "PATCH", "DELETE"], `${P}/Bulk`, () =>
    scimJson(
      new ScimError(501, undefined, "bulk operations are not supported", "SCIM_NOT_IMPLEMENTED").body(),
      501,
    ),
  );

  // ---- status of a user in the log (bridge-specific, bearer token) ----
  app.get("/status/users/:id", async (c) => {
    const [u] = await o.database.db
      .select()
      .from(scimUsers)
      .where(eq(scimUsers.id, c.req.param("id")));
    if (!u) return c.json({ error: { code: "NOT_FOUND", message: "no such user" } }, 404);
    const outbox = await o.database.db
      .select({
        id: scimOutbox.id,
        kind: scimOutbox.kind,
        status: scimOutbox.status,
        payload: scimOutbox.payload,
        result: scimOutbox.result,
        lastError: scimOutbox.lastError,
        attempts: scimOutbox.attempts,
      })
      .from(scimOutbox)
      .where(eq(scimOutbox.userId, u.id))
      .orderBy(scimOutbox.id);
    return c.json({
      id: u.id,
      userName: u.userName,
      accountId: u.accountId,
      active: u.active,
      deleted: u.deleted,
      logStatus: u.logStatus,
      confirmed: u.confirmedAt !== null,
      confirmedAt: u.confirmedAt?.toISOString() ?? null,
      confirmation: u.confirmation,
      problem: u.problem,
      outbox: outbox.map((r) => ({
        id: r.id,
        kind: r.kind,
        status: r.status,
        op: (r.payload as { op?: string }).op ?? null,
        result: r.result,
        lastError: r.lastError,
        attempts: r.attempts,
      })),
    });
  });

  // ---- operations ----
  app.get("/health", async (c) => {
    let database = "ok";
    try {
      await ping(o.database);
    } catch (e) {
      database = `unavailable: ${(e as Error).message}`;
    }
    const backlog = database === "ok" ? await o.bridge.backlog().catch(() => undefined) : undefined;
    const g = o.bridge.grant;
    const ok = database === "ok" && g.ok && o.bridge.logContact.ok;
    return c.json(
      {
        status: ok ? "ok" : "failing",
        database,
        log: {
          url: o.bridge.client.url,
          reachable: o.bridge.logContact.ok,
          at: o.bridge.logContact.at,
          ...(o.bridge.logContact.error ? { error: o.bridge.logContact.error } : {}),
        },
        grant: {
          valid: g.ok,
          ...(g.code ? { code: g.code } : {}),
          message: g.message,
          checkedAt: g.checkedAt,
          ...(g.grant ? { grant: g.grant } : {}),
        },
        outbox: backlog ?? null,
        delegate: o.bridge.delegateKey,
      },
      ok ? 200 : 503,
    );
  });
  app.get("/metrics", async (c) => {
    c.header("content-type", o.metrics.registry.contentType);
    return c.body(await o.metrics.registry.metrics());
  });

  return app;
}
