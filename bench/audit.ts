// audit over a generated log of ≥ 100,000 events (org, grant, then invites and first keys of
// 50,000 accounts, in batches of 100 each closed by its index leaf as the log writes them),
// served from memory so the figure is the auditor's own work: entry bundles decoded, leaf hashes
// checked against the hash tiles, every event replayed through the policy (signatures included),
// every index leaf recomputed and the tree rebuilt. Uses the native Ed25519 back end, as the CLI.
//   npx tsx bench/audit.ts [events]

import { sha256 } from "@noble/hashes/sha2.js";
import { audit, type TileSource } from "../client/audit.js";
import { toBase64 } from "../core/bytes.js";
import { encodeChainHead, eventChainKey, formatIndexLeaf } from "../core/chain-index.js";
import { formatCheckpoint } from "../core/checkpoint.js";
import { ed25519 } from "../core/ed25519.js";
import { encodeEntryBundle } from "../core/entry-bundle.js";
import type { Envelope } from "../core/event.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../core/event-build.js";
import { inviteKeyFromSecret } from "../core/invite.js";
import { canonicalBytes } from "../core/jcs.js";
import { leafHash, memoryHashReader, rootHashSync } from "../core/merkle.js";
import { Trie } from "../core/mpt.js";
import { signNote } from "../core/note.js";
import { generateSignerKey, parseSignerKey } from "../core/note-keys.js";
import { TILE_WIDTH } from "../core/tile-paths.js";
import { useNativeEd25519 } from "../node/ed25519-native.js";
import { ADMIN, DELEGATE, pub, T0 } from "../test/helpers/memory-log.js";

useNativeEd25519();
const target = Number(process.argv[2] ?? 100_000);
const leaves: Uint8Array[] = [];
let trie = Trie.empty();
let batch: [Uint8Array, Uint8Array][] = [];
const add = (e: Envelope) => {
  const leaf = canonicalBytes(e);
  batch.push([
    eventChainKey(e.event),
    encodeChainHead({ seq: e.event.seq, index: leaves.length, leafHash: leafHash(leaf) }),
  ]);
  leaves.push(leaf);
  if (batch.length === 100) seal();
};
/** Closes a batch as the sequencer does: the index leaf over the chain heads so far. */
const seal = () => {
  if (batch.length === 0) return;
  trie = trie.setMany(batch);
  batch = [];
  leaves.push(formatIndexLeaf({ size: leaves.length, time: (T0 + 3) * 1000, root: trie.root() }));
};

let t = performance.now();
add(
  sealEvent(
    orgCreate({
      org: "acme",
      time: T0,
      actor: { role: "admin", key: pub(ADMIN) },
      name: "Acme",
      admins: [pub(ADMIN)],
      threshold: 1,
    }),
    [ADMIN],
  ),
);
add(
  sealEvent(
    grantIssue({
      org: "acme",
      seq: 1,
      prev: leafHash(leaves[0]!),
      time: T0 + 1,
      actor: { role: "admin", key: pub(ADMIN) },
      id: "scim",
      delegate: pub(DELEGATE),
      ops: ["account.invite", "account.suspend"],
      accounts: ["*"],
      notBefore: T0,
      notAfter: T0 + 10 * 86_400,
      note: "bench",
    }),
    [ADMIN],
  ),
);
for (let a = 0; leaves.length < target; a++) {
  const secret = sha256(new TextEncoder().encode(`secret ${a}`));
  const seed = sha256(new TextEncoder().encode(`key ${a}`));
  const subject = `user${a}`;
  add(
    sealEvent(
      accountInvite({
        org: "acme",
        subject,
        time: T0 + 2,
        actor: { role: "delegate", key: pub(DELEGATE), grant: "scim" },
        inviteSecret: secret,
      }),
      [DELEGATE],
    ),
  );
  const k = toBase64(ed25519().publicKey(seed));
  add(
    sealEvent(
      keyAdd({
        org: "acme",
        subject,
        seq: 1,
        prev: leafHash(leaves[leaves.length - 1]!),
        time: T0 + 3,
        actor: { role: "self", key: k },
        key: { id: "k1", alg: "ed25519", use: "sign", pub: k },
      }),
      [seed, inviteKeyFromSecret(secret).seed],
    ),
  );
}
seal();
const size = leaves.length;
const hashes = leaves.map(leafHash);
const root = rootHashSync(size, memoryHashReader(hashes));
const { skey, vkey } = generateSignerKey("bench.example/log", new Uint8Array(32).fill(9));
const note = signNote(formatCheckpoint({ origin: "bench.example/log", size, root, extensions: [] }), [
  parseSignerKey(skey),
]);
console.log(`generated ${size} events in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const source: TileSource = {
  checkpoint: async () => note,
  tile: async (tile) => {
    const out = new Uint8Array(tile.width * 32);
    for (let i = 0; i < tile.width; i++) out.set(hashes[tile.index * TILE_WIDTH + i]!, i * 32);
    return out;
  },
  entryBundle: async (n, width) => encodeEntryBundle(leaves.slice(n * TILE_WIDTH, n * TILE_WIDTH + width)),
  consistency: async () => [],
};
t = performance.now();
const r = await audit({ log: { url: "memory:", vkey }, source });
if (r.violations.length > 0)
  throw new Error(`unexpected violations: ${JSON.stringify(r.violations.slice(0, 3))}`);
console.log(
  `audit: ${r.entries} entries (${r.events} events, ${r.indexLeaves} index leaves, ${r.orgs} org) in ${r.seconds.toFixed(1)} s: ${Math.round(r.events / r.seconds)} events/s (native Ed25519)`,
);
