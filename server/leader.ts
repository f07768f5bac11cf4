// Exactly one sequencer per log, enforced by the database rather than by configuration.
//
// PostgreSQL: a session advisory lock taken on a connection kept for it. The lock lives as
// long as that session: when the leader dies (or its connection is cut) PostgreSQL releases it
// and a follower, retrying every `retryMs`, takes over. Leadership is only a liveness device:
// the fence against two processes that both believe they lead (a leader whose connection died
// while a batch was in flight) is the compare-and-swap on log_head in the sequencer.
//
// PGlite is one process with one connection: whoever opened it leads.

import postgres from "postgres";
import type { Database } from "../node/db.js";

/** The advisory lock key: an arbitrary int8 constant reserved for trustlog's sequencer. */
export const SEQUENCER_LOCK_KEY = "8391086823434104679";

export interface LeadershipOptions {
  /** Called when this process becomes the leader; leadership counts from its return. */
  onAcquired: () => Promise<void> | void;
  /** Called once when leadership is lost (connection dead), never after release(). */
  onLost: (reason: Error) => void;
  /** How often followers retry and the leader checks its lock connection (default 1000). */
  retryMs?: number;
  /** Advisory lock key (default SEQUENCER_LOCK_KEY); logs sharing one database need distinct keys. */
  lockKey?: string;
  /** Called with errors that do not change leadership (a failed retry), for logging. */
  onError?: (e: unknown) => void;
}

export interface Leadership {
  readonly isLeader: boolean;
  /** Resolves after the first attempt to lead has finished (acquired or not). */
  readonly ready: Promise<void>;
  /** Gives up leadership if held (another process can take over at once) and stops retrying. */
  release(): Promise<void>;
  /** Gives up leadership now (after a lost compare-and-swap) but keeps retrying. */
  abdicate(reason: Error): Promise<void>;
}

/**
 * `promise`, or a rejection with `message` once `ms` have passed. When the deadline fires the
 * rejection waits for one turn of the event loop's I/O phase (setImmediate runs after it), so an
 * answer that arrived while the event loop was blocked past the deadline still wins: timers run
 * before I/O callbacks, and a loaded machine must not read as a dead connection.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => setImmediate(() => reject(new Error(message))), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

export function acquireLeadership(database: Database, opts: LeadershipOptions): Leadership {
  if (database.kind === "pglite" || !database.client) return pgliteLeadership(opts);
  return postgresLeadership(database.client, opts);
}

function pgliteLeadership(opts: LeadershipOptions): Leadership {
  let leader = false;
  let released = false;
  const ready = (async () => {
    await opts.onAcquired();
    leader = !released;
  })();
  return {
    get isLeader() {
      return leader;
    },
    ready,
    async release() {
      released = true;
      leader = false;
    },
    async abdicate(reason) {
      // Nobody else can write a PGlite directory we hold open: a lost CAS means our caches were
      // wrong. Leading again after reloading is the only sensible recovery.
      leader = false;
      opts.onLost(reason);
      await opts.onAcquired();
      leader = !released;
    },
  };
}

/**
 * The lock lives on a one-connection client of its own, opened with the pool's settings. Not a
 * connection reserved from the pool: with postgres-js 3.4.9 a query on a reserved connection
 * whose backend was terminated never settles and a later write throws from a timer
 * (porsager/postgres#1199, #1155), so a leader could never notice it lost the lock. A plain
 * client instead reconnects, to a new session without the lock, which the heartbeat detects by
 * its backend pid. Its lifetime limits are off, so the session is never recycled under us.
 */
function lockClient(client: postgres.Sql): postgres.Sql {
  const { shared: _shared, ...options } = client.options as unknown as postgres.Options<never> & {
    shared?: unknown;
  };
  return postgres({
    ...options,
    max: 1,
    idle_timeout: 0,
    max_lifetime: 0,
    onnotice: () => {},
  } as postgres.Options<never>);
}

function postgresLeadership(client: postgres.Sql, opts: LeadershipOptions): Leadership {
  const retryMs = opts.retryMs ?? 1000;
  const key = opts.lockKey ?? SEQUENCER_LOCK_KEY;
  const lock = lockClient(client);
  let leader = false;
  let lockPid = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  /**
   * A query that fails instead of hanging when the connection is gone. The deadline is generous
   * (a leader that gives up needlessly refuses every write until it leads again, while the
   * head's compare-and-swap, not this deadline, fences a stale leader) and never wins over an
   * answer that arrived while the process was too busy to read it.
   */
  const ask = <T extends object>(text: string, params: string[] = []): Promise<T[]> =>
    withDeadline(
      lock.unsafe<T[]>(text, params),
      Math.max(10_000, 10 * retryMs),
      "the lock connection did not answer",
    );

  const unlock = () => ask("select pg_advisory_unlock_all()").catch(() => {});

  const lose = (reason: Error) => {
    if (!leader) return;
    leader = false;
    void unlock();
    opts.onLost(reason);
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), ms);
    timer.unref?.();
  };

  const tick = async () => {
    timer = undefined;
    if (stopped) return;
    try {
      if (leader) {
        // Heartbeat on the lock's own session: the session (backend pid) must still be the one
        // that took the lock; a reconnected client is a new session, without it.
        const rows = await ask<{ pid: number }>("select pg_backend_pid() as pid");
        if (rows[0]?.pid !== lockPid) throw new Error("the advisory lock's session was lost");
      } else {
        const rows = await ask<{ ok: boolean; pid: number }>(
          "select pg_try_advisory_lock($1::bigint) as ok, pg_backend_pid() as pid",
          [key],
        );
        if (rows[0]?.ok && !stopped) {
          lockPid = rows[0].pid;
          try {
            await opts.onAcquired();
            if (stopped) await unlock();
            else leader = true;
          } catch (e) {
            opts.onError?.(e);
            await unlock();
          }
        }
      }
    } catch (e) {
      if (leader) lose(e instanceof Error ? e : new Error(String(e)));
      else opts.onError?.(e);
    }
    markReady();
    schedule(retryMs);
  };

  void tick();

  return {
    get isLeader() {
      return leader;
    },
    ready,
    async release() {
      stopped = true;
      if (timer) clearTimeout(timer);
      leader = false;
      markReady();
      // Closing the session releases the lock whatever state the connection is in.
      await lock.end({ timeout: 1 }).catch(() => {});
    },
    async abdicate(reason) {
      lose(reason);
    },
  };
}
