// add-checkpoint latency and throughput of a real witness process on PostgreSQL.
//
//   npx tsx bench/witness.ts [--logs 50] [--seconds 8] [--runs 3] [--connections N]
//
// Each run starts `trustlog witness serve` on a fresh database with `--logs` logs, then keeps
// one request in flight per log (each log growing by 1-3 leaves per checkpoint, so every
// request verifies a log signature and a consistency proof, writes the new state with the
// conditional UPDATE and cosigns). Reports p50/p99 latency and cosignatures/s; the summary
// is the median of the runs. Goals (DESIGN): p99 < 25 ms, >= 1,000 cosignatures/s.

import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { useNativeEd25519 } from "../node/ed25519-native.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { freePort, spawnWitness } from "../test/helpers/process.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "../test/witness/helpers.js";
import { formatAddCheckpoint } from "../witness/witness.js";

const { values } = parseArgs({
  options: {
    logs: { type: "string", default: "50" },
    seconds: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    perLog: { type: "string", default: "" },
    connections: { type: "string", default: "" },
  },
});
const LOGS = Number(values.logs);
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
// Requests in flight (default one per log). Fewer connections than logs measure latency without
// queueing behind 50 concurrent requests; every request then goes to a free log.
const CONNECTIONS = Math.min(Number(values.connections || LOGS), LOGS);
const PER_LOG = Number(values.perLog || Math.ceil((2000 * SECONDS) / LOGS) + 40);

useNativeEd25519();

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
  const t0 = performance.now();
  const { logs, bodies } = await prepare(run);
  process.stderr.write(
    `run ${run}: prepared ${LOGS}x${PER_LOG} checkpoints in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
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
  // autocannon rather than fetch: the load generator shares the machine and must stay cheap.
  // A log is claimed by one connection per request (autocannon resets per-connection context
  // after each request, so claims live here) and its checkpoints go out in order.
  const free: number[] = [];
  let cosigned = 0;
  let failed = 0;
  let fillers = 0;
  const next: number[] = bodies.map(() => 0);
  const request = {
    method: "POST" as const,
    path: "/add-checkpoint",
    setupRequest: (req: autocannon.Request, context: Record<string, number>) => {
      const log = free.shift();
      context.log = log ?? -1;
      // autocannon may build a request for a connection before the previous answer came back;
      // then no log is free and a harmless GET keeps the connection busy (not counted).
      if (log === undefined)
        return { ...req, method: "GET", path: "/healthz", body: "" } as autocannon.Request;
      return { ...req, method: "POST", path: "/add-checkpoint", body: bodies[log]![next[log]!]! };
    },
    onResponse: (status: number, _body: string, context: Record<string, number>) => {
      const log = context.log!;
      if (log < 0) {
        fillers++;
        return;
      }
      if (status === 200) {
        next[log]!++;
        cosigned++;
      } else failed++;
      free.push(log);
    },
  };
  process.stderr.write(`run ${run}: witness at ${w.url}\n`);
  // Warm-up: the first 20 checkpoints of each log, sent in order, outside the measurement.
  await Promise.all(
    bodies.map(async (list) => {
      for (const body of list.slice(0, 20)) {
        const res = await fetch(`${w.url}/add-checkpoint`, { method: "POST", body });
        if (res.status !== 200) throw new Error(`warm-up: HTTP ${res.status}: ${await res.text()}`);
      }
    }),
  );
  for (let i = 0; i < LOGS; i++) {
    next[i] = 20;
    free.push(i);
  }
  const result = await autocannon({
    url: w.url,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: SECONDS,
    requests: [request as never],
  });
  await w.stop();
  await db.drop();
  const ok = cosigned;
  const r = {
    p50: result.latency.p50,
    p99: result.latency.p99,
    perSecond: ok / result.duration,
    requests: ok,
    errors: failed + result.errors,
  };
  console.log(
    `run ${run}: ${ok} cosignatures in ${result.duration.toFixed(1)} s = ${r.perSecond.toFixed(0)}/s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}, idle fillers ${fillers}`,
  );
  return r;
}

const results = [];
for (let i = 0; i < RUNS; i++) results.push(await runOnce(i));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `median of ${RUNS} runs, ${LOGS} logs, ${CONNECTIONS} in flight: p50 ${median(results.map((r) => r.p50)).toFixed(2)} ms, p99 ${median(results.map((r) => r.p99)).toFixed(2)} ms, ${median(results.map((r) => r.perSecond)).toFixed(0)} cosignatures/s`,
);
