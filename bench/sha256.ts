// SHA-256 throughput of both back ends (core/sha256.ts): `npx tsx bench/sha256.ts`.
// The sizes are the log's: a tree node's preimage (65 bytes), an index-of-chain-heads leaf's
// (~70), and a leaf of the write path (an envelope of ~500 bytes, hashed twice per event).
// Prints the median of several runs per size, µs per hash, and the noble/native ratio.

import { randomBytes } from "node:crypto";
import { nobleSha256Digest } from "../core/sha256-noble.js";
import { nativeSha256 } from "../node/sha256-native.js";

const RUNS = 7;
const RUN_MS = 300;
const SIZES = [65, 500, 4096];

function microsPerHash(hash: (d: Uint8Array) => Uint8Array, inputs: Uint8Array[]): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < RUN_MS) {
    for (let i = 0; i < 64; i++) hash(inputs[n++ % inputs.length]!);
    now = performance.now();
  }
  return ((now - start) * 1000) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log("SHA-256, µs per hash (median of %d runs of %d ms)", RUNS, RUN_MS);
for (const size of SIZES) {
  const inputs = Array.from({ length: 256 }, () => new Uint8Array(randomBytes(size)));
  const noble: number[] = [];
  const native: number[] = [];
  // Alternating, so that a drift of the machine's speed falls on both alike.
  for (let r = 0; r < RUNS; r++) {
    noble.push(microsPerHash(nobleSha256Digest, inputs));
    native.push(microsPerHash(nativeSha256, inputs));
  }
  const a = median(noble);
  const b = median(native);
  console.log(
    `  ${String(size).padStart(5)} bytes: noble ${a.toFixed(2)} µs, node:crypto ${b.toFixed(2)} µs, ratio ${(a / b).toFixed(2)}`,
  );
}
