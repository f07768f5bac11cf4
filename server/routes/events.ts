// POST /v1/events: the write path. Cheap checks and signatures happen here, before anything is
// queued, so the sequencer only ever sees well-formed, correctly signed envelopes; the chain and
// policy rules need the log's state and are the sequencer's. The answer waits for the commit
// of a signed checkpoint that covers every accepted event.
//
// The work one request can cause is bounded, cheapest refusal first (docs/api.md, "Limits"):
// the client's rate limit and bearer token before the body is read; the body limit while it is
// read (from Content-Length when there is one); the JSON nesting depth while it is read, before
// it is parsed (a scan that stops at the first level too deep, so `[[[[…` is refused from its
// first chunk); each envelope's shape, size and signature count (at most what its rule can
// use, core/event.ts maxSignatures); the org creation policy and the orgs' rate limits; and
// only then signatures. Identical envelopes repeated in one request are verified once, so a
// request verifies at most MAX_BATCH distinct envelopes of at most MAX_SIGS signatures: 16,000
// signatures, and 2,000 for a batch of account events (one signature each, two for key.add).

import { IncomingMessage } from "node:http";
import type { Context } from "hono";
import { Hono } from "hono";
import type { SubmitAnswer, SubmitItemResult } from "../../core/api-types.js";
import { concat, toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { type ParsedEnvelope, parseEnvelope } from "../../core/event.js";
import type { AppDeps } from "../app.js";
import { errorBody, errorResponse } from "../http-errors.js";
import { clientKey, retryAfterSeconds } from "../rate-limit.js";
import type { SubmitResult } from "../sequencer.js";
import { bearerToken } from "../storage/tokens.js";

export const MAX_BATCH = 1000;

/** Deepest JSON nesting accepted in a request body; an envelope in a batch is 6 levels deep. */
export const MAX_JSON_DEPTH = 16;

type Env = { Variables: { client: string; writer: string | undefined } };

type ItemResult = SubmitItemResult;

export function eventRoutes(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  const { rateLimits, admission } = deps;
  const tokensNeeded = admission.writeAuth === "token" || admission.orgCreation === "token";
  const refuseRate = (c: Context, scope: "client" | "org", message: string, wait: number) => {
    deps.metrics.rateLimited.inc({ scope });
    return rateLimited(c, scope, message, wait);
  };

  app.post(
    "/v1/events",
    // Before the body is read: the client's bucket (each request costs at least one token),
    // then the bearer token.
    async (c, next) => {
      const client = clientKey(clientAddress(c, rateLimits.clientIpHeader));
      const wait = rateLimits.client.take(client, 1);
      if (wait > 0) return refuseRate(c, "client", "this client is over its write rate limit", wait);
      c.set("client", client);
      let writer: string | undefined;
      if (tokensNeeded) {
        const token = bearerToken(c.req.header("authorization"));
        if (token !== undefined) {
          writer = await admission.tokens.check(token);
          if (writer === undefined) return unauthorized(c, "the bearer token is not valid", true);
        } else if (admission.writeAuth === "token") {
          return unauthorized(c, "writing to this log needs a bearer token", false);
        }
      }
      c.set("writer", writer);
      await next();
    },
    async (c) => {
      const text = await readText(c, deps.bodyLimitBytes);
      const { items, batch } = readBody(text);
      // The first token was taken before the body was read; the others now.
      rateLimits.client.charge(c.get("client"), items.length - 1);

      // Stateless checks for every item; one bad item does not sink a batch.
      const checked = items.map((item): ParsedEnvelope | TrustlogError => {
        try {
          // A lone envelope is parsed from its text, so the 16 KiB cap applies to what was sent.
          return parseEnvelope(batch ? item : text);
        } catch (err) {
          if (err instanceof TrustlogError) return err;
          throw err;
        }
      });

      // Org creation policy: with `orgCreation: "token"`, an org.create needs a writer's token.
      if (admission.orgCreation === "token" && c.get("writer") === undefined) {
        for (let i = 0; i < checked.length; i++) {
          const x = checked[i]!;
          if (x instanceof TrustlogError || x.envelope.event.type !== "org.create") continue;
          if (!batch) return unauthorized(c, "creating an org on this log needs a bearer token", false);
          checked[i] = new TrustlogError("UNAUTHORIZED", "creating an org on this log needs a bearer token");
        }
      }

      // The orgs' buckets: a request with events for an org over its limit is refused whole
      // (resubmitting is safe: what was logged already is answered as a duplicate).
      if (rateLimits.org.enabled) {
        const perOrg = new Map<string, number>();
        for (const x of checked) {
          if (x instanceof TrustlogError) continue;
          perOrg.set(x.envelope.event.org, (perOrg.get(x.envelope.event.org) ?? 0) + 1);
        }
        for (const org of perOrg.keys()) {
          const wait = rateLimits.org.wait(org);
          if (wait > 0) return refuseRate(c, "org", `org ${org} is over its write rate limit`, wait);
        }
        for (const [org, n] of perOrg) rateLimits.org.charge(org, n);
      }

      // Signatures on the verifier threads (node/verify-pool.ts), over the canonical event
      // sliced from the leaf: exactly the bytes that would be logged. Still all of them before
      // anything is queued, but each distinct leaf once: a repeated leaf gets the first's verdict.
      const unique = new Map<string, { parsed: ParsedEnvelope; sigs: number; at: number[] }>();
      for (let i = 0; i < checked.length; i++) {
        const x = checked[i]!;
        if (x instanceof TrustlogError) continue;
        const key = toBase64(x.leafHash);
        const u = unique.get(key);
        if (u) u.at.push(i);
        else unique.set(key, { parsed: x, sigs: x.envelope.sigs.length, at: [i] });
      }
      const jobs = [...unique.values()];
      deps.metrics.signaturesVerified.inc(jobs.reduce((n, j) => n + j.sigs, 0));
      const verdicts = await deps.verifier.verifyParsed(jobs.map((j) => j.parsed));
      jobs.forEach((j, k) => {
        const bad = verdicts[k];
        if (bad) for (const i of j.at) checked[i] = bad;
      });
      const valid = checked.filter((x): x is ParsedEnvelope => !(x instanceof TrustlogError));

      // QUEUE_FULL and NOT_LEADER throw: the whole request is pushed back (429/503, Retry-After).
      const started = performance.now();
      const submitted: SubmitResult[] = valid.length > 0 ? await deps.sequencer.submit(valid) : [];
      if (valid.length > 0) deps.metrics.appendLatency.observe((performance.now() - started) / 1000);

      // One checkpoint answers for the whole request, every proof made against it once
      // (server/publication.ts answer, wired in server/main.ts).
      let top: { checkpoint: string; treeSize: number } | undefined;
      for (const r of submitted) {
        if ("error" in r) continue;
        if (top && r.treeSize !== top.treeSize)
          throw new TrustlogError("INTERNAL", "the results of one request carry two checkpoints");
        top = r;
      }

      // Proofs of one batch share most of their hashes (the same objects): encode each once.
      const b64 = new Map<Uint8Array, string>();
      const encode = (h: Uint8Array) => {
        let t = b64.get(h);
        if (t === undefined) {
          t = toBase64(h);
          b64.set(h, t);
        }
        return t;
      };

      const results: ItemResult[] = [];
      let next = 0;
      for (const x of checked) {
        const r: SubmitResult | TrustlogError = x instanceof TrustlogError ? x : submitted[next++]!;
        if (r instanceof TrustlogError || "error" in r) {
          const err = r instanceof TrustlogError ? r : r.error;
          deps.metrics.refused.inc({ code: err.code });
          if (!batch) return errorResponse(c, err);
          results.push({ error: errorBody(err) });
          continue;
        }
        results.push({
          index: r.index,
          leafHash: toBase64(r.leafHash),
          inclusion: r.inclusion.map(encode),
          ...(r.duplicate ? { duplicate: true as const } : {}),
        });
      }

      const checkpoint = top?.checkpoint ?? (await deps.latest.get())?.note;
      return c.json({ results, ...(checkpoint !== undefined ? { checkpoint } : {}) } satisfies SubmitAnswer);
    },
  );

  return app;
}

/** The address a client is counted under: the trusted proxy's header, else the socket's peer. */
function clientAddress(c: Context, header: string | undefined): string {
  if (header) {
    // Each proxy appends the address it received from: the last entry is our proxy's word.
    const last = c.req.header(header)?.split(",").at(-1)?.trim();
    if (last) return last.slice(0, 64);
  }
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}

function rateLimited(c: Context, scope: "client" | "org", message: string, wait: number): Response {
  const res = errorResponse(c, new TrustlogError("RATE_LIMITED", message, { scope }));
  // errorResponse's default Retry-After is in the context's headers too, which win when the
  // response is set: replace it in both.
  const seconds = String(retryAfterSeconds(wait));
  c.header("Retry-After", seconds);
  res.headers.set("Retry-After", seconds);
  return res;
}

/** 401 with the RFC 6750 challenge (`invalid_token` when a token was presented). */
function unauthorized(c: Context, message: string, invalid: boolean): Response {
  const res = errorResponse(c, new TrustlogError("UNAUTHORIZED", message));
  res.headers.set(
    "WWW-Authenticate",
    invalid ? 'Bearer realm="trustlog", error="invalid_token"' : 'Bearer realm="trustlog"',
  );
  return res;
}

/**
 * The nesting depth of JSON text fed in chunks of UTF-8 bytes, tracked without parsing or
 * recursing: a counter, and whether the scan is inside a string (escapes skipped). The bytes
 * it looks at are ASCII, which never occur inside a multi-byte UTF-8 sequence. Exact for valid
 * JSON; invalid JSON is refused by the parser afterwards anyway.
 */
export class JsonDepthScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(readonly max: number) {}

  /** Scans the next bytes; true as soon as the nesting goes deeper than `max`. */
  push(bytes: Uint8Array): boolean {
    let { depth, inString, escaped } = this;
    const max = this.max;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (b === 0x5c) escaped = true;
        else if (b === 0x22) inString = false;
      } else if (b === 0x22) inString = true;
      else if (b === 0x5b || b === 0x7b) {
        if (++depth > max) return true;
      } else if (b === 0x5d || b === 0x7d) depth--;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    return false;
  }
}

/**
 * The request body as UTF-8 text, within `limit` bytes and refused as soon as it nests deeper
 * than MAX_JSON_DEPTH: a declared length over the limit is refused before a byte is read, a
 * body of undeclared length (chunked) as soon as it passes the limit, and `[[[[…` from its first
 * chunk; the rest is never buffered (the HTTP server discards it).
 *
 * Under @hono/node-server the chunks come from node's request itself: the web Request and
 * stream the adapter would otherwise build around it (for hono's bodyLimit, which asked for
 * `req.body`, as for reading) cost 13% of the event loop's CPU for single events in a profile.
 * Elsewhere (hono's app.request in tests) through the Request's stream; both paths read any
 * body alike (test/server/body-read.test.ts).
 */
async function readText(c: Context<Env>, limit: number): Promise<string> {
  const body = new BodyChunks(limit);
  const declared = c.req.header("content-length");
  if (declared !== undefined && c.req.header("transfer-encoding") === undefined) {
    if (Number.parseInt(declared, 10) > limit) throw body.tooLarge();
  }
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (incoming instanceof IncomingMessage && !incoming.readableDidRead) await readIncoming(incoming, body);
  else await readStream(c.req.raw, body);
  // Decoded as a web Request's text would be (a leading byte order mark dropped, bad bytes
  // replaced), whichever way the bytes came.
  return new TextDecoder().decode(body.bytes());
}

/** A body's chunks as they arrive, each judged against the byte limit and the JSON depth. */
class BodyChunks {
  private readonly scanner = new JsonDepthScanner(MAX_JSON_DEPTH);
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  constructor(readonly limit: number) {}

  tooLarge(): TrustlogError {
    return new TrustlogError("TOO_LARGE", `request body exceeds ${this.limit} bytes`);
  }

  /** Keeps `chunk`, or returns why the body is refused (the chunk is then not kept). */
  push(chunk: Uint8Array): TrustlogError | undefined {
    this.size += chunk.length;
    if (this.size > this.limit) return this.tooLarge();
    if (this.scanner.push(chunk)) {
      return new TrustlogError("MALFORMED", `request body nests JSON deeper than ${MAX_JSON_DEPTH} levels`);
    }
    this.chunks.push(chunk);
    return undefined;
  }

  bytes(): Uint8Array {
    return this.chunks.length === 1 ? this.chunks[0]! : concat(...this.chunks);
  }
}

/** Node's request body, read to its end into `body`. */
function readIncoming(incoming: IncomingMessage, body: BodyChunks): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (outcome: () => void) => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("aborted", onAborted);
      incoming.off("close", onAborted);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      const refusal = body.push(chunk);
      if (refusal) {
        // Paused, not destroyed: the answer goes out on the same socket (the adapter drains
        // or closes what is left once it is sent).
        incoming.pause();
        settle(() => reject(refusal));
      }
    };
    const onEnd = () => settle(resolve);
    const onError = (err: Error) => settle(() => reject(err));
    const onAborted = () => settle(() => reject(new Error("the client closed the connection mid-body")));
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("aborted", onAborted);
    // A request closed before its end (whatever node emitted before) settles here too.
    incoming.on("close", onAborted);
  });
}

/** A web Request's body, read to its end into `body`. */
async function readStream(req: Request, body: BodyChunks): Promise<void> {
  if (!req.body) return;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    const refusal = body.push(value);
    if (refusal) {
      // Released, not cancelled: cancelling would destroy the socket the answer goes out on.
      reader.releaseLock();
      throw refusal;
    }
  }
}

/** One envelope, or `{"events": [...]}` with 1..1000 envelopes. */
function readBody(text: string): { items: unknown[]; batch: boolean } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new TrustlogError("MALFORMED", "request body is not JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new TrustlogError("MALFORMED", 'request body must be an envelope or {"events": [...]}');
  }
  if (!Object.hasOwn(body, "events")) return { items: [body], batch: false };
  const events = (body as { events: unknown }).events;
  if (Object.keys(body).length !== 1 || !Array.isArray(events)) {
    throw new TrustlogError("MALFORMED", 'a batch is {"events": [envelope, ...]} and nothing else');
  }
  if (events.length === 0) throw new TrustlogError("MALFORMED", "a batch holds at least one event");
  if (events.length > MAX_BATCH) {
    throw new TrustlogError("TOO_LARGE", `a batch holds at most ${MAX_BATCH} events, got ${events.length}`);
  }
  return { items: events, batch: true };
}
