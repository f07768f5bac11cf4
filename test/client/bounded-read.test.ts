// A hostile log or peer answers with 600 MB: the client and the witness read answers as streams
// and drop them at the cap of their kind (client/bounded-read.ts), so neither buffers the
// answer. A loopback server generates the 600 MB as the reader drains it (one 64 KiB chunk,
// written again and again), so the test holds no such buffer either; the process's memory is
// sampled while each call runs. Normal answers under the caps still read as before.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANSWER_LIMITS, readBounded } from "../../client/bounded-read.js";
import { LogClient } from "../../client/log-client.js";
import { equalBytes } from "../../core/bytes.js";
import { encodeEntryBundle } from "../../core/entry-bundle.js";
import { type ErrorCode, isTrustlogError } from "../../core/errors.js";
import { MAX_ENVELOPE_BYTES } from "../../core/event.js";
import { FULL_TILE_BYTES } from "../../core/tile-paths.js";
import { httpGetOk, WITNESS_ANSWER_LIMITS } from "../../witness/http.js";

const HUGE = 600 * 1000 * 1000;
const MIB = 1 << 20;
const CHUNK = Buffer.alloc(64 << 10, 0x61);

/** What the server wrote on each request, and whether the reader hung up before the end. */
interface Streamed {
  sent: number;
  closedEarly: Promise<boolean>;
}
const streams: Streamed[] = [];

// Writes `total` bytes of CHUNK only as fast as the reader takes them (backpressure), and
// stops as soon as the connection closes.
function streamHuge(res: ServerResponse, total: number): void {
  const s: Streamed = { sent: 0, closedEarly: Promise.resolve(false) };
  let finished = false;
  s.closedEarly = new Promise((resolve) => res.once("close", () => resolve(!finished)));
  streams.push(s);
  let closed = false;
  res.once("close", () => {
    closed = true;
  });
  const pump = () => {
    while (!closed && s.sent < total) {
      s.sent += CHUNK.length;
      if (!res.write(CHUNK)) {
        res.once("drain", pump);
        return;
      }
    }
    if (!closed) {
      finished = true;
      res.end();
    }
  };
  pump();
}

const TILE = new Uint8Array(FULL_TILE_BYTES).fill(7);
const BUNDLE = encodeEntryBundle([new TextEncoder().encode("one"), new TextEncoder().encode("two")]);
// The largest bundle a trustlog log can serve: 256 envelopes of the largest size.
const LARGEST_BUNDLE = encodeEntryBundle(
  Array.from({ length: 256 }, () => new Uint8Array(MAX_ENVELOPE_BYTES)),
);
const NOTE = "test.example/log\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— test.example/log abcd\n";

// The answers a log gives under /small/…; every other path of /small is a JSON 404.
const SMALL: Record<string, { type: string; body: Uint8Array | string }> = {
  checkpoint: { type: "text/plain; charset=utf-8", body: NOTE },
  "tile/0/000": { type: "application/octet-stream", body: TILE },
  "tile/entries/000.p/2": { type: "application/octet-stream", body: BUNDLE },
  "tile/entries/001": { type: "application/octet-stream", body: LARGEST_BUNDLE },
  "v1/log": {
    type: "application/json",
    body: JSON.stringify({ origin: "test.example/log", vkey: "k", witnesses: [], quorum: 0 }),
  },
};

function handle(req: IncomingMessage, res: ServerResponse): void {
  const [, mode, ...rest] = new URL(req.url!, "http://x").pathname.split("/");
  const path = rest.join("/");
  if (mode === "huge") {
    // No Content-Length: chunked, so only counting while reading can catch it.
    res.writeHead(200, { "content-type": "application/octet-stream" });
    streamHuge(res, HUGE);
  } else if (mode === "announced") {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(HUGE) });
    streamHuge(res, HUGE);
  } else if (mode === "error") {
    res.writeHead(404, { "content-type": "application/json" });
    streamHuge(res, HUGE);
  } else if (SMALL[path]) {
    res.writeHead(200, { "content-type": SMALL[path].type });
    res.end(SMALL[path].body);
  } else {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "NOT_FOUND", message: `no ${path}` } }));
  }
}

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/**
 * Runs `call`, which must fail with RESPONSE_TOO_LARGE (or `code`), sampling rss and
 * arrayBuffers every few milliseconds meanwhile; returns the largest growth seen.
 */
async function refusedWithin(call: () => Promise<unknown>, code: ErrorCode = "RESPONSE_TOO_LARGE") {
  const before = process.memoryUsage();
  let peak = { rss: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak = {
      rss: Math.max(peak.rss, m.rss - before.rss),
      arrayBuffers: Math.max(peak.arrayBuffers, m.arrayBuffers - before.arrayBuffers),
    };
  };
  const timer = setInterval(sample, 5);
  let error: unknown;
  try {
    await call();
  } catch (e) {
    error = e;
  } finally {
    clearInterval(timer);
    sample();
  }
  expect(isTrustlogError(error, code), String(error)).toBe(true);
  expect(peak.rss).toBeLessThan(64 * MIB);
  expect(peak.arrayBuffers).toBeLessThan(64 * MIB);
  // The reader hung up: the server saw the connection close long before 600 MB.
  const s = streams.at(-1)!;
  expect(await s.closedEarly).toBe(true);
  expect(s.sent).toBeLessThan(100 * MIB);
  if (process.env.BOUNDED_READ_DEBUG) console.log(String(error), peak, s.sent);
  return { error, peak };
}

describe("a 600 MB answer is refused at the cap of its kind, without buffering it", () => {
  const client = () => new LogClient(`${base}/huge`);

  it("LogClient: a tile, an entry bundle, a checkpoint, a JSON answer", async () => {
    const t = await refusedWithin(() => client().tile({ level: 0, index: 0, width: 256 }));
    expect((t.error as { details: { limit: number } }).details.limit).toBe(ANSWER_LIMITS.tile);
    await refusedWithin(() => client().entryBundle(0, 256));
    await refusedWithin(() => client().checkpoint());
    const j = await refusedWithin(() => client().info());
    expect((j.error as { details: { limit: number } }).details.limit).toBe(ANSWER_LIMITS.json);
  });

  it("LogClient: an error answer's body is read only up to a small cap", async () => {
    const { error } = await refusedWithin(() => new LogClient(`${base}/error`).info(), "NOT_FOUND");
    expect((error as { details: { status: number } }).details.status).toBe(404);
  });

  it("a Content-Length beyond the cap is refused before reading", async () => {
    await refusedWithin(() => new LogClient(`${base}/announced`).tile({ level: 0, index: 0, width: 256 }));
  });

  it("the witness's reader: a checkpoint, a tile, JSON (evidence, proofs)", async () => {
    for (const kind of ["checkpoint", "tile", "json"] as const) {
      const { error } = await refusedWithin(() => httpGetOk(`${base}/huge/x`, 60_000, kind));
      expect((error as { details: { limit: number } }).details.limit).toBe(WITNESS_ANSWER_LIMITS[kind]);
    }
  });

  it("readBounded stops at exactly the cap given", async () => {
    const res = await fetch(`${base}/huge/x`);
    await expect(readBounded(res, 100_000, "x")).rejects.toMatchObject({ code: "RESPONSE_TOO_LARGE" });
    expect(await streams.at(-1)!.closedEarly).toBe(true);
  });
});

describe("answers under the caps read as before", () => {
  const client = () => new LogClient(`${base}/small`);

  it("LogClient", async () => {
    expect(await client().tile({ level: 0, index: 0, width: 256 })).toEqual(TILE);
    expect(await client().entryBundle(0, 2)).toEqual(BUNDLE);
    expect(LARGEST_BUNDLE.length).toBe(ANSWER_LIMITS.entries);
    // equalBytes, not toEqual: a deep comparison of 4 MiB element by element takes a minute.
    expect(equalBytes(await client().entryBundle(1, 256), LARGEST_BUNDLE)).toBe(true);
    expect(await client().checkpoint()).toBe(NOTE);
    expect((await client().info()).origin).toBe("test.example/log");
    await expect(client().entry(5)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("the witness's reader", async () => {
    expect(await httpGetOk(`${base}/small/tile/0/000`, 60_000, "tile")).toEqual(TILE);
    expect(new TextDecoder().decode(await httpGetOk(`${base}/small/checkpoint`, 60_000, "checkpoint"))).toBe(
      NOTE,
    );
  });

  it("an answer of exactly the cap is read; one byte more is not", async () => {
    const exact = (n: number) => new Response(new Uint8Array(n));
    expect((await readBounded(exact(1000), 1000, "x")).length).toBe(1000);
    await expect(readBounded(exact(1001), 1000, "x")).rejects.toMatchObject({ code: "RESPONSE_TOO_LARGE" });
  });
});
