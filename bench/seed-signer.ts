// A worker thread for bench/seed-tree.ts: it builds, signs and parses the seed's invites so
// that the sequencer's thread spends its time sequencing. One message asks for `n` invites
// from subject number `from`; the answer carries them ready for Sequencer.submit.

import { randomBytes } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { parseEnvelope } from "../core/event.js";
import { accountInvite, sealEvent } from "../core/event-build.js";

export interface SignerData {
  org: string;
  /** The admin's seed, base64. */
  seed: string;
  adminPub: string;
  now: number;
}

const d = workerData as SignerData;
const seed = fromBase64(d.seed);
const actor = { role: "admin" as const, key: d.adminPub };
parentPort!.on("message", ({ id, from, n }: { id: number; from: number; n: number }) => {
  const items = Array.from({ length: n }, (_, i) => {
    const env = sealEvent(
      accountInvite({
        org: d.org,
        subject: `u${from + i}`,
        time: d.now,
        actor,
        inviteKey: toBase64(randomBytes(32)),
      }),
      [seed],
    );
    const p = parseEnvelope(env);
    return { envelope: p.envelope, leaf: p.leaf, leafHash: p.leafHash };
  });
  parentPort!.postMessage({ id, items });
});
