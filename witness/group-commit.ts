// Group commit of the witness's state moves (issue 13): add-checkpoint requests for different
// logs that passed verification at about the same time share one transaction, so one durable
// commit (one WAL flush, the cost that bounds a witness on PostgreSQL) answers all of them.
//
// Leader/follower, no timer: when no commit is in flight a move is committed at once, alone;
// moves that arrive while a commit is in flight wait for it and then go together in the next
// one. A lone request therefore pays one commit, as before, and under load the groups grow
// by themselves to what arrives during one commit.
//
// What each move keeps: it is still a compare-and-swap on its own log's row, run in queue order
// inside the transaction (WitnessStore.advanceMany), so two moves of one log in one group behave
// exactly as two commits one after the other would (the second, from the old state, fails), and
// a move that loses its swap answers false while the others of its group go ahead. A log's move
// never goes in a commit while another of its moves is in flight (it waits for the next one).
// Every promise settles only after the transaction's COMMIT returned; a failed transaction
// rejects every move of its group, so no cosignature of that group leaves the witness.

import type { WitnessStore } from "./store.js";

/** One log's move from exactly `from` to `to` (see WitnessStore.advance). */
export interface StateMove {
  origin: string;
  from: { size: number; root: Uint8Array };
  to: { size: number; root: Uint8Array; note: string };
  /** An audited log: the audit row moves with it and must cover `to.size`. */
  audited: boolean;
}

/** Commits moves; resolves true once a move is durable, false when its swap lost. */
export interface StateCommitter {
  commit(move: StateMove): Promise<boolean>;
}

/** Counts, for tests and the bench (how large the groups were). */
export interface GroupCommitStats {
  groups: number;
  moves: number;
  largest: number;
}

interface Pending {
  move: StateMove;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

/**
 * The largest group: a bound on one transaction's size (and on how long one slow statement
 * holds the others), far above what arrives during one commit at the rates measured.
 */
export const MAX_GROUP = 256;

/**
 * Commits in flight at once. One, the classic scheme: with 50 logs in flight, two measured no
 * better on the 2-core bench machine (PostgreSQL already flushes concurrent commits together).
 */
export const MAX_IN_FLIGHT = 1;

export class GroupCommit implements StateCommitter {
  private queue: Pending[] = [];
  private inFlight = 0;
  /** Origins with a move in a commit in flight: their next moves wait for it (see `pump`). */
  private readonly busy = new Set<string>();
  readonly stats: GroupCommitStats = { groups: 0, moves: 0, largest: 0 };

  constructor(
    private readonly store: Pick<WitnessStore, "advanceMany">,
    private readonly opts: {
      maxGroup?: number;
      /** Commits in flight at once (default 1). */
      maxInFlight?: number;
      onGroup?: (size: number) => void;
    } = {},
  ) {}

  commit(move: StateMove): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ move, resolve, reject });
      this.pump();
    });
  }

  /**
   * Starts commits while fewer than `maxInFlight` run. A group takes the queued moves in order,
   * except those of a log that has a move in a commit in flight: they wait for it (so two
   * commits never hold moves of one log, whose order they could not keep, nor lock its row
   * against each other).
   */
  private pump(): void {
    const maxInFlight = this.opts.maxInFlight ?? MAX_IN_FLIGHT;
    const maxGroup = this.opts.maxGroup ?? MAX_GROUP;
    while (this.inFlight < maxInFlight && this.queue.length > 0) {
      const group: Pending[] = [];
      const rest: Pending[] = [];
      for (const p of this.queue) {
        if (group.length < maxGroup && !this.busy.has(p.move.origin)) group.push(p);
        else rest.push(p);
      }
      if (group.length === 0) return;
      this.queue = rest;
      void this.run(group);
    }
  }

  private async run(group: Pending[]): Promise<void> {
    this.inFlight++;
    const origins = new Set(group.map((p) => p.move.origin));
    for (const o of origins) this.busy.add(o);
    this.stats.groups++;
    this.stats.moves += group.length;
    if (group.length > this.stats.largest) this.stats.largest = group.length;
    let results: boolean[] | undefined;
    let failure: unknown;
    try {
      this.opts.onGroup?.(group.length);
      results = await this.store.advanceMany(group.map((p) => p.move));
    } catch (err) {
      failure = err ?? new Error("commit failed");
    }
    for (const o of origins) this.busy.delete(o);
    this.inFlight--;
    for (const [i, p] of group.entries()) {
      if (results) p.resolve(results[i] === true);
      else p.reject(failure);
    }
    this.pump();
  }
}

/** One transaction per move, concurrently: what the witness did before group commit (the bench's baseline). */
export class CommitEach implements StateCommitter {
  constructor(private readonly store: Pick<WitnessStore, "advance">) {}

  commit(move: StateMove): Promise<boolean> {
    return this.store.advance(move.origin, move.from, move.to, { audited: move.audited });
  }
}
