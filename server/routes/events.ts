// POST /v1/events: the write path. Cheap checks and signatures happen here, before anything is
// queued, so the sequencer only ever sees well-formed, correctly signed envelopes; the chain and
// policy rules need the log's state and are the sequencer's. The answer waits for the commit
// of a signed checkpoint that covers every accepted event.

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { toBase64 } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { type ParsedEnvelope, parseEnvelope } from "../../core/event.js";
import { proveInclusion } from "../../core/proof.js";
import type { AppDeps } from "../app.js";
import { type ErrorBody, errorBody, errorResponse } from "../http-errors.js";
import type { SubmitResult } from "../sequencer.js";

export const MAX_BATCH = 1000;

type ItemResult =
  | { index: number; leafHash: string; inclusion: string[]; duplicate?: true }
  | { error: ErrorBody };

export function eventRoutes(deps: AppDeps): Hono {
  const app = new Hono();

  app.post(
    "/v1/events",
    bodyLimit({
      maxSize: deps.bodyLimitBytes,
      onError: (c) =>
        errorResponse(c, new TrustlogError("TOO_LARGE", `request body exceeds ${deps.bodyLimitBytes} bytes`)),
    }),
    async (c) => {
      const text = await c.req.text();
      const { items, batch } = readBody(text);

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
      // Signatures on the verifier thread (server/verify-pool.ts), over the canonical leaves:
      // exactly the bytes that would be logged. Still all of them before anything is queued.
      const parsedAt: number[] = [];
      for (let i = 0; i < checked.length; i++) if (!(checked[i] instanceof TrustlogError)) parsedAt.push(i);
      const verdicts = await deps.verifier.verify(parsedAt.map((i) => (checked[i] as ParsedEnvelope).leaf));
      parsedAt.forEach((i, k) => {
        const bad = verdicts[k];
        if (bad) checked[i] = bad;
      });
      const valid = checked.filter((x): x is ParsedEnvelope => !(x instanceof TrustlogError));

      // QUEUE_FULL and NOT_LEADER throw: the whole request is pushed back (429/503, Retry-After).
      const started = performance.now();
      const submitted: SubmitResult[] = valid.length > 0 ? await deps.sequencer.submit(valid) : [];
      if (valid.length > 0) deps.metrics.appendLatency.observe((performance.now() - started) / 1000);

      // One checkpoint answers for the whole request: the largest one any item was committed
      // under. Items committed under an earlier one (another batch, or a duplicate) get their
      // inclusion proof again against it, so every proof in the answer checks against it.
      let top: { checkpoint: string; treeSize: number } | undefined;
      for (const r of submitted) {
        if (!("error" in r) && (!top || r.treeSize > top.treeSize)) top = r;
      }
      const reader = top ? deps.store.hashReader(top.treeSize) : undefined;

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
        const inclusion =
          r.treeSize === top!.treeSize ? r.inclusion : await proveInclusion(r.index, top!.treeSize, reader!);
        results.push({
          index: r.index,
          leafHash: toBase64(r.leafHash),
          inclusion: inclusion.map(encode),
          ...(r.duplicate ? { duplicate: true as const } : {}),
        });
      }

      const checkpoint = top?.checkpoint ?? (await deps.latest.get())?.note;
      return c.json({ results, ...(checkpoint !== undefined ? { checkpoint } : {}) });
    },
  );

  return app;
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
