// monitor: follow an org (or one account) as the log grows, verify each new history exactly as
// verifyKey does (so a monitor's trust store refuses rollbacks and forks too), and report every
// new event, flagging the ones an owner or an admin should look at: key changes not signed by
// the account itself, and every action of a delegate. Any verification failure is a violation
// and ends the watch.
//
// Watching a whole org, new account events are discovered by reading the new entry bundles;
// each touched account's history is then fetched and verified in full. Discovery trusts the
// entry bundles to be complete; `audit` is the check that they are.

import { isIndexLeaf } from "../core/chain-index.js";
import { decodeEntryBundle } from "../core/entry-bundle.js";
import { isOrgEventType, parseEnvelope } from "../core/event.js";
import { TILE_WIDTH } from "../core/tile-paths.js";
import type { VerifiedEvent } from "./bundle.js";
import { type Fetch, LogClient } from "./log-client.js";
import type { TrustStore } from "./trust-store.js";
import { type HistorySource, type LogConfig, verifyHistory } from "./verify-key.js";
import { compileWitnessPolicy } from "./witness-policy.js";

export type MonitorFlag = "KEY_CHANGE_NOT_BY_OWNER" | "DELEGATE_ACTION" | "AUTHORITY_CHANGE";

export interface MonitoredEvent {
  index: number;
  subject: string;
  type: string;
  seq: number;
  time: string;
  role: string;
  /** The grant a delegate acted under. */
  grant?: string;
  flags: MonitorFlag[];
}

export interface MonitorOptions {
  log: LogConfig;
  witnesses: readonly string[];
  quorum: number;
  org: string;
  account?: string;
  store: TrustStore;
  fetch?: Fetch;
  /** Seconds between polls (default 10). */
  intervalSeconds?: number;
  /** Check once and return. */
  once?: boolean;
  signal?: AbortSignal;
  /** Only events at this index or later are reported on the first round (default 0: all). */
  fromIndex?: number;
  onEvent?: (e: MonitoredEvent) => void;
  onCheckpoint?: (size: number) => void;
  /** How old the quorum's cosignatures may be (default one hour). */
  maxAgeSeconds?: number;
  /** The clock, milliseconds since the epoch (default Date.now). */
  now?: () => number;
}

export function flagsOf(e: VerifiedEvent): MonitorFlag[] {
  const ev = e.envelope.event;
  const flags: MonitorFlag[] = [];
  if ((ev.type === "key.add" || ev.type === "key.revoke") && ev.actor.role !== "self")
    flags.push("KEY_CHANGE_NOT_BY_OWNER");
  if (ev.actor.role === "delegate") flags.push("DELEGATE_ACTION");
  if (
    ev.type === "admin.add" ||
    ev.type === "admin.remove" ||
    ev.type === "grant.issue" ||
    ev.type === "grant.revoke"
  ) {
    flags.push("AUTHORITY_CHANGE");
  }
  return flags;
}

function describe(e: VerifiedEvent): MonitoredEvent {
  const ev = e.envelope.event;
  return {
    index: e.index,
    subject: ev.subject,
    type: ev.type,
    seq: ev.seq,
    time: ev.time,
    role: ev.actor.role,
    ...(ev.actor.role === "delegate" ? { grant: ev.actor.grant } : {}),
    flags: flagsOf(e),
  };
}

// Accounts of `org` with an entry in [from, to), read from the entry bundles.
async function touchedAccounts(
  client: LogClient,
  org: string,
  from: number,
  to: number,
): Promise<Set<string>> {
  const out = new Set<string>();
  for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < to; n++) {
    const width = Math.min(TILE_WIDTH, to - n * TILE_WIDTH);
    const entries = decodeEntryBundle(await client.entryBundle(n, width), width);
    entries.forEach((entry, i) => {
      const index = n * TILE_WIDTH + i;
      if (index < from) return;
      if (isIndexLeaf(entry)) return;
      const ev = parseEnvelope(entry).envelope.event;
      if (ev.org === org && !isOrgEventType(ev.type)) out.add(ev.subject);
    });
  }
  return out;
}

/**
 * Watches until `once` or the signal; resolves with every event reported. Throws (with the
 * verification's code) on the first violation.
 */
export async function monitor(opts: MonitorOptions): Promise<MonitoredEvent[]> {
  const client = new LogClient(opts.log.url, opts.fetch ? { fetch: opts.fetch } : {});
  const source: HistorySource = client;
  const policy = compileWitnessPolicy(opts);
  const common = {
    log: opts.log,
    witnesses: opts.witnesses,
    quorum: opts.quorum,
    org: opts.org,
    store: opts.store,
    source,
    ...(opts.maxAgeSeconds !== undefined ? { maxAgeSeconds: opts.maxAgeSeconds } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  };
  const reported: MonitoredEvent[] = [];
  let seenSize = opts.fromIndex ?? 0;
  for (;;) {
    const events: VerifiedEvent[] = [];
    const orgHistory = await verifyHistory(
      { ...common, ...(opts.account ? { account: opts.account } : {}) },
      policy,
    );
    const size = orgHistory.checkpoint.size;
    events.push(...orgHistory.orgEvents, ...orgHistory.accountEvents);
    if (opts.account === undefined && size > seenSize) {
      for (const account of await touchedAccounts(client, opts.org, seenSize, size)) {
        const h = await verifyHistory({ ...common, account }, policy);
        events.push(...h.accountEvents.filter((e) => e.index < size));
      }
    }
    const fresh = events
      .filter((e) => e.index >= seenSize && e.index < size)
      .sort((a, b) => a.index - b.index);
    for (const e of fresh) {
      const m = describe(e);
      reported.push(m);
      opts.onEvent?.(m);
    }
    if (size > seenSize) opts.onCheckpoint?.(size);
    seenSize = Math.max(seenSize, size);
    if (opts.once || opts.signal?.aborted) return reported;
    await sleep((opts.intervalSeconds ?? 10) * 1000, opts.signal);
    if (opts.signal?.aborted) return reported;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
