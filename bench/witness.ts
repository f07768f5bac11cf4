// add-checkpoint latency and throughput of a real witness process on PostgreSQL.
//
//   npx tsx bench/witness.ts [--logs 50] [--seconds 8] [--runs 3]
//
// Each run starts `trustlog witness serve` on a fresh database with `--logs` logs, then keeps
// one request in flight per log (each log growing by 1-3 leaves per checkpoint, so every
// request verifies a log signature and a consistency proof, writes the new state with the
// conditional UPDATE and cosigns). Reports p50/p99 latency and cosignatures/s; the summary
// is the median of the runs. Goals (DESIGN): p99 < 25 ms, >= 1,000 cosignatures/s.

import { parseArgs } from "node:util";
import { useNativeEd25519 } from "../node/ed25519-native.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "../test/witness/helpers.js";
import { freePort, spawnWitness } from "../test/witness/process.js";
import { formatAddCheckpoint } from "../witness/witness.js";

const { values } = parseArgs({
  options: {
    logs: { type: "string", default: "50" },
    seconds: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    perLog: { type: "string", default: "" },
  },
});
const LOGS = Number(values.logs);
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
const PER_LOG = Number(values.perLog || Math.ceil((2500 * SECONDS) / LOGS) + 50);

useNativeEd25519();

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function prepare(run: number): Promise<{ logs: TestLog[]; bodies: string[][] }> {
  const logs: TestLog[] = [];
  const bodies: string[][] = [];
  for (let i = 0; i < LOGS; i++) {
    const log = new TestLog(`bench.example/run${run}/log${i}`, 100 + i);
    const list: string[] = [];
    let old = 0;
    for (let j = 0; j < PER_LOG; j++) {
      log.append(1 + (j % 3));
      list.push(formatAddCheckpoint(old, await log.proof(old), await log.note()));
      old = log.size;
    }
    logs.push(log);
    bodies.push(list);
  }
  return { logs, bodies };
}

async function runOnce(run: number) {
  const { logs, bodies } = await prepare(run);
  const db = await createTestDatabase("witness_bench");
  const dir = tempDir();
  const cfg = witnessConfig({
    dir,
    key: witnessKey("bench-witness", 99),
    logs: logs.map((l) => ({ origin: l.origin, vkeys: [l.vkey] })),
    databaseUrl: db.url,
    port: await freePort(),
  });
  const w = await spawnWitness(dir, cfg);
  const latencies: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const worker = async (i: number) => {
    for (const body of bodies[i]!) {
      if (stop) return;
      const t0 = performance.now();
      const res = await fetch(`${w.url}/add-checkpoint`, { method: "POST", body });
      await res.text();
      const dt = performance.now() - t0;
      if (res.status !== 200) errors++;
      else if (measuring) latencies.push(dt);
    }
  };
  const workers = bodies.map((_, i) => worker(i));
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  await w.stop();
  await db.drop();
  latencies.sort((a, b) => a - b);
  const r = {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    perSecond: latencies.length / elapsed,
    requests: latencies.length,
    errors,
  };
  console.log(
    `run ${run}: ${r.requests} cosignatures in ${elapsed.toFixed(1)} s = ${r.perSecond.toFixed(0)}/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${errors}${latencies.length < 10 ? " (too few samples)" : ""}`,
  );
  return r;
}

const results = [];
for (let i = 0; i < RUNS; i++) results.push(await runOnce(i));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `median of ${RUNS} runs, ${LOGS} logs: p50 ${median(results.map((r) => r.p50)).toFixed(2)} ms, p99 ${median(results.map((r) => r.p99)).toFixed(2)} ms, ${median(results.map((r) => r.perSecond)).toFixed(0)} cosignatures/s`,
);
