// The auditing witness (witness/auditor.ts) as a separate process against a trustlog log served
// from memory over HTTP (test/witness/audit-fixture.ts: real signed events, index leaves as
// core computes them), on PostgreSQL:
//   1. catch-up: a new auditing witness replays a log of N entries from 0 (entry bundles fetched,
//      every event through the policy with native Ed25519, every index leaf recomputed, the tree
//      rebuilt, snapshots every 100,000 entries); figure: entries/s until it cosigns size N;
//   2. steady load: RATE events/s appended in batches every 100 ms (each closed by an index
//      leaf, as the sequencer does), each new checkpoint submitted like a log does; figure: the
//      cosignature delay (checkpoint signed → cosignature received), p50 and p99.
//   TEST_DATABASE_URL=postgres://… npx tsx bench/audit-witness.ts [entries] [events/s] [seconds]

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../core/note.js";
import { generateSignerKey } from "../core/note-keys.js";
import { formatAddCheckpoint } from "../core/witness-protocol.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { freePort, spawnWitness } from "../test/helpers/process.js";
import { AuditLog } from "../test/witness/audit-fixture.js";

const target = Number(process.argv[2] ?? 1_000_000);
const rate = Number(process.argv[3] ?? 1000);
const seconds = Number(process.argv[4] ?? 30);

const log = new AuditLog("bench.example/audited");
let t = performance.now();
log.genesis();
// Two events per account, batches of 100 events + their index leaf.
log.grow(Math.ceil((target - log.size) / 2.02), 100);
console.log(`generated ${log.size} entries in ${((performance.now() - t) / 1000).toFixed(1)} s`);
const served = await log.serve();
const db = await createTestDatabase("bench_audit_witness");
const dir = mkdtempSync(join(tmpdir(), "trustlog-bench-audit-"));
const { skey, vkey } = generateSignerKey(
  "bench-auditor",
  new Uint8Array(32).fill(77),
  NOTE_TYPE_COSIGNATURE_V1,
);
const { writeFileSync } = await import("node:fs");
writeFileSync(join(dir, "w.key"), `${skey}\n`, { mode: 0o600 });
const w = await spawnWitness(dir, {
  host: "127.0.0.1",
  port: await freePort(),
  keyFile: join(dir, "w.key"),
  databaseUrl: db.url,
  logs: [{ origin: log.origin, vkeys: [log.vkey], url: served.url, audit: true }],
  pullIntervalSeconds: 0,
  gossipIntervalSeconds: 0,
  auditWaitMs: 10_000,
  logLevel: "warn",
});
void vkey;

let cosigned = 0;
const add = async (size: number) => {
  const res = await fetch(`${w.url}/add-checkpoint`, {
    method: "POST",
    body: formatAddCheckpoint(cosigned, log.proof(cosigned, size), log.note(size)),
  });
  const text = await res.text();
  if (res.status === 200) cosigned = size;
  return { status: res.status, text };
};

try {
  // 1. Catch-up.
  t = performance.now();
  const size = log.size;
  for (;;) {
    const r = await add(size);
    if (r.status === 200) break;
    if (r.status !== 503) throw new Error(`add-checkpoint: ${r.status} ${r.text}`);
    const s = (
      (await (await fetch(`${w.url}/v1/audit`)).json()) as {
        replayedSize: number;
        entriesPerSecond: number;
      }[]
    )[0]!;
    process.stderr.write(`\r  audit ${s.replayedSize}/${size} (${s.entriesPerSecond} entries/s)   `);
  }
  const catchUp = (performance.now() - t) / 1000;
  console.log(
    `\ncatch-up: ${size} entries audited and cosigned in ${catchUp.toFixed(1)} s: ${Math.round(size / catchUp)} entries/s (native Ed25519, witness process, snapshots every 100,000 entries)`,
  );

  // 2. Steady load.
  const delays: number[] = [];
  const perTick = Math.max(1, Math.round(rate / 10));
  const started = performance.now();
  let appended = 0;
  const inFlight: Promise<void>[] = [];
  let queue = Promise.resolve();
  while (performance.now() - started < seconds * 1000) {
    const tick = performance.now();
    log.grow(Math.ceil(perTick / 2), perTick + 2);
    appended += perTick;
    const s = log.size;
    const signedAt = performance.now();
    // One request at a time, in order, as a log's collector does.
    queue = queue.then(async () => {
      const r = await add(s);
      if (r.status !== 200) throw new Error(`add-checkpoint ${s}: ${r.status} ${r.text}`);
      delays.push(performance.now() - signedAt);
    });
    inFlight.push(queue);
    const wait = 100 - (performance.now() - tick);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - started) / 1000;
  delays.sort((a, b) => a - b);
  const pct = (p: number) => delays[Math.min(delays.length - 1, Math.floor(delays.length * p))]!.toFixed(0);
  console.log(
    `steady: ${appended} events in ${elapsed.toFixed(1)} s (${Math.round(appended / elapsed)} events/s offered, one checkpoint per 100 ms); cosignature delay p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms over ${delays.length} checkpoints`,
  );
} finally {
  await w.stop("SIGTERM");
  await served.close();
  await db.drop();
}
