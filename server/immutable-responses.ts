// The read fast path (issue 13): full tiles and full entry bundles never change once published,
// so the first time the app serves one, its answer (body and headers, exactly as the app built
// them) is kept here, and later requests for the same URL are answered straight from node:http,
// before hono builds a Request, runs the middleware chain and converts a Response back: as
// little per request as a bare node:http server does.
//
// Only what the app itself answered with the immutable Cache-Control is kept (the tile route
// sets it for full tiles within the published tree only), so a partial tile, a tile beyond the
// published size and every error still go through the app each time.

import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** The Cache-Control of bytes that never change (full tiles and entry bundles). */
export const IMMUTABLE = "public, max-age=31536000, immutable";

interface Kept {
  /**
   * Flat [name, value, …] list, as writeHead takes it, ending with X-Request-Id whose value is
   * filled in per request (writeHead copies the list before it returns).
   */
  headers: string[];
  body: Buffer;
}

export interface ImmutableResponsesOptions {
  /** Bytes of bodies kept at most (oldest out first); default 64 MiB, 8,192 full hash tiles. */
  maxBytes?: number;
  /** Called for each request answered here (a metrics counter). */
  onServe?: () => void;
}

// The same rule as hono's requestId middleware: a caller's id is echoed when it is sane.
const SANE_REQUEST_ID = /^[\w\-=]{1,255}$/;

/**
 * An answer's headers as the flat [name, value, …] list writeHead takes, without those set per
 * answer (X-Request-Id, Content-Length): what a fast path repeats of the app's answer.
 */
export function repeatableHeaders(headers: Headers): string[] {
  const flat: string[] = [];
  headers.forEach((value, name) => {
    if (name !== "x-request-id" && name !== "content-length") flat.push(name, value);
  });
  return flat;
}

/** The X-Request-Id of an answer given before the app: the caller's when sane, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

export class ImmutableResponses {
  private readonly kept = new Map<string, Kept>();
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(private readonly opts: ImmutableResponsesOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  }

  /** Whether a response the app gave to GET `url` may be kept. */
  static keeps(url: string, status: number, cacheControl: string | null): boolean {
    return status === 200 && cacheControl === IMMUTABLE && url.startsWith("/tile/");
  }

  /**
   * Keeps the app's answer to GET `url` (the caller checked `keeps`). The request id is
   * per request, so it is left out; Content-Length is set from the body.
   */
  remember(url: string, headers: Headers, body: Uint8Array): void {
    if (this.kept.has(url) || body.length > this.maxBytes) return;
    const flat = repeatableHeaders(headers);
    flat.push("content-length", String(body.length), "x-request-id", "");
    this.kept.set(url, { headers: flat, body: Buffer.from(body) });
    this.bytes += body.length;
    // Map keeps insertion order: the first key is the oldest kept.
    for (const [key, old] of this.kept) {
      if (this.bytes <= this.maxBytes) break;
      this.kept.delete(key);
      this.bytes -= old.body.length;
    }
  }

  /**
   * Answers `req` when it is a GET of a kept URL and returns true; otherwise returns false
   * without touching `res`, and the app answers.
   */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== "GET") return false;
    const hit = this.kept.get(req.url ?? "");
    if (hit === undefined) return false;
    hit.headers[hit.headers.length - 1] = requestIdOf(req);
    res.writeHead(200, hit.headers);
    res.end(hit.body);
    this.opts.onServe?.();
    return true;
  }

  get size(): number {
    return this.kept.size;
  }
}
