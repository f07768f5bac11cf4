// Read replicas serve the same lookup proofs as the sequencer. A second LogStore on the same
// PostgreSQL database (a follower: no sequencer, no trie handed over) rebuilds the index of chain
// heads from the state tables, catches up from the entries as the log grows, and answers history
// bundles and lookups byte for byte as the leader does; every answer verifies with the client.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyBundle } from "../../client/bundle.js";
import { compileWitnessPolicy } from "../../client/witness-policy.js";
import { toBase64 } from "../../core/bytes.js";
import { chainKey, checkLookup, decodeChainHead } from "../../core/chain-index.js";
import { generateSignerKey } from "../../core/note-keys.js";
import { foldSubchain } from "../../core/subchain.js";
import type { Database } from "../../node/db.js";
import { historyBundle } from "../../server/routes/history.js";
import type { Sequencer } from "../../server/sequencer.js";
import { LogStore } from "../../server/storage/log-store.js";
import { admin, delegate, History, testKey } from "../helpers/events.js";
import {
  createTestLogDatabase,
  items,
  startSequencer,
  TEST_ORIGIN,
  type TestLogDatabase,
} from "../helpers/log-harness.js";

const root = testKey("replica-root");
const bridge = testKey("replica-bridge");
const root2 = testKey("replica-root-2");

describe("a read replica's lookup proofs", () => {
  let tdb: TestLogDatabase;
  let leaderDb: Database;
  let replicaDb: Database;
  let sequencer: Sequencer;
  let leader: LogStore;
  const h = new History({ start: Math.floor(Date.now() / 1000) });
  // The client side: the log key as a vkey, no witness policy (these checkpoints are unwitnessed).
  let vkey: string;

  beforeAll(async () => {
    tdb = await createTestLogDatabase("postgres");
    leaderDb = await tdb.open();
    replicaDb = await tdb.open();
    const started = await startSequencer(leaderDb, { history: h });
    sequencer = started.sequencer;
    leader = started.store;
    // The harness's log key (testSigner): seed 42 under TEST_ORIGIN.
    vkey = generateSignerKey(TEST_ORIGIN, new Uint8Array(32).fill(42)).vkey;
  }, 60_000);

  afterAll(async () => {
    await sequencer?.stop();
    await leaderDb?.close();
    await replicaDb?.close();
    await tdb?.drop();
  });

  const submit = async (...envs: ReturnType<History["orgCreate"]>[]) => {
    for (const e of envs) h.append(e);
    const rs = await sequencer.submit(items(...envs));
    for (const r of rs) if ("error" in r) throw r.error;
  };

  const bundleOf = async (store: LogStore, account: string) => {
    const b = (await historyBundle(store, "acme", account)) as unknown as Parameters<typeof verifyBundle>[0];
    return b;
  };

  it("answers exactly as the leader, and catches up as the log grows", async () => {
    await submit(h.orgCreate("acme", { admins: [root] }));
    await submit(
      h.grantIssue(
        "acme",
        { id: "scim", delegate: bridge, ops: ["account.invite", "account.suspend"] },
        admin(root),
      ),
    );
    await submit(
      h.invite("acme", "alice", delegate(bridge, "scim")),
      h.invite("acme", "bob", delegate(bridge, "scim")),
    );
    const replica = new LogStore(replicaDb);
    const policy = compileWitnessPolicy({ witnesses: [], quorum: 0 });
    const verify = (b: Parameters<typeof verifyBundle>[0], account: string) =>
      verifyBundle(b, { log: { vkey }, witnesses: policy, org: "acme", account });

    for (let round = 0; round < 3; round++) {
      const fromLeader = await bundleOf(leader, "alice");
      const fromReplica = await bundleOf(replica, "alice");
      expect(JSON.stringify(fromReplica)).toBe(JSON.stringify(fromLeader));
      const verified = verify(fromReplica, "alice");
      expect(verified.account?.status).toBe(round === 0 ? "invited" : "suspended");
      // An absent account is proved absent by the replica too.
      const size = verified.checkpoint.size;
      const trie = await replica.chainIndex.at(size);
      expect(trie.get(chainKey("account", "acme", "carol"))).toBeUndefined();
      const head = decodeChainHead(trie.get(chainKey("account", "acme", "bob"))!);
      expect(head.seq).toBe(round === 2 ? 1 : 0);
      const lookup = fromReplica.lookup;
      checkLookup(verified.checkpoint, lookup, [
        { kind: "authority", org: "acme", claimed: foldSubchain(verified.authorityEvents) },
        {
          kind: "grant",
          org: "acme",
          grant: "scim",
          claimed: foldSubchain(verified.grantEvents.get("scim")!),
        },
      ]);
      // The log grows between rounds: the replica catches up from the entries, org events too
      // (their sub-chains extend what the replica's trie already holds: core/subchain.ts).
      if (round === 0) {
        await submit(h.suspend("acme", "alice", delegate(bridge, "scim")));
        await submit(
          h.grantIssue("acme", { id: "scim-2", delegate: bridge, ops: ["account.suspend"] }, admin(root)),
        );
        await submit(h.adminAdd("acme", root2, admin(root)));
      }
      if (round === 1) {
        await submit(h.suspend("acme", "bob", delegate(bridge, "scim")));
        await submit(h.grantRevoke("acme", "scim-2", admin(root)));
        await submit(h.adminRemove("acme", root2, admin(root)));
      }
    }
    expect(toBase64((await replica.chainIndex.at(await leader.treeSize())).root())).toBe(
      toBase64((await leader.chainIndex.at(await leader.treeSize())).root()),
    );
  }, 60_000);
});
