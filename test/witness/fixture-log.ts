// A tiny HTTP log for pull-mode and gossip tests: a hono app serving /checkpoint, C2SP hash
// tiles and /v1/proof/consistency, all computed with core/ from a TestLog. (The real log server
// is built elsewhere; this serves the same read API from memory.)

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { concat, toBase64 } from "../../core/bytes.js";
import { TILE_HEIGHT, tilePath } from "../../core/tile-paths.js";
import type { TestLog } from "./helpers.js";

// Hash tile paths only; checked by re-encoding with core's tilePath.
function tileOfPath(path: string): { level: number; index: number; width: number } | undefined {
  const m = /^tile\/(\d+)\/((?:x\d{3}\/)*\d{3})(?:\.p\/(\d+))?$/.exec(path);
  if (!m) return undefined;
  const t = {
    level: Number(m[1]),
    index: Number(m[2]!.replaceAll("x", "").replaceAll("/", "")),
    width: m[3] ? Number(m[3]) : 256,
  };
  return tilePath(t) === path ? t : undefined;
}

export interface FixtureLog {
  url: string;
  /** What the log currently shows (swap it to simulate a fork). */
  current: { log: TestLog; size: number };
  requests: string[];
  close(): Promise<void>;
}

export async function startFixtureLog(log: TestLog, size = log.size): Promise<FixtureLog> {
  const fixture = { current: { log, size }, requests: [] as string[] } as FixtureLog;
  const app = new Hono();
  app.use(async (c, next) => {
    fixture.requests.push(new URL(c.req.url).pathname);
    await next();
  });
  app.get("/checkpoint", async (c) => c.text(await fixture.current.log.note(fixture.current.size)));
  app.get("/tile/*", async (c) => {
    const t = tileOfPath(new URL(c.req.url).pathname.slice(1));
    if (!t) return c.notFound();
    // Like a real log, every tile of every size up to its latest exists, whatever it shows.
    const l = fixture.current.log;
    const s = l.size;
    const level = t.level * TILE_HEIGHT;
    const first = t.index * 256;
    if ((first + t.width) * 2 ** level > s) return c.notFound();
    const nodes = Array.from({ length: t.width }, (_, i) => ({ level, index: first + i }));
    const hashes = await l.reader(s).readHashes(nodes);
    return new Response(Buffer.from(concat(...hashes)), {
      headers: { "Content-Type": "application/octet-stream" },
    });
  });
  app.get("/v1/proof/consistency", async (c) => {
    const from = Number(c.req.query("from"));
    const to = Number(c.req.query("to"));
    const { log: l, size: s } = fixture.current;
    if (!(from <= to && to <= s)) return c.json({ error: { code: "BAD_RANGE" } }, 400);
    return c.json({ from, to, hashes: (await l.proof(from, to)).map(toBase64) });
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  fixture.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fixture.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
  return fixture;
}
