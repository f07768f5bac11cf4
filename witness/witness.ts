// The C2SP tlog-witness request logic (c2sp.org/tlog-witness), apart from HTTP and the wire
// format (core/witness-protocol.ts): witness/app.ts maps the error codes below to statuses in one
// switch, and pull mode calls `add` directly.
//
// The safety argument: a cosignature is only produced for a checkpoint that the log signed and
// that is provably consistent with the (size, root) read from the store, and it only leaves
// this module after the store moved from exactly that (size, root) to the new checkpoint by
// compare-and-swap. Concurrent requests, retries and crashes can therefore never get two
// inconsistent checkpoints of one log cosigned.

import { equalBytes, utf8 } from "../core/bytes.js";
import { type Checkpoint, formatCheckpoint, parseCheckpoint } from "../core/checkpoint.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { EMPTY_ROOT } from "../core/merkle.js";
import {
  formatNote,
  formatSignatureLine,
  NOTE_TYPE_ED25519,
  type NoteSigner,
  type NoteVerifier,
  openNote,
  type ParsedNote,
  parseNote,
} from "../core/note.js";
import type { ParsedVerifierKey } from "../core/note-keys.js";
import { checkConsistency } from "../core/proof.js";
import type { AddCheckpointRequest } from "../core/witness-protocol.js";
import type { Logger } from "../node/log.js";
import type { SigJob } from "../node/verify-pool.js";
import type { AnyEvidence } from "./audit-evidence.js";
import type { LogAuditor } from "./auditor.js";
import { sameSizeEvidence } from "./evidence.js";
import { CommitEach, GroupCommit, type StateCommitter, type StateMove } from "./group-commit.js";
import type { WitnessMetrics } from "./metrics.js";
import type { LogState, WitnessStore } from "./store.js";

/**
 * Stable error codes of add-checkpoint (HTTP status in witness/app.ts):
 *   UNKNOWN_ORIGIN 404 · LOG_SIGNATURE_INVALID 403 · LOG_EQUIVOCATED 403 (the witness holds
 *   evidence against this log and refuses it for good) · BAD_REQUEST 400 · OLD_SIZE_MISMATCH
 *   409 text/x.tlog.size (details.size) · ROOT_MISMATCH 409 (tlog-witness v1.0.0) ·
 *   BAD_PROOF 422 · TOO_LARGE 413. Auditing witnesses add: LOG_VIOLATION 403 (the log broke a
 *   trustlog rule, evidence held) · AUDIT_SYNCING 503 (the audit has not reached this checkpoint
 *   yet) · AUDIT_ROOT_MISMATCH 409 · AUDIT_SIZE_UNKNOWN 503.
 */
export const WITNESS_ERROR_CODES = [
  "UNKNOWN_ORIGIN",
  "LOG_SIGNATURE_INVALID",
  "LOG_EQUIVOCATED",
  "BAD_REQUEST",
  "OLD_SIZE_MISMATCH",
  "ROOT_MISMATCH",
  "BAD_PROOF",
  "TOO_LARGE",
  "LOG_VIOLATION",
  "AUDIT_SYNCING",
  "AUDIT_ROOT_MISMATCH",
  "AUDIT_SIZE_UNKNOWN",
] as const;

export interface WitnessedLog {
  origin: string;
  /** The log's key(s); any one valid signature is enough. */
  verifiers: NoteVerifier[];
}

export interface WitnessHooks {
  /** Test-only: runs between reading the state and the conditional update (forces the race). */
  beforeUpdate?: (origin: string) => Promise<void>;
}

export interface WitnessOptions {
  /** The cosignature/v1 signer (its clock stamps each cosignature). */
  signer: NoteSigner;
  logs: readonly WitnessedLog[];
  store: WitnessStore;
  logger: Logger;
  metrics: WitnessMetrics;
  hooks?: WitnessHooks;
  /** Logs this witness audits (docs/witness.md): it cosigns only what their auditor replayed clean. */
  auditors?: ReadonlyMap<string, LogAuditor>;
  /**
   * Commit the state moves of concurrent requests together (witness/group-commit.ts; default
   * true). false commits each in its own transaction: the bench's baseline.
   */
  groupCommit?: boolean;
  /**
   * Verifies the logs' Ed25519 signatures off the event loop (node/verify-pool.ts's VerifyPool):
   * a third of a cosignature's CPU time. Without it they are verified inline.
   */
  signatures?: { verifySignatures(jobs: readonly SigJob[]): Promise<number[]> };
}

/** The public key of a plain Ed25519 note verifier parsed from a vkey, else undefined. */
function ed25519NoteKey(v: NoteVerifier): Uint8Array | undefined {
  const k = v as Partial<ParsedVerifierKey>;
  return k.type === NOTE_TYPE_ED25519 && k.publicKey?.length === 32 ? k.publicKey : undefined;
}

function bad(message: string): TrustlogError {
  return new TrustlogError("BAD_REQUEST", message);
}

export class Witness {
  readonly signer: NoteSigner;
  private readonly logs: Map<string, WitnessedLog>;
  private readonly store: WitnessStore;
  private readonly logger: Logger;
  private readonly metrics: WitnessMetrics;
  private readonly hooks: WitnessHooks;
  private readonly auditors: ReadonlyMap<string, LogAuditor>;
  private readonly signatures: WitnessOptions["signatures"];
  /** Last state seen per origin, to skip a read on the common path (see `add`). */
  private readonly cache = new Map<string, LogState>();
  /** Where every state move goes: the only way a cosignature's state becomes durable. */
  readonly committer: StateCommitter;

  constructor(opts: WitnessOptions) {
    this.signer = opts.signer;
    this.logs = new Map(opts.logs.map((l) => [l.origin, l]));
    this.store = opts.store;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.hooks = opts.hooks ?? {};
    this.auditors = opts.auditors ?? new Map();
    this.signatures = opts.signatures;
    this.committer =
      opts.groupCommit === false
        ? new CommitEach(this.store)
        : new GroupCommit(this.store, { onGroup: (n) => this.metrics.commitGroup.observe(n) });
  }

  /**
   * The log's verifiers, answering from signatures checked beforehand on the verify workers:
   * openNote (core, synchronous) asks them as usual and finds each answer ready. Only the exact
   * (body, signature) pairs sent to the workers are answered from there; anything else is
   * verified on the spot, as without workers.
   */
  private async checkedVerifiers(parsed: ParsedNote, log: WitnessedLog): Promise<readonly NoteVerifier[]> {
    if (!this.signatures) return log.verifiers;
    const body = utf8(parsed.body);
    const sent: { verifier: NoteVerifier; key: Uint8Array; sig: Uint8Array }[] = [];
    for (const s of parsed.signatures) {
      const verifier = log.verifiers.find((v) => v.name === s.name && equalBytes(v.keyId, s.keyId));
      const key = verifier && ed25519NoteKey(verifier);
      if (verifier && key && s.payload.length === 64) sent.push({ verifier, key, sig: s.payload });
    }
    if (sent.length === 0) return log.verifiers;
    const bad = await this.signatures.verifySignatures(
      sent.map((j) => ({ message: body, keys: [j.key], sigs: [j.sig] })),
    );
    return log.verifiers.map((v) => ({
      name: v.name,
      keyId: v.keyId,
      verify: (message, payload) => {
        const k = sent.findIndex((j) => j.verifier === v && equalBytes(j.sig, payload));
        return k >= 0 && equalBytes(message, body) ? bad[k] === -1 : v.verify(message, payload);
      },
    }));
  }

  /** The auditor of an audited log (undefined for logs only witnessed). */
  auditor(origin: string): LogAuditor | undefined {
    return this.auditors.get(origin);
  }

  log(origin: string): WitnessedLog | undefined {
    return this.logs.get(origin);
  }

  origins(): string[] {
    return [...this.logs.keys()];
  }

  /** The latest state of a configured log (undefined for unknown origins). */
  async state(origin: string): Promise<LogState | undefined> {
    if (!this.logs.has(origin)) return undefined;
    return this.store.get(origin);
  }

  /**
   * Checks and cosigns a checkpoint: returns the cosignature lines (without "\n"). Throws a
   * TrustlogError with one of WITNESS_ERROR_CODES. The checks run in the order of the spec.
   */
  async add(req: AddCheckpointRequest, source = "add-checkpoint"): Promise<string[]> {
    let parsed: ReturnType<typeof parseNote>;
    try {
      parsed = parseNote(req.note);
    } catch (e) {
      throw bad(`checkpoint note: ${(e as Error).message}`);
    }
    const origin = parsed.body.slice(0, parsed.body.indexOf("\n"));
    const log = this.logs.get(origin);
    if (!log) throw new TrustlogError("UNKNOWN_ORIGIN", "unknown log origin", { origin });
    let logLines: string[];
    const verifiers = await this.checkedVerifiers(parsed, log);
    try {
      const opened = openNote(req.note, verifiers);
      logLines = opened.signatures
        .filter((s) => log.verifiers.some((v) => v.name === s.name && equalBytes(v.keyId, s.keyId)))
        .map((s) => s.line);
    } catch (e) {
      if (isTrustlogError(e, "NOTE_MALFORMED")) throw bad(e.message);
      throw new TrustlogError("LOG_SIGNATURE_INVALID", "no valid signature of a trusted log key", {
        reason: (e as Error).message,
      });
    }
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(parsed.body);
    } catch (e) {
      throw bad((e as Error).message);
    }
    if (req.oldSize > cp.size) throw bad("old size is larger than the checkpoint size");
    let state = this.cache.get(origin);
    // The cache only saves a read; the conditional update below is what decides. A miss, or an
    // answer other than "go ahead", is checked against the database first.
    if (!state || state.refused || req.oldSize !== state.size || req.oldSize === cp.size) {
      state = await this.store.get(origin);
      if (!state) throw new TrustlogError("UNKNOWN_ORIGIN", "log is not registered in the store", { origin });
      this.cache.set(origin, state);
    }
    if (state.refused) throw await this.refusal(origin);
    if (req.oldSize !== state.size) throw sizeMismatch(state.size);
    const auditor = this.auditors.get(origin);
    if (cp.size === 0 && !equalBytes(cp.root, EMPTY_ROOT))
      throw badProof("a size-0 checkpoint must have the empty root");
    if (cp.size === state.size) {
      if (!equalBytes(cp.root, state.root)) {
        await this.sameSizeFork(state, logNote(parsed.body, logLines), source);
        throw new TrustlogError(
          "ROOT_MISMATCH",
          "same size as the latest cosigned checkpoint, different root",
        );
      }
      if (req.proof.length !== 0) throw badProof("the proof must be empty between equal sizes");
      // A checkpoint recorded before this log was audited (or before the audit row existed)
      // is not re-cosigned by an auditing key until the audit has reached it.
      if (auditor && cp.size > auditor.committedSize) {
        await auditor.require(cp, logNote(parsed.body, logLines));
        if (
          !(await this.commit({
            origin,
            from: state,
            to: { ...state, note: state.note ?? "" },
            audited: true,
          }))
        )
          throw sizeMismatch((await this.store.get(origin))?.size ?? state.size);
        auditor.cosigned(cp.size);
      }
      // Already recorded: a fresh timestamp vouches for freshness, the state does not change.
      return [this.cosign(cp)];
    }
    if (req.oldSize === 0) {
      if (req.proof.length !== 0) throw badProof("the proof must be empty when old size is 0");
    } else {
      try {
        checkConsistency(req.oldSize, cp.size, state.root, cp.root, req.proof);
      } catch {
        throw badProof("consistency proof does not verify");
      }
    }
    // An auditing witness cosigns only entries it replayed clean (witness/auditor.ts).
    if (auditor) await auditor.require(cp, logNote(parsed.body, logLines));
    // Signed here, but it only leaves once the store has moved: see the comment at the top.
    const line = this.cosign(cp);
    const note = formatNote(formatCheckpoint(cp), [...logLines, line]);
    await this.hooks.beforeUpdate?.(origin);
    if (
      await this.commit({
        origin,
        from: state,
        to: { size: cp.size, root: cp.root, note },
        audited: !!auditor,
      })
    ) {
      this.cache.set(origin, { origin, size: cp.size, root: cp.root, note, refused: false });
      auditor?.cosigned(cp.size);
      return [line];
    }
    // Someone else moved the log between our read and our update.
    const now = await this.store.get(origin);
    if (!now) throw equivocated(origin);
    this.cache.set(origin, now);
    if (now.size === cp.size && !equalBytes(now.root, cp.root)) {
      // The winner was another checkpoint of the same size: the log forked.
      await this.sameSizeFork(now, logNote(parsed.body, logLines), source);
    }
    if (now.size !== req.oldSize) throw sizeMismatch(now.size);
    throw await this.refusal(origin);
  }

  /**
   * Makes a state move durable (true) or reports that its swap lost (false). When the commit
   * fails the cached state of the log is dropped: the move may or may not have reached the
   * database, so the next request reads it.
   */
  private async commit(move: StateMove): Promise<boolean> {
    try {
      return await this.committer.commit(move);
    } catch (e) {
      this.cache.delete(move.origin);
      throw e;
    }
  }

  /** LOG_VIOLATION when only audit evidence refuses the log, else LOG_EQUIVOCATED. */
  private async refusal(origin: string): Promise<TrustlogError> {
    if ((await this.store.refusalKind(origin)) === "violation") {
      return new TrustlogError(
        "LOG_VIOLATION",
        "this witness holds evidence that the log broke the trustlog rules and refuses it",
        { origin },
      );
    }
    return equivocated(origin);
  }

  /** Stores evidence (after the caller checked it), logs it loudly and counts it. */
  async recordEvidence(e: AnyEvidence, source: string): Promise<boolean> {
    this.cache.delete(e.origin);
    const fresh = await this.store.addEvidence(e, source);
    this.cache.delete(e.origin);
    if (fresh) {
      this.metrics.evidence.inc({ origin: e.origin, kind: e.kind });
      if (e.kind === "audit") {
        this.logger.error(
          { origin: e.origin, kind: e.kind, source, violation: e.violation },
          "LOG VIOLATION: evidence that the log broke the trustlog rules; refusing to cosign this log",
        );
      } else {
        this.logger.error(
          { origin: e.origin, kind: e.kind, source, notes: e.notes },
          "LOG EQUIVOCATION: two signed checkpoints cannot both be true; refusing to cosign this log",
        );
      }
    }
    return fresh;
  }

  private async sameSizeFork(state: LogState, incoming: string, source: string): Promise<void> {
    if (state.note === null) return;
    await this.recordEvidence(sameSizeEvidence(state.origin, state.note, incoming), source);
  }

  private cosign(cp: Checkpoint): string {
    // A re-encoding of what was parsed, never the bytes received.
    const body = new TextEncoder().encode(formatCheckpoint(cp));
    return formatSignatureLine(this.signer.name, this.signer.keyId, this.signer.sign(body));
  }
}

function logNote(body: string, lines: string[]): string {
  return formatNote(body, lines);
}

function equivocated(origin: string): TrustlogError {
  return new TrustlogError(
    "LOG_EQUIVOCATED",
    "this witness holds evidence that the log equivocated and refuses it",
    {
      origin,
    },
  );
}

function sizeMismatch(size: number): TrustlogError {
  return new TrustlogError("OLD_SIZE_MISMATCH", `old size does not match the latest cosigned size ${size}`, {
    size,
  });
}

function badProof(message: string): TrustlogError {
  return new TrustlogError("BAD_PROOF", message);
}
