// The proof fast path (issue 13): an inclusion proof by index, asked in its canonical form
// (`/v1/proof/inclusion?index=I&size=S`, nothing else in the URL), is answered straight from
// node:http, before hono builds a Request, runs the middleware chain and converts a Response
// back: those cost about 60% of a proof's CPU time, and proofs are the read clients make most.
//
// It answers exactly as the app would. When every hash the proof needs is in the shared tile
// cache and the latest checkpoint is loaded, the answer's text is made at once from the cache,
// each hash's base64 kept with its tile (LogStore.cachedInclusionProofText: no promise, no
// copy; it costs about a third of what the route's path does); otherwise the route's own
// function computes it (inclusionProofByIndex), filling the cache. The headers are those of
// the app's own first successful proof answer (secure headers, CORS, content type), kept as a
// template; until the app has answered one, and for anything else (another form of the query,
// a size beyond the latest checkpoint, an index outside the tree, a database error), the
// request goes to the app, which answers it or its error as usual. Nothing is written to the
// response before the answer is complete, so handing a request over to the app late is safe.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { LatestCheckpoint } from "./app.js";
import { repeatableHeaders, requestIdOf } from "./immutable-responses.js";
import { inclusionProofByIndex } from "./routes/proofs.js";
import type { LogStore } from "./storage/log-store.js";

/** The route's path, as the app matches it. */
export const INCLUSION_PROOF_PATH = "/v1/proof/inclusion";

// C2SP-strict decimals (no sign, no leading zeros), at most 16 digits; the value is then
// checked to be below 2^53 like every decimal parameter (routes/params.ts).
const CANONICAL = /^\/v1\/proof\/inclusion\?index=(0|[1-9][0-9]{0,15})&size=(0|[1-9][0-9]{0,15})$/;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export interface FastProofsDeps {
  store: LogStore;
  latest: LatestCheckpoint;
  /** Called for each proof answered here (a metrics counter). */
  onServe?: () => void;
}

export class FastProofs {
  /**
   * The app's answer headers, flat [name, value, …], ending with Content-Length and X-Request-Id
   * whose values are set per answer.
   */
  private template: string[] | undefined;

  /** How many proofs were answered here (not by the app). */
  answered = 0;
  /** How many of those were made from the tile cache alone (LogStore.cachedInclusionProofText). */
  answeredFromCache = 0;

  constructor(private readonly deps: FastProofsDeps) {}

  /**
   * Shown each answer of the app to a GET (its path without the query): keeps the headers of
   * the first successful inclusion proof as the template.
   */
  learn(path: string, status: number, headers: Headers): void {
    if (this.template !== undefined || status !== 200 || path !== INCLUSION_PROOF_PATH) return;
    this.template = [...repeatableHeaders(headers), "content-length", "", "x-request-id", ""];
  }

  /** Whether the template is known (the fast path is on). */
  get ready(): boolean {
    return this.template !== undefined;
  }

  /**
   * Takes `req` when it is a canonical inclusion proof by index and returns true: the answer
   * follows, or `otherwise` (the app's request listener) answers when the fast path does not.
   * Returns false without touching `res` for any other request.
   */
  serve(req: IncomingMessage, res: ServerResponse, otherwise: Listener): boolean {
    const template = this.template;
    if (template === undefined || req.method !== "GET") return false;
    const m = CANONICAL.exec(req.url ?? "");
    if (m === null) return false;
    const index = Number(m[1]);
    const size = Number(m[2]);
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size)) return false;
    // On a warm cache the answer is made here and now (LogStore.cachedInclusionProofText);
    // otherwise by the route's own function, which reads the tiles and fills the cache.
    const latest = this.deps.latest.peek();
    let text: string | undefined;
    try {
      if (latest !== undefined) {
        text = this.deps.store.cachedInclusionProofText(index, size, latest.checkpoint?.size ?? 0);
      }
    } catch {
      // Not expected (the sizes are checked first); the route's path answers, or its error.
    }
    if (text !== undefined) {
      this.answeredFromCache++;
      this.answer(req, res, Buffer.from(text, "latin1"));
      return true;
    }
    void this.proof(index, size).then((body) => {
      // Every refusal and failure is the app's to answer, with its own error body and logging.
      if (body === undefined) return otherwise(req, res);
      this.answer(req, res, body);
    });
    return true;
  }

  private answer(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    // writeHead copies the list: the template's last two values are set per answer.
    const headers = this.template!;
    headers[headers.length - 3] = String(body.length);
    headers[headers.length - 1] = requestIdOf(req);
    res.writeHead(200, headers);
    res.end(body);
    this.answered++;
    this.deps.onServe?.();
  }

  /** The answer's body, or undefined when the app is to answer. */
  private async proof(index: number, size: number): Promise<Buffer | undefined> {
    try {
      const latest = (await this.deps.latest.get())?.size ?? 0;
      if (size > latest) return undefined;
      return Buffer.from(JSON.stringify(await inclusionProofByIndex(this.deps.store, latest, index, size)));
    } catch {
      return undefined;
    }
  }
}
