// Replaying a whole log as an auditor does (core/log-replay.ts): an honest log with its index
// leaves replays clean; each way a log can break a rule is reported at its entry with its code,
// and the replay goes on to the end.

import { describe, expect, it } from "vitest";
import { utf8 } from "../../core/bytes.js";
import { chainKey } from "../../core/chain-index.js";
import type { KeyEvent } from "../../core/event.js";
import { LogReplayer, type Violation } from "../../core/log-replay.js";
import { leafHash } from "../../core/merkle.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";
import { LogCore } from "../helpers/memory-log.js";

const root = testKey("replay-root");
const bridge = testKey("replay-bridge");
const laptop = testKey("replay-laptop");

/** A log under construction: events from a History, index leaves written as an honest log would. */
class TestLog extends LogCore {
  constructor() {
    super({ origin: "replay.example", keySeed: new Uint8Array(32) });
  }

  event(leaf: Uint8Array, event: KeyEvent, indexed = true): number {
    return this.appendEvent(leaf, event, undefined, indexed);
  }

  /** Closes the batch: `time` in ms; `size`/`root` overridable to lie. */
  seal(time: number, lie: { size?: number; root?: Uint8Array } = {}): number {
    return this.appendIndexLeaf(time, lie);
  }

  replay(): Violation[] {
    const r = new LogReplayer();
    const out: Violation[] = [];
    for (const [i, leaf] of this.leaves.entries()) out.push(...r.apply(i, leaf, leafHash(leaf)));
    out.push(...r.finish(this.leaves.length));
    return out;
  }
}

/** acme with a SCIM grant, alice invited and her first key: two batches at h.now. */
function honest(): { h: History; log: TestLog } {
  const h = new History();
  const log = new TestLog();
  const add = (env: ReturnType<History["orgCreate"]>) => {
    const e = h.append(env);
    log.event(e.leaf, e.envelope.event);
  };
  add(h.orgCreate("acme", { admins: [root] }));
  add(
    h.grantIssue(
      "acme",
      { id: "scim", delegate: bridge, ops: ["account.invite", "account.suspend"] },
      admin(root),
    ),
  );
  log.seal(h.now * 1000);
  add(h.invite("acme", "alice", delegate(bridge, "scim")));
  add(h.keyAdd("acme", "alice", laptop));
  log.seal(h.now * 1000 + 500);
  return { h, log };
}

const brief = (v: Violation[]) => v.map((x) => [x.index, x.code, x.policyCode]);

describe("replaying a log", () => {
  it("an honest log with its index leaves replays with no violation", () => {
    const { log } = honest();
    expect(log.replay()).toEqual([]);
    const r = new LogReplayer();
    for (const [i, leaf] of log.leaves.entries()) r.apply(i, leaf, leafHash(leaf));
    expect(r.events).toBe(4);
    expect(r.indexLeaves).toBe(2);
    expect(r.trie.get(chainKey("account", "acme", "alice"))).toBeDefined();
  });

  it("reports an index leaf at the wrong place or going back in time (INDEX_INVALID)", () => {
    const { h, log } = honest();
    const e = h.append(h.suspend("acme", "alice", delegate(bridge, "scim")));
    log.event(e.leaf, e.envelope.event);
    const back = log.seal(h.now * 1000 - 1);
    expect(brief(log.replay())).toEqual([[back, "INDEX_INVALID", undefined]]);

    const other = honest().log;
    const wrong = other.seal(h.now * 1000 + 600, { size: 3 });
    expect(brief(other.replay())).toEqual([[wrong, "INDEX_INVALID", undefined]]);
  });

  it("reports an index leaf whose root is not the chain heads before it (INDEX_MISMATCH)", () => {
    const { h, log } = honest();
    const e = h.append(h.suspend("acme", "alice", delegate(bridge, "scim")));
    log.event(e.leaf, e.envelope.event, false); // the log keeps the suspension out of its index
    const lie = log.seal(h.now * 1000 + 600);
    expect(brief(log.replay())).toEqual([[lie, "INDEX_MISMATCH", undefined]]);
  });

  it("reports an event logged far from its stated time (SKEW), judged by the index leaf that covers it", () => {
    const { h, log } = honest();
    const e = h.append(h.suspend("acme", "alice", delegate(bridge, "scim")));
    const at = log.event(e.leaf, e.envelope.event);
    log.seal((h.now + 301) * 1000);
    expect(brief(log.replay())).toEqual([[at, "POLICY_VIOLATION", "SKEW"]]);
    // 300 s is still within the skew.
    const ok = honest();
    const e2 = ok.h.append(ok.h.suspend("acme", "alice", delegate(bridge, "scim")));
    ok.log.event(e2.leaf, e2.envelope.event);
    ok.log.seal((ok.h.now + 300) * 1000 + 999);
    expect(ok.log.replay()).toEqual([]);
  });

  it("reports an event appended twice (CHAIN_CONFLICT) and a malformed entry, and goes on past both", () => {
    const { h, log } = honest();
    const e = h.append(h.suspend("acme", "alice", delegate(bridge, "scim")));
    log.event(e.leaf, e.envelope.event);
    log.seal(h.now * 1000 + 600);
    const again = log.event(e.leaf, e.envelope.event, false);
    const junk = log.leaves.push(utf8('{"event":1}')) - 1;
    const later = h.append(h.keyRevoke("acme", "alice", laptop.label, self(laptop)));
    log.event(later.leaf, later.envelope.event);
    log.seal(h.now * 1000 + 700);
    expect(brief(log.replay())).toEqual([
      [again, "POLICY_VIOLATION", "CHAIN_CONFLICT"],
      [junk, "EVENT_MALFORMED", undefined],
    ]);
    const r = new LogReplayer();
    for (const [i, leaf] of log.leaves.entries()) r.apply(i, leaf, leafHash(leaf));
    expect(r.state.account("acme", "alice")!.keys.get(laptop.label)!.revokedIndex).toBeDefined();
  });

  it("reports a checkpoint that does not end with an index leaf (INDEX_MISSING)", () => {
    const { h, log } = honest();
    const e = h.append(h.suspend("acme", "alice", delegate(bridge, "scim")));
    const at = log.event(e.leaf, e.envelope.event);
    expect(brief(log.replay())).toEqual([[at, "INDEX_MISSING", undefined]]);
  });
});
