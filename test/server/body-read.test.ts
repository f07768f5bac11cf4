// POST /v1/events reads its body two ways (server/routes/events.ts, readText): from node's
// request itself when it comes through a socket with a declared length, and from the web
// Request's stream otherwise (hono's app.request, a chunked body). Both must read any body
// alike: the same answer for the same bytes, refusals included, and a refusal mid-body must
// leave the connection able to answer the next request.

import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { MAX_JSON_DEPTH } from "../../server/routes/events.js";
import { History, testKey } from "../helpers/events.js";
import { createStorage, startTestServer, type TestServer, type TestStorage } from "./http-harness.js";

async function treeSize(t: TestServer): Promise<number> {
  const res = await t.request("/checkpoint");
  return parseCheckpoint(openNote(await res.text(), [parseVerifierKey(t.server.key.vkey)]).body).size;
}

const enc = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/**
 * Sends raw HTTP/1.1 requests on one kept-alive connection, one after the other, and resolves
 * with each answer's status and body (answers carry a Content-Length).
 */
function onOneConnection(port: number, requests: Uint8Array[]): Promise<{ status: number; body: string }[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const answers: { status: number; body: string }[] = [];
    let data = Buffer.alloc(0);
    const sendNext = () => {
      const r = requests[answers.length];
      if (r) socket.write(r);
      else {
        socket.destroy();
        resolve(answers);
      }
    };
    socket.on("connect", sendNext);
    socket.on("data", (d: Buffer) => {
      data = Buffer.concat([data, d]);
      for (;;) {
        const split = data.indexOf("\r\n\r\n");
        if (split < 0) return;
        const head = data.subarray(0, split).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (data.length - split - 4 < length) return;
        answers.push({
          status: Number(head.slice(9, 12)),
          body: data.subarray(split + 4, split + 4 + length).toString("utf8"),
        });
        data = data.subarray(split + 4 + length);
        sendNext();
      }
    });
    socket.on("error", reject);
    socket.on("close", () => {
      if (answers.length < requests.length) reject(new Error(`closed after ${answers.length} answers`));
    });
  });
}

const post = (body: Uint8Array) =>
  cat(
    enc(
      `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    ),
    body,
  );
const getCheckpoint = enc("GET /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n");

describe("reading a POST body, through a socket and without one", () => {
  let storage: TestStorage;
  let t: TestServer;
  const h = new History();
  const root = testKey("body-root");

  beforeAll(async () => {
    storage = await createStorage("postgres");
    t = await startTestServer(storage, { clock: () => h.now });
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  /** The answer to `body` through a socket, and through app.request (no socket). */
  const both = async (body: Uint8Array) => {
    const [viaSocket] = await onOneConnection(t.server.port, [post(body)]);
    const res = await t.request("/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body as unknown as BodyInit,
    });
    return { viaSocket: viaSocket!, viaApp: { status: res.status, body: await res.text() } };
  };

  it("answers the same to the same refused bytes both ways, and stores nothing", async () => {
    const before = await treeSize(t);
    const env = JSON.stringify(h.orgCreate("acme", { admins: [root] }));
    const deep = env.replace(
      '"body":{',
      `"body":{"x":${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)},`,
    );
    const cases: [string, Uint8Array][] = [
      [
        "a byte order mark before a bad envelope",
        cat(new Uint8Array([0xef, 0xbb, 0xbf]), enc('{"event":1}')),
      ],
      [
        "bytes that are not UTF-8 inside a string",
        cat(enc('{"event":"'), new Uint8Array([0xc3, 0x28, 0xff]), enc('"}')),
      ],
      ["not JSON", enc("{")],
      ["an empty body", new Uint8Array(0)],
      ["a batch of nothing", enc('{"events":[]}')],
      ["JSON nested too deep", enc(deep)],
      ["a body one byte over the limit", new Uint8Array(4 * 1024 * 1024 + 1).fill(0x20)],
    ];
    for (const [name, body] of cases) {
      const { viaSocket, viaApp } = await both(body);
      expect(viaSocket.status, name).toBeGreaterThanOrEqual(400);
      expect(viaSocket, name).toEqual(viaApp);
    }
    expect(await treeSize(t)).toBe(before);
  });

  it("reads a byte order mark before a valid envelope both ways: the first appends it, the second is a duplicate", async () => {
    const env = enc(JSON.stringify(h.append(h.orgCreate("bom", { admins: [root] })).envelope));
    const { viaSocket, viaApp } = await both(cat(new Uint8Array([0xef, 0xbb, 0xbf]), env));
    expect(viaSocket.status).toBe(200);
    expect(viaApp.status).toBe(200);
    const first = JSON.parse(viaSocket.body).results[0];
    const second = JSON.parse(viaApp.body).results[0];
    expect(first.duplicate).toBeUndefined();
    expect(second.duplicate).toBe(true);
    expect(second.index).toBe(first.index);
  });

  it("answers a body refused mid-read at once, then serves the same connection or a new one", async () => {
    // The depth scan refuses this body at its 17th byte, most of it still unread.
    const deep = new Uint8Array(1024 * 1024).fill(0x5b);
    const started = performance.now();
    const [refused] = await onOneConnection(t.server.port, [post(deep)]);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(refused!.status).toBe(400);
    expect(JSON.parse(refused!.body).error).toEqual({
      code: "MALFORMED",
      message: `request body nests JSON deeper than ${MAX_JSON_DEPTH} levels`,
    });
    // A short refused body is drained, and its connection goes on serving.
    const answers = await onOneConnection(t.server.port, [post(enc("[[[[[[[[[[[[[[[[[[[[")), getCheckpoint]);
    expect(answers.map((a) => a.status)).toEqual([400, 200]);
  });

  it("keeps serving when a client goes away mid-body, and stores nothing of it", async () => {
    const before = await treeSize(t);
    const env = enc(JSON.stringify(h.orgCreate("gone", { admins: [root] })));
    await new Promise<void>((resolve, reject) => {
      const socket = connect(t.server.port, "127.0.0.1", () => {
        // Half the declared body, then the connection drops.
        socket.write(post(env).subarray(0, post(env).length - Math.floor(env.length / 2)), () => {
          socket.destroy();
          resolve();
        });
      });
      socket.on("error", reject);
    });
    const [answer] = await onOneConnection(t.server.port, [getCheckpoint]);
    expect(answer!.status).toBe(200);
    expect(await treeSize(t)).toBe(before);
  });
});
