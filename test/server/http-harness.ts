// Runs a real log server (startServer on an ephemeral port) on PostgreSQL or PGlite for the
// HTTP tests, and gives them the app to call with app.request(). Each server gets its own
// database; the key is generated per server unless a key file is given.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Envelope } from "../../core/event.js";
import { loadServerConfig, type ServerConfigInput } from "../../server/config.js";
import { type RunningServer, startServer, stopServer } from "../../server/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

export type Backend = "postgres" | "pglite";
export const BACKENDS: Backend[] = ["postgres", "pglite"];

/** Where one test log keeps its data, reusable across restarts. */
export interface TestStorage {
  backend: Backend;
  config: Partial<ServerConfigInput>;
  dispose(): Promise<void>;
}

export async function createStorage(backend: Backend): Promise<TestStorage> {
  const dir = mkdtempSync(join(tmpdir(), "trustlog-http-"));
  let db: TestDatabase | undefined;
  if (backend === "postgres") db = await createTestDatabase("http");
  return {
    backend,
    config: { dataDir: dir, keyFile: join(dir, "log.key"), ...(db ? { databaseUrl: db.url } : {}) },
    async dispose() {
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field, as a client would.
export type Json = any;

export interface TestServer {
  server: RunningServer;
  /** Calls the app without a socket (hono app.request). */
  request(path: string, init?: RequestInit): Promise<Response>;
  post(body: unknown): Promise<{ status: number; json: Json; res: Response }>;
  getJson(path: string): Promise<{ status: number; json: Json; res: Response }>;
  stop(): Promise<void>;
}

/** Starts a server on `storage`; `clock` (Unix seconds) judges event times. */
export async function startTestServer(
  storage: TestStorage,
  opts: { clock?: () => number; config?: Partial<ServerConfigInput> } = {},
): Promise<TestServer> {
  const config = loadServerConfig(
    {},
    {
      port: 0,
      logLevel: "silent",
      batchDelayMs: 2,
      origin: "test.trustlog.example/log",
      ...storage.config,
      ...opts.config,
    },
  );
  const clock = opts.clock;
  const server = await startServer(config, {
    processMetrics: false,
    ...(clock ? { clock: () => clock() * 1000 } : {}),
  });
  const request = async (path: string, init?: RequestInit) => server.app.request(path, init);
  return {
    server,
    request,
    async post(body: unknown) {
      const res = await request("/v1/events", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json(), res };
    },
    async getJson(path: string) {
      const res = await request(path);
      return { status: res.status, json: await res.json(), res };
    },
    stop: () => stopServer(server),
  };
}

export const batch = (events: Envelope[]) => ({ events });

/** Headers that differ between any two answers (per request, per connection). */
const VARYING = new Set(["date", "x-request-id", "connection", "keep-alive"]);

/** An answer's headers but those that differ between any two answers: for comparing answers. */
export function stableHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!VARYING.has(name)) out[name] = value;
  });
  return out;
}
