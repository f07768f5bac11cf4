// Benchmarks of the chain-head index (core/mpt.ts) at the log server's scale:
//   npx tsx --expose-gc bench/mpt.ts [chains=1000000] [runs=15]
// Keys are 32-byte pseudo-random hashes and values 48 bytes, as trustlog stores them. Each time
// is the median of `runs` runs (with the best run for batches); the machine is shared, so read
// them as rough: on a loaded 2-core machine the medians can be several times the best runs.

import { sha256 } from "@noble/hashes/sha2.js";
import { decodeTrieProof, encodeTrieProof, Trie, verifyTrieProof } from "../core/mpt.js";

const N = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 15);
const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  if (gc === undefined) return Number.NaN;
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// Deterministic pseudo-random bytes (xorshift32), so runs are comparable; no Math.random.
let seed = 0x2545f491;
function fill(buf: Uint8Array): Uint8Array {
  for (let i = 0; i < buf.length; i += 4) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    buf[i] = seed;
    buf[i + 1] = seed >>> 8;
    buf[i + 2] = seed >>> 16;
    buf[i + 3] = seed >>> 24;
  }
  return buf;
}
const randomKey = () => fill(new Uint8Array(32));
const value = (seq: number) => {
  const v = fill(new Uint8Array(48));
  new DataView(v.buffer).setBigUint64(0, BigInt(seq));
  return v;
};

const rows: [string, string][] = [];
function row(label: string, v: string): void {
  rows.push([label, v]);
  console.log(`${label.padEnd(44)} ${v}`);
}
const ms = (x: number) => `${x.toFixed(x < 10 ? 3 : 1)} ms`;

console.log(`chain-head index: ${N.toLocaleString("en-US")} chains, median of ${RUNS} runs\n`);

const entries: [Uint8Array, Uint8Array][] = [];
for (let i = 0; i < N; i++) entries.push([randomKey(), value(i)]);
entries.sort((a, b) => Buffer.compare(a[0], b[0]));

const before = heapUsed();
let t0 = performance.now();
const trie = Trie.fromSorted(entries);
const buildMs = performance.now() - t0;
const after = heapUsed();
row("fromSorted", `${ms(buildMs)} (${Math.round(N / (buildMs / 1000)).toLocaleString("en-US")} chains/s)`);
row("heap per chain (gc before/after)", `${((after - before) / N).toFixed(1)} bytes`);

// Batches after a log batch: mostly chains that move on, some new chains.
function batch(n: number): [Uint8Array, Uint8Array][] {
  const out: [Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < n; i++) {
    const existing = i % 10 !== 0;
    const key = existing ? entries[(seed >>> 0) % N]![0] : randomKey();
    out.push([key, value(N + i)]);
  }
  return out;
}
for (let r = 0; r < 5; r++) trie.setMany(batch(100)); // warm-up, and let the GC settle after the heap probe
for (const n of [100, 1000]) {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const b = batch(n);
    t0 = performance.now();
    trie.setMany(b).root();
    times.push(performance.now() - t0);
  }
  row(`setMany(${n}) + root()`, `${ms(median(times))} (best ${ms(Math.min(...times))})`);
}

// Proofs for present and absent keys.
const root = trie.root();
const proveTimes: number[] = [];
const verifyTimes: number[] = [];
const presentSizes: number[] = [];
const absentSizes: number[] = [];
const depths: number[] = [];
for (let r = 0; r < Math.max(RUNS, 1000); r++) {
  const present = r % 2 === 0;
  const [key, v] = present ? entries[(seed >>> 0) % N]! : [randomKey(), undefined];
  fill(new Uint8Array(4));
  t0 = performance.now();
  const proof = trie.prove(key);
  proveTimes.push(performance.now() - t0);
  const encoded = encodeTrieProof(proof);
  (present ? presentSizes : absentSizes).push(encoded.length);
  depths.push(proof.steps.length);
  t0 = performance.now();
  verifyTrieProof(root, key, v, decodeTrieProof(encoded));
  verifyTimes.push(performance.now() - t0);
}
row("prove()", ms(median(proveTimes)));
row("decodeTrieProof + verifyTrieProof", ms(median(verifyTimes)));
row("encoded proof, present key", `${median(presentSizes)} bytes (median)`);
row("encoded proof, absent key", `${median(absentSizes)} bytes (median)`);
row("path length", `${median(depths)} steps (median), ${Math.max(...depths)} max`);

// For comparison: the cost of the hash function itself.
const buf = new Uint8Array(67);
t0 = performance.now();
for (let i = 0; i < 100_000; i++) sha256(buf);
row("one SHA-256 (noble, 67 bytes)", `${((performance.now() - t0) * 10).toFixed(0)} ns`);
