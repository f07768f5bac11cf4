// Signature verification off the event loop. Verifying an envelope's Ed25519 signatures is the
// largest single cost of POST /v1/events (about 0.2 ms an event with node:crypto, a third of
// the request's CPU time), and it needs nothing but the envelope, so a worker thread does it
// while the main thread parses, sequences and answers: on a 2-core machine the second core
// verifies. The worker runs the very same core checkSignatures with the native back end, on
// the canonical leaf bytes the main thread parsed (so it checks exactly what will be logged).
//
// Nothing here changes what is accepted: a batch is checked in full before it is queued, as
// before. If the worker cannot start or dies, verification falls back to the event loop.

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { concat } from "../core/bytes.js";
import { type ErrorCode, TrustlogError } from "../core/errors.js";
import { checkSignatures, parseEnvelope } from "../core/event.js";

/** What the worker answers per leaf: null when every signature verifies. */
type Verdict = { code: ErrorCode; message: string; details?: Record<string, unknown> } | null;

interface Job {
  id: number;
  /** The leaves, concatenated (transferred, not copied). */
  bytes: Uint8Array;
  lengths: number[];
}

function verifyLeaf(leaf: Uint8Array): Verdict {
  try {
    checkSignatures(parseEnvelope(leaf).envelope);
    return null;
  } catch (e) {
    if (e instanceof TrustlogError) return { code: e.code, message: e.message, details: e.details };
    return { code: "INTERNAL", message: String(e) };
  }
}

// Worker side: started by VerifyPool below with this very module as its entry point.
if (
  !isMainThread &&
  parentPort &&
  (workerData as { trustlogVerifyWorker?: boolean } | null)?.trustlogVerifyWorker
) {
  // Ed25519 is node:crypto's here as on the main thread: "#ed25519" resolves under "node".
  const port = parentPort;
  port.on("message", (job: Job) => {
    const out: Verdict[] = [];
    let o = 0;
    for (const n of job.lengths) {
      out.push(verifyLeaf(job.bytes.subarray(o, o + n)));
      o += n;
    }
    port.postMessage({ id: job.id, out });
  });
}

/** Verifies envelopes' signatures: a worker thread when possible, else the event loop. */
export interface SignatureVerifier {
  /** One entry per leaf: undefined when every signature verifies, else the error. */
  verify(leaves: readonly Uint8Array[]): Promise<(TrustlogError | undefined)[]>;
}

/** On the event loop, as the route always did: for tests and as the fallback. */
export const inlineVerifier: SignatureVerifier = {
  async verify(leaves) {
    return leaves.map((leaf) => toError(verifyLeaf(leaf)));
  },
};

function toError(v: Verdict): TrustlogError | undefined {
  return v === null ? undefined : new TrustlogError(v.code, v.message, v.details);
}

/**
 * The URL of tsx's ESM loader API, for a worker running TypeScript sources (the tests, a
 * development checkout without a build; the compiled package never needs it). import.meta.resolve
 * is not available under every module runner (vitest's is one), so it is read from tsx's own
 * exports map.
 */
function tsxEsmApi(from: string): string {
  const require = createRequire(from);
  const pkgFile = require.resolve("tsx/package.json");
  const pkg = require(pkgFile) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(pkgFile), pkg.exports["./esm/api"]!.import.default)).href;
}

// Below this many leaves the round trip to the worker costs more than it saves the event loop.
const INLINE_BELOW = 1;

/**
 * `threads` workers (default 1), each request's leaves split evenly across them; jobs are
 * answered in order per worker. Workers are unref'd: they never keep the process alive, and a
 * server that stops needs no extra step.
 */
export class VerifyPool implements SignatureVerifier {
  private workers: Worker[] = [];
  private failed = false;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (v: Verdict[]) => void; reject: (e: Error) => void }
  >();

  constructor(private readonly threads = 1) {}

  /** How many jobs the workers answered (the rest fell back to the event loop). */
  answeredByWorkers = 0;

  private start(): Worker[] {
    if (this.workers.length > 0 || this.failed) return this.workers;
    try {
      const url = import.meta.url;
      const workerData = { trustlogVerifyWorker: true };
      // Compiled (dist/server/verify-pool.js) the worker is this module, loaded as is. From the
      // TypeScript sources (vitest, tsx) it needs the TypeScript loader too, registered before
      // this module loads (an --import in execArgv comes too late on Node 20).
      const make = url.endsWith(".ts")
        ? () =>
            new Worker(
              `import(${JSON.stringify(tsxEsmApi(url))}).then((t) => { t.register(); return import(${JSON.stringify(url)}); });`,
              { eval: true, workerData },
            )
        : () => new Worker(new URL(url), { workerData });
      for (let i = 0; i < this.threads; i++) {
        const w = make();
        w.on("message", (m: { id: number; out: Verdict[] }) => {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          this.answeredByWorkers++;
          p?.resolve(m.out);
        });
        w.on("error", (e) => this.die(e));
        w.on("exit", (code) => this.die(new Error(`verify worker exited (${code})`)));
        // After the listeners: adding a "message" listener refs the worker again.
        w.unref();
        this.workers.push(w);
      }
    } catch {
      this.die(new Error("verify workers could not start"));
    }
    return this.workers;
  }

  /** Whatever was in flight is verified again on the event loop, and so is everything later. */
  private die(e: Error): void {
    if (this.failed && this.workers.length === 0 && this.pending.size === 0) return;
    this.failed = true;
    const ws = this.workers;
    this.workers = [];
    for (const w of ws) void w.terminate();
    const jobs = [...this.pending.values()];
    this.pending.clear();
    for (const j of jobs) j.reject(e);
  }

  private run(w: Worker, leaves: readonly Uint8Array[]): Promise<Verdict[]> {
    // One transferable buffer per job: moved to the worker, not copied.
    const bytes = concat(...leaves);
    const id = this.nextId++;
    return new Promise<Verdict[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, bytes, lengths: leaves.map((l) => l.length) } satisfies Job, [
        bytes.buffer as ArrayBuffer,
      ]);
    });
  }

  async verify(leaves: readonly Uint8Array[]): Promise<(TrustlogError | undefined)[]> {
    const ws = leaves.length >= INLINE_BELOW ? this.start() : [];
    if (ws.length === 0) return inlineVerifier.verify(leaves);
    const per = Math.ceil(leaves.length / ws.length);
    try {
      const parts = await Promise.all(
        ws
          .map((w, k) => ({ w, chunk: leaves.slice(k * per, (k + 1) * per) }))
          .filter(({ chunk }) => chunk.length > 0)
          .map(({ w, chunk }) => this.run(w, chunk)),
      );
      return parts.flat().map(toError);
    } catch {
      return inlineVerifier.verify(leaves);
    }
  }

  /** Stops the workers; stopServer calls it, and requests after it verify on the event loop. */
  async close(): Promise<void> {
    const ws = this.workers;
    this.failed = true;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}
