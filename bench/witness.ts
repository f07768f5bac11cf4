// add-checkpoint latency and throughput of a real witness process on PostgreSQL, with group
// commit and against its ceiling, in the same run.
//
//   npx tsx bench/witness.ts [--logs 50] [--seconds 8] [--runs 3] [--connections N]
//                            [--verify-threads N]
//
// Each run starts `trustlog witness serve` on a fresh database with `--logs` logs, then keeps
// one request in flight per connection, each on a log no other request holds (each log growing
// by 1-3 leaves per checkpoint, so every request verifies a log signature and a consistency
// proof, moves the state with a compare-and-swap and cosigns). It does so twice per run, in
// alternating order:
//   - "each": the witness configured with `groupCommit: false` (config field, or
//     TRUSTLOG_WITNESS_GROUP_COMMIT=0): one durable commit per cosignature, each request in its
//     own transaction, concurrently (the witness before group commit; issue 13's baseline);
//   - "group": group commit (witness/group-commit.ts, the default): the state moves of
//     requests that arrive while a commit is in flight share the next commit.
// Reports, per mode, cosignatures/s, p50/p99 latency, the mean commit group size (from the
// witness's /metrics), the CPU time per cosignature of the witness, of PostgreSQL (all its
// processes) and of the whole machine, the medians of the runs, and the ratio group/each. The
// load average is printed with them: the figures are only comparable within one run. Goal (issue 13): group
// commit >= 2,000 cosignatures/s with p99 < 25 ms.

import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { formatAddCheckpoint } from "../core/witness-protocol.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { commandCpuMs, cpuMs, freePort, machineCpuMs, spawnWitness } from "../test/helpers/process.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "../test/witness/helpers.js";

const { values } = parseArgs({
  options: {
    logs: { type: "string", default: "50" },
    seconds: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    perLog: { type: "string", default: "" },
    connections: { type: "string", default: "" },
    /** The witness's verifyThreads (default: its own default, 1); 0 verifies on the event loop. */
    "verify-threads": { type: "string", default: "" },
  },
});
const LOGS = Number(values.logs);
const SECONDS = Number(values.seconds);
const RUNS = Number(values.runs);
// Requests in flight (default one per log). Fewer connections than logs measure latency without
// queueing behind 50 concurrent requests; every request then goes to a free log.
const CONNECTIONS = Math.min(Number(values.connections || LOGS), LOGS);
const WARM_UP = 20;
const PER_LOG = Number(values.perLog || Math.ceil((4000 * SECONDS) / LOGS) + WARM_UP + 20);

// Extra environment of the witness processes, e.g. BENCH_WITNESS_NODE_OPTIONS="--require ./p.cjs"
// to load a profiler (node refuses --cpu-prof in NODE_OPTIONS).
const WITNESS_ENV: Record<string, string> = process.env.BENCH_WITNESS_NODE_OPTIONS
  ? { NODE_OPTIONS: process.env.BENCH_WITNESS_NODE_OPTIONS }
  : {};

type Mode = "each" | "group";

interface Result {
  mode: Mode;
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
  meanGroup: number;
  /** The witness process's CPU time (user + system) per cosignature, in microseconds. */
  cpuMicros: number;
  /** PostgreSQL's (all its processes), and the whole machine's, per cosignature. */
  postgresMicros: number;
  machineMicros: number;
}

/** CPU seconds (user + system) a process used so far; NaN without /proc. */
function cpuSeconds(pid: number | undefined): number {
  return (cpuMs(pid) ?? Number.NaN) / 1000;
}

async function prepare(): Promise<{ logs: TestLog[]; bodies: string[][] }> {
  const logs: TestLog[] = [];
  const bodies: string[][] = [];
  for (let i = 0; i < LOGS; i++) {
    const log = new TestLog(`bench.example/log${i}`, 100 + i);
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

async function measure(run: number, mode: Mode, logs: TestLog[], bodies: string[][]): Promise<Result> {
  const db = await createTestDatabase("witness_bench");
  const dir = tempDir();
  const cfg = witnessConfig({
    dir,
    key: witnessKey("bench-witness", 99),
    logs: logs.map((l) => ({ origin: l.origin, vkeys: [l.vkey] })),
    databaseUrl: db.url,
    port: await freePort(),
  });
  const threads = values["verify-threads"] ? { verifyThreads: Number(values["verify-threads"]) } : {};
  const w = await spawnWitness(
    dir,
    { ...cfg, ...threads, groupCommit: mode === "group" },
    { env: WITNESS_ENV },
  );
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
      // A log whose prepared checkpoints ran out stays claimed (raise --perLog if it happens).
      if (next[log]! < bodies[log]!.length) free.push(log);
    },
  };
  // Warm-up: the first checkpoints of each log, sent in order, outside the measurement.
  await Promise.all(
    bodies.map(async (list) => {
      for (const body of list.slice(0, WARM_UP)) {
        const res = await fetch(`${w.url}/add-checkpoint`, { method: "POST", body });
        if (res.status !== 200) throw new Error(`warm-up: HTTP ${res.status}: ${await res.text()}`);
      }
    }),
  );
  for (let i = 0; i < LOGS; i++) {
    next[i] = WARM_UP;
    free.push(i);
  }
  const before = histogramMeanParts(await (await fetch(`${w.url}/metrics`)).text());
  const cpuBefore = cpuSeconds(w.child.pid);
  const pgBefore = commandCpuMs("postgres") ?? Number.NaN;
  const machineBefore = machineCpuMs()?.busy ?? Number.NaN;
  const result = await autocannon({
    url: w.url,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: SECONDS,
    requests: [request as never],
  });
  const cpu = cpuSeconds(w.child.pid) - cpuBefore;
  const pgMs = (commandCpuMs("postgres") ?? Number.NaN) - pgBefore;
  const machineMs = (machineCpuMs()?.busy ?? Number.NaN) - machineBefore;
  const after = histogramMeanParts(await (await fetch(`${w.url}/metrics`)).text());
  await w.stop();
  await db.drop();
  const groups = after.count - before.count;
  const r: Result = {
    mode,
    p50: result.latency.p50,
    p99: result.latency.p99,
    perSecond: cosigned / result.duration,
    errors: failed + result.errors,
    // "each" commits every request alone.
    meanGroup: mode === "each" ? 1 : groups > 0 ? (after.sum - before.sum) / groups : 0,
    cpuMicros: (cpu / cosigned) * 1e6,
    postgresMicros: (pgMs / cosigned) * 1e3,
    machineMicros: (machineMs / cosigned) * 1e3,
  };
  console.log(
    `run ${run} ${mode.padEnd(5)}: ${cosigned} cosignatures in ${result.duration.toFixed(1)} s = ${r.perSecond.toFixed(0)}/s, p50 ${r.p50} ms, p99 ${r.p99} ms, mean group ${r.meanGroup.toFixed(1)}, witness CPU ${r.cpuMicros.toFixed(0)} µs/cosignature (PostgreSQL ${r.postgresMicros.toFixed(0)}, machine ${r.machineMicros.toFixed(0)}), errors ${r.errors}, idle fillers ${fillers}, load ${loadavg()[0]!.toFixed(2)}`,
  );
  return r;
}

/** _sum and _count of the witness's commit group histogram. */
function histogramMeanParts(metrics: string): { sum: number; count: number } {
  const pick = (suffix: string) =>
    Number(new RegExp(`^witness_commit_group_size_${suffix} (\\S+)$`, "m").exec(metrics)?.[1] ?? 0);
  return { sum: pick("sum"), count: pick("count") };
}

const t0 = performance.now();
const { logs, bodies } = await prepare();
process.stderr.write(
  `prepared ${LOGS}x${PER_LOG} checkpoints in ${((performance.now() - t0) / 1000).toFixed(1)} s; load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}\n`,
);
const results: Result[] = [];
for (let run = 0; run < RUNS; run++) {
  // Alternating order, so a drift of the machine's speed during a run favours neither mode.
  const modes: Mode[] = run % 2 === 0 ? ["each", "group"] : ["group", "each"];
  for (const mode of modes) results.push(await measure(run, mode, logs, bodies));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (mode: Mode) => {
  const rs = results.filter((r) => r.mode === mode);
  return {
    perSecond: median(rs.map((r) => r.perSecond)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    meanGroup: median(rs.map((r) => r.meanGroup)),
    cpuMicros: median(rs.map((r) => r.cpuMicros)),
    postgresMicros: median(rs.map((r) => r.postgresMicros)),
    machineMicros: median(rs.map((r) => r.machineMicros)),
  };
};
const each = summary("each");
const group = summary("group");
const ratios = Array.from({ length: RUNS }, (_, run) => {
  const [e, g] = (["each", "group"] as const).map(
    (m) =>
      results.find((r) => r.mode === m && results.indexOf(r) >= 2 * run && results.indexOf(r) < 2 * run + 2)!,
  );
  return g!.perSecond / e!.perSecond;
});
console.log(
  `median of ${RUNS} runs, ${LOGS} logs, ${CONNECTIONS} in flight, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}:\n` +
    `  ceiling, one durable commit per cosignature: ${each.perSecond.toFixed(0)} cosignatures/s, p50 ${each.p50} ms, p99 ${each.p99} ms, witness CPU ${each.cpuMicros.toFixed(0)} µs/cosignature\n` +
    `  group commit: ${group.perSecond.toFixed(0)} cosignatures/s, p50 ${group.p50} ms, p99 ${group.p99} ms, mean group ${group.meanGroup.toFixed(1)}, witness CPU ${group.cpuMicros.toFixed(0)} µs/cosignature (${(1e6 / group.cpuMicros).toFixed(0)}/s per core), PostgreSQL ${group.postgresMicros.toFixed(0)} µs, machine ${group.machineMicros.toFixed(0)} µs\n` +
    `  ratio group/each: ${(group.perSecond / each.perSecond).toFixed(2)} (median of per-run ratios ${median(ratios).toFixed(2)}); goal >= 2,000/s with p99 < 25 ms: ${group.perSecond >= 2000 && group.p99 < 25 ? "met" : "not met"}`,
);
