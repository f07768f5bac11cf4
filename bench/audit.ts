// audit over a generated log of ≥ 100,000 events (org, grant, then invites and first keys of
// 50,000 accounts, in batches of 100 each closed by its index leaf as the log writes them),
// served from memory so the figure is the auditor's own work: entry bundles decoded, leaf hashes
// checked against the hash tiles, every event replayed through the policy (signatures included),
// every index leaf recomputed and the tree rebuilt. Uses the native Ed25519 back end, as the CLI.
//   npx tsx bench/audit.ts [events]

import { sha256 } from "@noble/hashes/sha2.js";
import { audit } from "../client/audit.js";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../core/event-build.js";
import { inviteKeyFromSecret } from "../core/invite.js";
import { ADMIN, DELEGATE, MemoryLog, pub, T0 } from "../test/helpers/memory-log.js";

// The log the tests use (test/helpers/memory-log.ts): its index leaves are core's, sub-chains
// included, so the audit judges exactly what the sequencer would have written.
const target = Number(process.argv[2] ?? 100_000);
const log = new MemoryLog({ witnesses: 0 });
let inBatch = 0;
let entries = 0; // log.size would seal the batch
const add = (e: Parameters<MemoryLog["append"]>[0]) => {
  const r = log.append(e);
  entries++;
  if (++inBatch === 100) {
    log.seal();
    entries++;
    inBatch = 0;
  }
  return r;
};

let t = performance.now();
const org = add(
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
      prev: org.leafHash,
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
for (let a = 0; entries < target; a++) {
  const secret = sha256(new TextEncoder().encode(`secret ${a}`));
  const seed = sha256(new TextEncoder().encode(`key ${a}`));
  const subject = `user${a}`;
  const invited = add(
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
        prev: invited.leafHash,
        time: T0 + 3,
        actor: { role: "self", key: k },
        key: { id: "k1", alg: "ed25519", use: "sign", pub: k },
      }),
      [seed, inviteKeyFromSecret(secret).seed],
    ),
  );
}
const size = log.size; // seals the last batch
console.log(`generated ${size} entries in ${((performance.now() - t) / 1000).toFixed(1)} s`);

t = performance.now();
const r = await audit({ log: { url: "memory:", vkey: log.vkey }, source: log });
if (r.violations.length > 0)
  throw new Error(`unexpected violations: ${JSON.stringify(r.violations.slice(0, 3))}`);
console.log(
  `audit: ${r.entries} entries (${r.events} events, ${r.indexLeaves} index leaves, ${r.orgs} org) in ${r.seconds.toFixed(1)} s: ${Math.round(r.events / r.seconds)} events/s (native Ed25519)`,
);
