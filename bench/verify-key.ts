// verifyKey for an account with 10 events (plus its org's 2) and a 3-witness checkpoint, with
// the pure-JS @noble back end a browser would use, in a log whose index of chain heads holds
// `chains` other chains (default 10^6), so the lookup proofs have their real depth. Prints the
// median time and the lookup proof's size. Goal: median < 50 ms.
//   npx tsx bench/verify-key.ts [runs] [chains]

import { sha256 } from "@noble/hashes/sha2.js";
import { MemoryTrustStore } from "../client/trust-store.js";
import { verifyKey } from "../client/verify-key.js";
import { accountReactivate, accountSuspend, sealEvent } from "../core/event-build.js";
import { DELEGATE, MemoryLog, pub, standardHistory, T0 } from "../test/helpers/memory-log.js";

const runs = Number(process.argv[2] ?? 50);
const chains = Number(process.argv[3] ?? 1_000_000);
const log = new MemoryLog();
{
  const t = performance.now();
  const keys: Uint8Array[] = [];
  const seed = new Uint8Array(8);
  for (let i = 0; i < chains; i++) {
    new DataView(seed.buffer).setFloat64(0, i);
    keys.push(sha256(seed));
  }
  keys.sort(compareKeys);
  const value = new Uint8Array(48).fill(7);
  log.seedIndex(keys.map((k) => [k, value] as const));
  console.log(`index seeded with ${chains} chains in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
const ix = standardHistory(log);
let prev = ix.key;
for (let i = 0; i < 8; i++) {
  const build = i % 2 === 0 ? accountSuspend : accountReactivate;
  prev = log.append(
    sealEvent(
      build({
        org: "acme",
        subject: "alice",
        seq: 2 + i,
        prev: log.hash(prev),
        time: T0 + 100 + i,
        actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
        reason: "bench",
      }),
      [DELEGATE],
    ),
  ).index;
}
// Serve one prepared bundle, so the figure is the client's work alone.
const bundle = await log.accountProof("acme", "alice");
const proofBytes = (b64: string | undefined) => (b64 ? Buffer.from(b64, "base64").length : 0);
const lk = bundle.lookup;
console.log(
  `lookup proof: account trie proof ${proofBytes(lk.account)} B, org trie proof ${proofBytes(lk.org)} B, index leaf ${proofBytes(lk.leaf)} B + ${lk.inclusion.length} inclusion hashes; whole bundle ${JSON.stringify(bundle).length} B of JSON`,
);
const source = {
  accountProof: async () => bundle,
  orgProof: async () => bundle,
  consistency: async () => [],
};
const times: number[] = [];
for (let i = 0; i < runs + 3; i++) {
  const t = performance.now();
  const r = await verifyKey({
    log: { url: "memory:", vkey: log.vkey },
    witnesses: log.witnesses.map((w) => w.vkey),
    quorum: 3,
    org: "acme",
    account: "alice",
    store: new MemoryTrustStore(),
    source,
    now: () => T0 * 1000,
  });
  if (i >= 3) times.push(performance.now() - t); // the first runs warm the JIT
  if (r.events.length !== 12) throw new Error("unexpected history");
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
console.log(
  `verifyKey (10 account events, 2 org events, 3 witnesses, ${chains} chains in the index, noble): median ${median.toFixed(1)} ms, p90 ${times[Math.floor(times.length * 0.9)]!.toFixed(1)} ms over ${runs} runs`,
);

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
