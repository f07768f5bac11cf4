// Signature verification off the event loop. Verifying an envelope's Ed25519 signatures is the
// largest single cost of POST /v1/events, and it needs nothing but the signed bytes, the keys
// and the signatures, so worker threads do it while the main thread parses, sequences and
// answers. By default there is one worker per core (os.availableParallelism): verification is
// most of the write path's CPU, and the workers, the event loop and PostgreSQL share the cores.
//
// A job carries only what a verification needs (issue 13): per envelope, the signed message
// (the canonical event, a slice of the leaf the route already made: no second parse on the
// worker) and each signature's key and signature bytes. The worker answers, per envelope, the
// position of the first signature that fails, or -1; the main thread turns that into the same
// error core checkSignatures throws. Raw leaves (`verify`) are still accepted, for callers
// without a parsed envelope: the worker parses them and runs core checkSignatures, as before.
//
// Nothing here changes what is accepted: a batch is checked in full before it is queued, as
// before. If a worker cannot start or dies, verification falls back to the event loop.
//
// The witness uses the same pool (`verifySignatures`, bare jobs) for the logs' signatures on
// the checkpoints it is asked to cosign.

import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { concat } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { type ErrorCode, TrustlogError } from "../core/errors.js";
import {
  checkSignatures,
  type Envelope,
  eventSigningBytes,
  type ParsedEnvelope,
  parseEnvelope,
} from "../core/event.js";

const KEY_BYTES = 32;
const SIG_BYTES = 64;

/**
 * What one verification job needs (an envelope's, or a signed note's): the signed message and
 * every (key, signature) pair over it, in order. Keys are 32 bytes, signatures 64.
 */
export interface SigJob {
  message: Uint8Array;
  keys: Uint8Array[];
  sigs: Uint8Array[];
}

/** A batch of SigJobs in one transferable buffer: per job, the message then key‖sig pairs. */
interface WireJob {
  id: number;
  bytes: Uint8Array;
  messageLengths: number[];
  sigCounts: number[];
}

/** Raw leaves, concatenated: parsed and checked on the worker (`verify`). */
interface LeafJob {
  id: number;
  bytes: Uint8Array;
  lengths: number[];
}

/** What the worker answers per raw leaf: null when every signature verifies. */
type Verdict = { code: ErrorCode; message: string; details?: Record<string, unknown> } | null;

function leafVerdict(leaf: Uint8Array): Verdict {
  try {
    checkSignatures(parseEnvelope(leaf).envelope);
    return null;
  } catch (e) {
    if (e instanceof TrustlogError) return { code: e.code, message: e.message, details: e.details };
    return { code: "INTERNAL", message: String(e) };
  }
}

function fromVerdict(v: Verdict): TrustlogError | undefined {
  return v === null ? undefined : new TrustlogError(v.code, v.message, v.details);
}

/** Position of the first signature of `job` that does not verify, or -1. */
function firstBad(message: Uint8Array, keys: readonly Uint8Array[], sigs: readonly Uint8Array[]): number {
  const e = ed25519();
  for (let i = 0; i < sigs.length; i++) if (!e.verify(sigs[i]!, message, keys[i]!)) return i;
  return -1;
}

// Worker side: started by VerifyPool below with this very module as its entry point.
if (
  !isMainThread &&
  parentPort &&
  (workerData as { trustlogVerifyWorker?: boolean } | null)?.trustlogVerifyWorker
) {
  // Ed25519 is node:crypto's here as on the main thread: "#ed25519" resolves under "node".
  const port = parentPort;
  port.on("message", (job: WireJob | LeafJob) => {
    if ("lengths" in job) {
      const verdicts: Verdict[] = [];
      let o = 0;
      for (const n of job.lengths) {
        verdicts.push(leafVerdict(job.bytes.subarray(o, o + n)));
        o += n;
      }
      port.postMessage({ id: job.id, verdicts });
      return;
    }
    const out = new Int32Array(job.messageLengths.length);
    let o = 0;
    for (let j = 0; j < out.length; j++) {
      const message = job.bytes.subarray(o, o + job.messageLengths[j]!);
      o += message.length;
      const keys: Uint8Array[] = [];
      const sigs: Uint8Array[] = [];
      for (let s = 0; s < job.sigCounts[j]!; s++) {
        keys.push(job.bytes.subarray(o, o + KEY_BYTES));
        sigs.push(job.bytes.subarray(o + KEY_BYTES, o + KEY_BYTES + SIG_BYTES));
        o += KEY_BYTES + SIG_BYTES;
      }
      out[j] = firstBad(message, keys, sigs);
    }
    port.postMessage({ id: job.id, out }, [out.buffer]);
  });
}

// The canonical envelope is {"event":<canonical event>,"sigs":[...]} (JCS sorts "event" before
// "sigs"), so the signed bytes, the canonical event, are a slice of the leaf: from after the
// prefix to the last `,"sigs":[` (the signature objects after it hold only base64 strings, so
// the sequence cannot occur there; inside the event a quote is always escaped or structural).
const LEAF_PREFIX = new TextEncoder().encode('{"event":');
const SIGS_MARK = new TextEncoder().encode(',"sigs":[');

function lastIndexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = hay.length - needle.length; i >= 0; i--) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

/** The bytes the envelope's signatures cover (core eventSigningBytes), without re-encoding. */
export function signedBytes(p: ParsedEnvelope): Uint8Array {
  const leaf = p.leaf;
  let prefixed = leaf.length > LEAF_PREFIX.length;
  for (let k = 0; prefixed && k < LEAF_PREFIX.length; k++) prefixed = leaf[k] === LEAF_PREFIX[k];
  const end = prefixed ? lastIndexOf(leaf, SIGS_MARK) : -1;
  return end > LEAF_PREFIX.length
    ? leaf.subarray(LEAF_PREFIX.length, end)
    : eventSigningBytes(p.envelope.event);
}

/**
 * The job for one parsed envelope, or the error core checkSignatures would throw before any
 * verification (a key repeated: parseEnvelope already refuses that, checked again as cheaply).
 * Signatures after a repeated key are not sent: checkSignatures stops there.
 */
function toJob(p: ParsedEnvelope): { job: SigJob; repeatedAt: number } {
  const seen = new Set<string>();
  const keys: Uint8Array[] = [];
  const sigs: Uint8Array[] = [];
  let repeatedAt = -1;
  for (const s of p.envelope.sigs) {
    if (seen.has(s.key)) {
      repeatedAt = keys.length;
      break;
    }
    seen.add(s.key);
    // parseEnvelope checked both are canonical base64 of the right length.
    keys.push(new Uint8Array(Buffer.from(s.key, "base64")));
    sigs.push(new Uint8Array(Buffer.from(s.sig, "base64")));
  }
  return { job: { message: signedBytes(p), keys, sigs }, repeatedAt };
}

/** The error for an envelope whose signature `bad` failed (-1: none) or key repeated. */
function verdict(env: Envelope, bad: number, repeatedAt: number): TrustlogError | undefined {
  if (bad >= 0) {
    const key = env.sigs[bad]!.key;
    return new TrustlogError("SIG_INVALID", `signature by ${key} does not verify`, { key });
  }
  if (repeatedAt >= 0) {
    const key = env.sigs[repeatedAt]!.key;
    return new TrustlogError("MALFORMED", `sigs: key ${key} appears twice`);
  }
  return undefined;
}

/** Verifies envelopes' signatures: worker threads when possible, else the event loop. */
export interface SignatureVerifier {
  /** One entry per envelope: undefined when every signature verifies, else the error. */
  verifyParsed(envelopes: readonly ParsedEnvelope[]): Promise<(TrustlogError | undefined)[]>;
  /** The same for raw leaves, parsed first (a leaf that does not parse gets its parse error). */
  verify(leaves: readonly Uint8Array[]): Promise<(TrustlogError | undefined)[]>;
}

/** Parses leaves, verifies those that parse with `verifyParsed`, in the leaves' order. */
async function verifyLeaves(
  v: SignatureVerifier,
  leaves: readonly Uint8Array[],
): Promise<(TrustlogError | undefined)[]> {
  const out: (TrustlogError | undefined)[] = [];
  const parsed: ParsedEnvelope[] = [];
  const at: number[] = [];
  for (const leaf of leaves) {
    try {
      parsed.push(parseEnvelope(leaf));
      at.push(out.length);
      out.push(undefined);
    } catch (e) {
      out.push(e instanceof TrustlogError ? e : new TrustlogError("INTERNAL", String(e)));
    }
  }
  const verdicts = await v.verifyParsed(parsed);
  verdicts.forEach((e, k) => {
    out[at[k]!] = e;
  });
  return out;
}

function verifyInline(envelopes: readonly ParsedEnvelope[]): (TrustlogError | undefined)[] {
  return envelopes.map((p) => {
    const { job, repeatedAt } = toJob(p);
    return verdict(p.envelope, firstBad(job.message, job.keys, job.sigs), repeatedAt);
  });
}

function fitsWire(j: SigJob): boolean {
  return (
    j.keys.length === j.sigs.length &&
    j.keys.every((k) => k.length === KEY_BYTES) &&
    j.sigs.every((s) => s.length === SIG_BYTES)
  );
}

/**
 * `VerifyPool.verifySignatures` on the event loop. A job with a key or signature of the wrong
 * size, or fewer keys than signatures, fails at its first signature.
 */
export function verifySignaturesInline(jobs: readonly SigJob[]): number[] {
  return jobs.map((j) => (j.keys.length === j.sigs.length ? firstBad(j.message, j.keys, j.sigs) : 0));
}

/** On the event loop, as the route always did: for tests and as the fallback. */
export const inlineVerifier: SignatureVerifier = {
  async verifyParsed(envelopes) {
    return verifyInline(envelopes);
  },
  verify(leaves) {
    return verifyLeaves(inlineVerifier, leaves);
  },
};

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

/** The default pool size: one worker per core the process may use. */
export function defaultVerifyThreads(): number {
  return availableParallelism();
}

/**
 * `threads` workers (default one per core), each request's envelopes split evenly across them;
 * jobs are answered in order per worker. Workers are unref'd: they never keep the process
 * alive, and a server that stops needs no extra step.
 */
export class VerifyPool implements SignatureVerifier {
  private workers: Worker[] = [];
  private failed = false;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    // biome-ignore lint/suspicious/noExplicitAny: an Int32Array for SigJobs, Verdicts for LeafJobs
    { resolve: (v: any) => void; reject: (e: Error) => void }
  >();

  /** Requests waiting for the next flush. */
  private queued: { jobs: SigJob[]; resolve: (bad: number[]) => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly threads = defaultVerifyThreads()) {}

  /** How many jobs the workers answered (the rest fell back to the event loop). */
  answeredByWorkers = 0;

  private start(): Worker[] {
    if (this.workers.length > 0 || this.failed) return this.workers;
    try {
      const url = import.meta.url;
      const workerData = { trustlogVerifyWorker: true };
      // Compiled (dist/node/verify-pool.js) the worker is this module, loaded as is. From the
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
        w.on("message", (m: { id: number; out?: Int32Array; verdicts?: Verdict[] }) => {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          this.answeredByWorkers++;
          p?.resolve(m.out ?? m.verdicts!);
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

  private run(w: Worker, jobs: readonly SigJob[]): Promise<Int32Array> {
    // One transferable buffer per batch of jobs: moved to the worker, not copied.
    let size = 0;
    for (const j of jobs) size += j.message.length + j.sigs.length * (KEY_BYTES + SIG_BYTES);
    const bytes = new Uint8Array(size);
    let o = 0;
    for (const j of jobs) {
      bytes.set(j.message, o);
      o += j.message.length;
      for (let s = 0; s < j.sigs.length; s++) {
        bytes.set(j.keys[s]!, o);
        bytes.set(j.sigs[s]!, o + KEY_BYTES);
        o += KEY_BYTES + SIG_BYTES;
      }
    }
    const id = this.nextId++;
    const wire: WireJob = {
      id,
      bytes,
      messageLengths: jobs.map((j) => j.message.length),
      sigCounts: jobs.map((j) => j.sigs.length),
    };
    return new Promise<Int32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage(wire, [bytes.buffer as ArrayBuffer]);
    });
  }

  async verifyParsed(envelopes: readonly ParsedEnvelope[]): Promise<(TrustlogError | undefined)[]> {
    const ws = envelopes.length > 0 ? this.start() : [];
    if (ws.length === 0) return verifyInline(envelopes);
    const prepared = envelopes.map(toJob);
    try {
      const bad = await this.queue(prepared.map((p) => p.job));
      return envelopes.map((p, k) => verdict(p.envelope, bad[k]!, prepared[k]!.repeatedAt));
    } catch {
      return verifyInline(envelopes);
    }
  }

  /**
   * Per job, the position of its first signature that does not verify, or -1: on the workers,
   * or on the event loop when they cannot run. The witness checks log signatures this way.
   */
  async verifySignatures(jobs: readonly SigJob[]): Promise<number[]> {
    const ws = jobs.length > 0 ? this.start() : [];
    if (ws.length === 0) return verifySignaturesInline(jobs);
    try {
      return await this.queue(jobs);
    } catch {
      return verifySignaturesInline(jobs);
    }
  }

  private queue(jobs: readonly SigJob[]): Promise<number[]> {
    // The wire format has fixed-size fields: a job that does not fit them is answered here.
    if (!jobs.every(fitsWire)) return Promise.resolve(verifySignaturesInline(jobs));
    return new Promise<number[]>((resolve, reject) => {
      this.queued.push({ jobs: [...jobs], resolve, reject });
      if (this.queued.length === 1) setImmediate(() => this.flush());
    });
  }

  /**
   * Sends what the requests of this turn of the event loop queued, as one job per worker: with
   * single-event requests a message per request cost more than the verification. Split by
   * signatures, not envelopes, so the workers finish together.
   */
  private flush(): void {
    const requests = this.queued;
    this.queued = [];
    const ws = this.start();
    const jobs = requests.flatMap((r) => r.jobs);
    if (ws.length === 0) {
      for (const r of requests) r.reject(new Error("verify workers stopped"));
      return;
    }
    const total = jobs.reduce((n, j) => n + j.sigs.length, 0);
    const per = Math.ceil(total / ws.length);
    const chunks: SigJob[][] = [];
    let chunk: SigJob[] = [];
    let inChunk = 0;
    for (const j of jobs) {
      chunk.push(j);
      inChunk += j.sigs.length;
      if (inChunk >= per && chunks.length < ws.length - 1) {
        chunks.push(chunk);
        chunk = [];
        inChunk = 0;
      }
    }
    if (chunk.length > 0) chunks.push(chunk);
    Promise.all(chunks.map((c, k) => this.run(ws[k]!, c))).then(
      (parts) => {
        const bad = parts.flatMap((p) => [...p]);
        let o = 0;
        for (const r of requests) {
          r.resolve(bad.slice(o, o + r.jobs.length));
          o += r.jobs.length;
        }
      },
      (e: Error) => {
        for (const r of requests) r.reject(e);
      },
    );
  }

  /** Raw leaves go to the workers whole (parsed there): a caller without parsed envelopes. */
  async verify(leaves: readonly Uint8Array[]): Promise<(TrustlogError | undefined)[]> {
    const ws = leaves.length > 0 ? this.start() : [];
    if (ws.length === 0) return inlineVerifier.verify(leaves);
    const per = Math.ceil(leaves.length / ws.length);
    try {
      const parts = await Promise.all(
        ws
          .map((w, k) => leaves.slice(k * per, (k + 1) * per))
          .map((chunk, k) => ({ w: ws[k]!, chunk }))
          .filter(({ chunk }) => chunk.length > 0)
          .map(({ w, chunk }) => {
            const bytes = concat(...chunk);
            const id = this.nextId++;
            return new Promise<Verdict[]>((resolve, reject) => {
              this.pending.set(id, { resolve, reject });
              w.postMessage({ id, bytes, lengths: chunk.map((l) => l.length) } satisfies LeafJob, [
                bytes.buffer as ArrayBuffer,
              ]);
            });
          }),
      );
      return parts.flat().map(fromVerdict);
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
