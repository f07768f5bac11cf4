// audit: replay the whole log from its tiles and entry bundles (the C2SP read API, which any
// mirror or CDN can serve) and re-check everything: every entry's bytes against the level-0 hash
// tile, every event against the policy in log order from an empty state, the tree root against
// the signed (and, with a witness policy, cosigned) checkpoint, and that checkpoint against the
// last one trusted; every index leaf recomputed from the chain heads before it (core/log-replay).
// A broken rule is reported with its entry index and code and the replay goes on to the end,
// so one bad entry hides nothing after it; what cannot be read at all (a bad entry bundle, a
// checkpoint that is not signed or not fresh) stops the audit.

import { equalBytes, toBase64 } from "../core/bytes.js";
import type { Checkpoint } from "../core/checkpoint.js";
import { CompactRange } from "../core/compact-range.js";
import { decodeEntryBundle } from "../core/entry-bundle.js";
import { type ErrorCode, TrustlogError } from "../core/errors.js";
import { LogReplayer, type Violation } from "../core/log-replay.js";
import type { MemoryState } from "../core/memory-state.js";
import { leafHash } from "../core/merkle.js";
import { checkConsistency } from "../core/proof.js";
import { TILE_WIDTH, type TileId } from "../core/tile-paths.js";
import { type VerifiedCheckpoint, verifyCheckpointNote } from "./bundle.js";
import { type Fetch, LogClient } from "./log-client.js";
import type { TrustStore } from "./trust-store.js";
import type { LogConfig } from "./verify-key.js";
import { checkConsistencyWithTrusted } from "./verify-key.js";
import { compileWitnessPolicy, DEFAULT_MAX_AGE_SECONDS } from "./witness-policy.js";

/** The read API an audit needs (LogClient over HTTP, or tiles held anywhere else). */
export interface TileSource {
  checkpoint(): Promise<string>;
  tile(t: TileId): Promise<Uint8Array>;
  entryBundle(index: number, width: number): Promise<Uint8Array>;
  consistency(from: number, to: number): Promise<Uint8Array[]>;
}

export interface AuditOptions {
  log: LogConfig;
  witnesses?: readonly string[];
  quorum?: number;
  /** When given, the checkpoint must extend the one trusted there, and the store is advanced. */
  store?: TrustStore;
  fetch?: Fetch;
  source?: TileSource;
  /** Tiles fetched ahead of the replay (default 8). */
  prefetch?: number;
  onProgress?: (done: number, total: number) => void;
  /** How old the quorum's cosignatures may be (default one hour; see witness-policy.ts). */
  maxAgeSeconds?: number;
  /** The clock, milliseconds since the epoch (default Date.now). */
  now?: () => number;
}

export interface AuditResult {
  checkpoint: { origin: string; size: number; root: string };
  cosigners: string[];
  /** Entries replayed (events and index leaves). */
  entries: number;
  events: number;
  indexLeaves: number;
  orgs: number;
  /** Every broken rule, in index order; the audit passed only when this is empty. */
  violations: Violation[];
  seconds: number;
  /** Events per second. */
  rate: number;
  /** The state after the replay (for monitors and reports). */
  state: MemoryState;
  /** A later checkpoint fetched after the replay and checked to extend the audited one. */
  latest?: { size: number; root: string };
}

function at(
  index: number,
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): TrustlogError {
  return new TrustlogError(code, `entry ${index}: ${message}`, { index, ...extra });
}

/**
 * Replays the log; resolves with figures and every violation found (the trust store advances
 * only when there is none), or throws when the log cannot be read or its checkpoint trusted.
 */
export async function audit(opts: AuditOptions): Promise<AuditResult> {
  const started = performance.now();
  const source: TileSource =
    opts.source ?? new LogClient(opts.log.url, opts.fetch ? { fetch: opts.fetch } : {});
  const policy = compileWitnessPolicy({ witnesses: opts.witnesses ?? [], quorum: opts.quorum ?? 0 });
  const fresh = {
    now: Math.floor((opts.now ?? Date.now)() / 1000),
    maxAgeSeconds: opts.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
  };
  const verified: VerifiedCheckpoint = verifyCheckpointNote(
    await source.checkpoint(),
    opts.log,
    policy,
    fresh,
  );
  const cp: Checkpoint = verified.checkpoint;
  const state0 = opts.store ? await opts.store.load(opts.log.vkey) : undefined;
  if (state0) await checkConsistencyWithTrusted(state0, verified, undefined, source);

  const size = cp.size;
  const tiles = Math.ceil(size / TILE_WIDTH);
  const fetchTile = (n: number) => {
    const width = Math.min(TILE_WIDTH, size - n * TILE_WIDTH);
    return Promise.all([source.entryBundle(n, width), source.tile({ level: 0, index: n, width })]);
  };
  const prefetch = Math.max(1, opts.prefetch ?? 8);
  const pending = new Map<number, ReturnType<typeof fetchTile>>();
  const replayer = new LogReplayer();
  const violations: Violation[] = [];
  const tree = CompactRange.empty();
  for (let n = 0; n < tiles; n++) {
    for (let k = n; k < Math.min(tiles, n + prefetch); k++) {
      if (!pending.has(k)) {
        const p = fetchTile(k);
        p.catch(() => {}); // awaited below; avoid an unhandled rejection while it waits
        pending.set(k, p);
      }
    }
    const [bundle, hashTile] = await pending.get(n)!;
    pending.delete(n);
    const width = Math.min(TILE_WIDTH, size - n * TILE_WIDTH);
    let entries: Uint8Array[];
    try {
      entries = decodeEntryBundle(bundle, width);
    } catch (e) {
      throw at(n * TILE_WIDTH, "ENTRY_BUNDLE_INVALID", `entry bundle ${n}: ${(e as Error).message}`);
    }
    if (hashTile.length !== width * 32)
      throw at(n * TILE_WIDTH, "TILE_INVALID", `hash tile ${n} has the wrong size`);
    for (let i = 0; i < width; i++) {
      const index = n * TILE_WIDTH + i;
      const entry = entries[i]!;
      const lh = leafHash(entry);
      // The hash tile is what proofs to everyone else are built from: it must match the data.
      if (!equalBytes(lh, hashTile.subarray(i * 32, (i + 1) * 32))) {
        violations.push({
          index,
          code: "TILE_MISMATCH",
          message: `entry ${index}: leaf hash differs from the hash tile`,
        });
      }
      violations.push(...replayer.apply(index, entry, lh));
      tree.push(lh);
    }
    opts.onProgress?.(Math.min(size, (n + 1) * TILE_WIDTH), size);
  }
  violations.push(...replayer.finish(size));
  violations.sort((a, b) => a.index - b.index);
  if (size > 0 && !equalBytes(tree.root(), cp.root)) {
    throw new TrustlogError(
      "ROOT_MISMATCH",
      `the entries do not hash to the checkpoint's root (size ${size})`,
      { size },
    );
  }

  // The log kept growing meanwhile: its new checkpoint must extend the audited one.
  let latest: AuditResult["latest"];
  const again = verifyCheckpointNote(await source.checkpoint(), opts.log, policy, fresh);
  if (again.checkpoint.size < size) {
    throw new TrustlogError("ROLLBACK", `the log went back from size ${size} to ${again.checkpoint.size}`);
  }
  if (again.checkpoint.size > size || !equalBytes(again.checkpoint.root, cp.root)) {
    const proof = again.checkpoint.size > size ? await source.consistency(size, again.checkpoint.size) : [];
    try {
      checkConsistency(size, again.checkpoint.size, cp.root, again.checkpoint.root, proof);
    } catch (e) {
      throw new TrustlogError(
        "INCONSISTENT",
        `the log's newer checkpoint does not extend the audited one: ${(e as Error).message}`,
      );
    }
    latest = { size: again.checkpoint.size, root: toBase64(again.checkpoint.root) };
  }

  if (opts.store && state0 && violations.length === 0) {
    const trusted = state0.checkpoint;
    if (!trusted || trusted.size < size) {
      await opts.store.compareAndSave(opts.log.vkey, state0.version, {
        ...state0,
        checkpoint: { origin: cp.origin, size, root: toBase64(cp.root), note: verified.text },
      });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    checkpoint: { origin: cp.origin, size, root: toBase64(cp.root) },
    cosigners: verified.cosigners,
    entries: size,
    events: replayer.events,
    indexLeaves: replayer.indexLeaves,
    orgs: replayer.orgs,
    violations,
    seconds,
    rate: size / Math.max(seconds, 1e-9),
    state: replayer.state,
    ...(latest ? { latest } : {}),
  };
}
