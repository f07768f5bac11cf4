// Bounded work per request (docs/api.md, "Limits"), over a real server and real sockets: the
// body limit answers before the body is read, deep JSON is refused before it is parsed (and a
// 16 MiB `[[[[…` does not stall reads), an envelope carries no more signatures than its rule
// can use, a repeated envelope is verified once, and slow clients are cut off. Every refusal
// has its stable code and leaves the tree as it was.

import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { loadServerConfig } from "../../server/config.js";
import { JsonDepthScanner, MAX_JSON_DEPTH } from "../../server/routes/events.js";
import { admin, History, testKey } from "../helpers/events.js";
import { batch, createStorage, startTestServer, type TestServer, type TestStorage } from "./http-harness.js";

/** The size of the checkpoint a server publishes now. */
async function treeSize(t: TestServer): Promise<number> {
  const res = await t.request("/checkpoint");
  return parseCheckpoint(openNote(await res.text(), [parseVerifierKey(t.server.key.vkey)]).body).size;
}

interface RawAnswer {
  /** The first response's status line and headers, then its body. */
  head: string;
  body: string;
  /** Milliseconds from connecting to the answer (or to the close when there was none). */
  ms: number;
  closed: boolean;
}

/**
 * Opens a TCP connection, lets `send` write to it (all at once or slowly), and resolves with the
 * first complete response, or when the server closes the connection.
 */
function rawRequest(
  port: number,
  send: (write: (s: string | Uint8Array) => boolean) => (() => void) | undefined,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, "127.0.0.1");
    let data = "";
    let stop: (() => void) | undefined;
    const finish = (closed: boolean) => {
      stop?.();
      const split = data.indexOf("\r\n\r\n");
      const head = split < 0 ? data : data.slice(0, split);
      resolve({
        head,
        body: split < 0 ? "" : data.slice(split + 4),
        ms: performance.now() - started,
        closed,
      });
      socket.destroy();
    };
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      stop = send((s) => !socket.destroyed && socket.write(s));
    });
    socket.on("data", (d: string) => {
      data += d;
      const split = data.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, split));
      if (split >= 0 && length && data.length - split - 4 >= Number(length[1])) finish(false);
    });
    socket.on("close", () => finish(true));
    socket.on("error", (e) =>
      (e as NodeJS.ErrnoException).code === "ECONNRESET" ? finish(true) : reject(e),
    );
  });
}

describe("bounded work per request", () => {
  let storage: TestStorage;
  let t: TestServer;
  const h = new History();
  const [a1, a2, a3] = [testKey("lim-a1"), testKey("lim-a2"), testKey("lim-a3")];

  beforeAll(async () => {
    storage = await createStorage("postgres");
    t = await startTestServer(storage, { clock: () => h.now });
    const org = h.orgCreate("acme", { admins: [a1, a2, a3], threshold: 3 });
    expect((await t.post(org)).status).toBe(200);
    h.append(org);
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  describe("the body limit", () => {
    it("is 4 MiB by default, and configurable", () => {
      expect(loadServerConfig({}).bodyLimitBytes).toBe(4 * 1024 * 1024);
      expect(loadServerConfig({ TRUSTLOG_BODY_LIMIT_BYTES: "17825792" }).bodyLimitBytes).toBe(
        17 * 1024 * 1024,
      );
    });

    it("answers 413 TOO_LARGE from the headers alone: the body is never waited for", async () => {
      const before = await treeSize(t);
      // Headers announce 5 MiB and not a byte of body follows: only a server that decides
      // before reading the body can answer.
      const r = await rawRequest(t.server.port, (write) => {
        write(
          `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n`,
        );
        return undefined;
      });
      expect(r.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(JSON.parse(r.body)).toEqual({
        error: { code: "TOO_LARGE", message: `request body exceeds ${4 * 1024 * 1024} bytes` },
      });
      expect(await treeSize(t)).toBe(before);
    });

    it("cuts a chunked body off at the limit", async () => {
      const before = await treeSize(t);
      // One array of zeros, one level deep: only its size is wrong (the depth scan reads each
      // chunk as it comes, so a "[" per chunk would be refused as too deep first).
      const chunk = new TextEncoder().encode("0,".repeat(32 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          // Ten times the limit would follow; the server stops reading well before.
          if (sent > 40 * 1024 * 1024) controller.close();
          else {
            controller.enqueue(sent === 0 ? new TextEncoder().encode("[") : chunk);
            sent += sent === 0 ? 1 : chunk.length;
          }
        },
      });
      const res = await fetch(`${t.server.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        duplex: "half",
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("TOO_LARGE");
      expect(sent).toBeLessThan(40 * 1024 * 1024);
      expect(await treeSize(t)).toBe(before);
    });
  });

  describe("JSON nesting depth", () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

    /** Whether `text`, fed in chunks of `chunk` bytes, nests deeper than `max`. */
    const tooDeep = (text: string, max: number, chunk = 3) => {
      const bytes = new TextEncoder().encode(text);
      const scanner = new JsonDepthScanner(max);
      for (let i = 0; i < bytes.length; i += chunk)
        if (scanner.push(bytes.subarray(i, i + chunk))) return true;
      return false;
    };

    it("is measured without parsing, across chunks, strings and escapes skipped", () => {
      expect(tooDeep(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
      expect(tooDeep(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
      for (const chunk of [1, 2, 5, 100]) {
        expect(tooDeep(`{"a":"[[[[[[","b":"\\"[[[[\\\\","c":[{}],"é":"{{"}`, 3, chunk)).toBe(false);
        expect(tooDeep(`{"a":"[[[[[[","b":"\\"[[[[\\\\","c":[{}],"é":"{{"}`, 2, chunk)).toBe(true);
        expect(tooDeep(`{"a":"\\\\"}`, 1, chunk)).toBe(false);
        expect(tooDeep(`{"a":"\\\\",[[]]}`, 2, chunk)).toBe(true);
      }
      // It stops at the first level too deep: 16 MiB of "[" are refused at the 17th byte.
      const scanner = new JsonDepthScanner(MAX_JSON_DEPTH);
      expect(scanner.push(new TextEncoder().encode("[".repeat(MAX_JSON_DEPTH + 1)))).toBe(true);
    });

    it("refuses a body nested deeper than 16 levels with 400 MALFORMED, and changes nothing", async () => {
      const before = await treeSize(t);
      // A real envelope is 6 levels deep in a batch; hide a deep value in its body.
      const env = JSON.stringify(h.invite("acme", "alice", admin(a1)));
      // The envelope, its event and its body are three levels: x adds the rest.
      const deep = env.replace('"body":{', `"body":{"x":${nested(MAX_JSON_DEPTH - 3)},`);
      const tooDeep = env.replace('"body":{', `"body":{"x":${nested(MAX_JSON_DEPTH - 2)},`);
      const r = await t.post(tooDeep);
      expect(r.status).toBe(400);
      expect(r.json.error).toEqual({
        code: "MALFORMED",
        message: `request body nests JSON deeper than ${MAX_JSON_DEPTH} levels`,
      });
      // One level less gets past the depth check, to the envelope's shape.
      const r2 = await t.post(deep);
      expect(r2.status).toBe(400);
      expect(r2.json.error.message).toMatch(/unknown field "x"/);
      expect(await treeSize(t)).toBe(before);
    });

    it("16 MiB of '[' are refused while /checkpoint keeps answering promptly", async () => {
      // A log configured for the largest batches, so the body limit does not step in first.
      const big = await createStorage("postgres");
      const s = await startTestServer(big, { config: { bodyLimitBytes: 17 * 1024 * 1024 } });
      try {
        const body = new Uint8Array(16 * 1024 * 1024).fill(0x5b);
        const attack = () =>
          rawRequest(s.server.port, (write) => {
            write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
            write(body);
            return undefined;
          });
        // Four attackers, three requests each; reads go on while any is in flight.
        let inFlight = 4;
        const answers: RawAnswer[] = [];
        const attackers = Array.from({ length: 4 }, async () => {
          for (let i = 0; i < 3; i++) answers.push(await attack());
          inFlight--;
        });
        const latencies: number[] = [];
        while (inFlight > 0) {
          const started = performance.now();
          const res = await fetch(`${s.server.url}/checkpoint`);
          expect(res.status).toBe(200);
          await res.text();
          latencies.push(performance.now() - started);
        }
        await Promise.all(attackers);
        expect(answers).toHaveLength(12);
        for (const a of answers) {
          expect(a.head).toMatch(/^HTTP\/1\.1 400 /);
          expect(JSON.parse(a.body).error.code).toBe("MALFORMED");
        }
        // Parsed, such a body held the event loop for seconds; refused while read, it costs
        // the reads next to nothing.
        expect(Math.max(...latencies)).toBeLessThan(1000);
        expect(await treeSize(s)).toBe(0);
      } finally {
        await s.stop();
        await big.dispose();
      }
    });
  });

  describe("signatures", () => {
    it("an envelope with more signatures than its rule can use is 400 TOO_MANY_SIGNATURES", async () => {
      const before = await treeSize(t);
      const r = await t.post(h.invite("acme", "alice", admin(a1), { extraSigners: [a2] }));
      expect(r.status).toBe(400);
      expect(r.json.error).toEqual({
        code: "TOO_MANY_SIGNATURES",
        message: "sigs: account.invite can use at most 1 signature, got 2",
      });
      expect(await treeSize(t)).toBe(before);
    });

    it("an envelope repeated in a batch is verified once, and answered once per copy", async () => {
      const verified = async () => (await t.server.metrics.signaturesVerified.get()).values[0]?.value ?? 0;
      const grant = h.grantIssue(
        "acme",
        { id: "scim", delegate: testKey("lim-bridge"), ops: ["account.invite"] },
        admin(a1, a2, a3),
      );
      expect(grant.sigs).toHaveLength(3);
      const before = await treeSize(t);
      const v0 = await verified();
      const r = await t.post(batch(Array.from({ length: 1000 }, () => grant)));
      expect(r.status).toBe(200);
      expect(await verified()).toBe(v0 + 3);
      const index = r.json.results[0].index;
      expect(r.json.results).toHaveLength(1000);
      for (const x of r.json.results) expect(x.index).toBe(index);
      h.append(grant);
      // The grant and its batch's index leaf.
      expect(await treeSize(t)).toBe(before + 2);

      // A forged copy repeated: every copy refused, its signatures checked once.
      const forged = structuredClone(h.grantRevoke("acme", "scim", admin(a1, a2, a3)));
      forged.sigs[1]!.sig = forged.sigs[0]!.sig;
      const v1 = await verified();
      const f = await t.post(batch(Array.from({ length: 500 }, () => forged)));
      expect(f.status).toBe(200);
      for (const x of f.json.results) expect(x.error.code).toBe("SIG_INVALID");
      expect(await verified()).toBe(v1 + 3);
      expect(await treeSize(t)).toBe(before + 2);
    });
  });
});

describe("HTTP server timeouts", () => {
  let storage: TestStorage;
  let t: TestServer;
  const HEADERS_MS = 300;
  const REQUEST_MS = 600;
  // Node checks the timeouts every connectionsCheckingInterval (here 75 ms): allow for that and
  // for a busy machine, but far less than "for ever".
  const SLACK_MS = 1500;

  beforeAll(async () => {
    storage = await createStorage("postgres");
    t = await startTestServer(storage, {
      config: {
        headersTimeoutMs: HEADERS_MS,
        requestTimeoutMs: REQUEST_MS,
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  it("defaults to 10 s for headers and 30 s for the whole request", () => {
    const c = loadServerConfig({});
    expect([c.headersTimeoutMs, c.requestTimeoutMs]).toEqual([10_000, 30_000]);
    expect(() => loadServerConfig({ TRUSTLOG_HEADERS_TIMEOUT_MS: "40000" })).toThrow(/headersTimeoutMs/);
  });

  /** Writes `line` every 50 ms until stopped. */
  const drip = (line: string) => (write: (s: string) => boolean) => {
    const timer = setInterval(() => write(line), 50);
    return () => clearInterval(timer);
  };

  it("closes a connection whose headers trickle in", async () => {
    const r = await rawRequest(t.server.port, (write) => {
      write("POST /v1/events HTTP/1.1\r\nHost: x\r\n");
      return drip("X-Padding: a\r\n")(write);
    });
    expect(r.closed).toBe(true);
    expect(r.head).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(r.ms).toBeLessThan(HEADERS_MS + SLACK_MS);
  });

  it("closes a connection that sends nothing", async () => {
    const r = await rawRequest(t.server.port, () => undefined);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(HEADERS_MS + SLACK_MS);
  });

  it("closes a connection whose body trickles in", async () => {
    const r = await rawRequest(t.server.port, (write) => {
      write(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
      );
      return drip(" ")(write);
    });
    expect(r.closed).toBe(true);
    expect(r.head).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.ms).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(r.ms).toBeLessThan(REQUEST_MS + SLACK_MS);
  });

  it("still answers a client that sends its request at once", async () => {
    const res = await fetch(`${t.server.url}/checkpoint`);
    expect(res.status).toBe(200);
  });
});
