// Merkle benchmarks on a ~1,000,000-leaf tree: `npx tsx bench/merkle.ts`.
// Each figure is the median of several runs; the machine is shared, so read them as rough.

import { leafHash, memoryHashReader, rootHashSync } from "../core/merkle.js";
import {
  checkConsistency,
  checkInclusion,
  proveConsistency,
  proveConsistencySync,
  proveInclusion,
  proveInclusionSync,
} from "../core/proof.js";
import { appendLeaves } from "../core/tile-append.js";
import { tilePath } from "../core/tile-paths.js";
import { TileCache, tileHashReader } from "../core/tile-reader.js";

const SIZE = 1 << 20;
const RUNS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs `body` (which performs `ops` operations) RUNS times and reports the median rate. */
async function rate(label: string, ops: number, body: (run: number) => unknown): Promise<number> {
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    await body(run);
    rates.push(ops / ((performance.now() - t0) / 1000));
  }
  const r = median(rates);
  console.log(`${label.padEnd(52)} ${Math.round(r).toLocaleString("en-US").padStart(12)} /s`);
  return r;
}

// Deterministic pseudo-random indices without Math.random, so runs are comparable.
function* indices(n: number, max: number, seed: number): Generator<number> {
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    yield x % max;
  }
}

const entry = new Uint8Array(300);
const leaves: Uint8Array[] = new Array(SIZE);
console.log(`tree of ${SIZE.toLocaleString("en-US")} leaves (300-byte entries), median of ${RUNS} runs\n`);

await rate("leaf hashes (300-byte entries)", SIZE / 4, (run) => {
  for (let i = 0; i < SIZE / 4; i++) {
    entry[0] = i & 0xff;
    entry[1] = (i >>> 8) & 0xff;
    entry[2] = (i >>> 16) & 0xff;
    entry[3] = run;
    leafHash(entry);
  }
});
for (let i = 0; i < SIZE; i++) {
  entry[0] = i & 0xff;
  entry[1] = (i >>> 8) & 0xff;
  entry[2] = (i >>> 16) & 0xff;
  leaves[i] = leafHash(entry);
}

let t0 = performance.now();
const tree = memoryHashReader(leaves);
console.log(
  `${"memoryHashReader build (leaves/s)".padEnd(52)} ${Math.round(SIZE / ((performance.now() - t0) / 1000))
    .toLocaleString("en-US")
    .padStart(12)} /s`,
);

// The server's write path: appendLeaves in batches of 1,000 over a tile store.
const tiles = new Map<string, Uint8Array>();
t0 = performance.now();
let size = 0;
let root: Uint8Array = new Uint8Array();
for (let i = 0; i < SIZE; i += 1000) {
  const batch = leaves.slice(i, Math.min(SIZE, i + 1000));
  const result = appendLeaves(size, (t) => tiles.get(tilePath(t)), batch);
  for (const { tile, data } of result.tiles) tiles.set(tilePath(tile), data);
  size = result.size;
  root = result.root;
}
console.log(
  `${"appendLeaves, batches of 1,000 (leaves/s)".padEnd(52)} ${Math.round(
    SIZE / ((performance.now() - t0) / 1000),
  )
    .toLocaleString("en-US")
    .padStart(12)} /s`,
);
if (!rootHashSync(SIZE, tree).every((b, i) => b === root[i]))
  throw new Error("tile root differs from memory root");

const N = 20_000;
const inclusion = [...indices(N, SIZE, 1)].map((i) => ({ i, proof: proveInclusionSync(i, SIZE, tree) }));
const rootNow = rootHashSync(SIZE, tree);
await rate("inclusion proofs made (memory reader, sync)", N, (run) => {
  for (const i of indices(N, SIZE, run + 2)) proveInclusionSync(i, SIZE, tree);
});
await rate("inclusion proofs made (memory reader, async)", N, async (run) => {
  for (const i of indices(N, SIZE, run + 2)) await proveInclusion(i, SIZE, tree);
});
await rate("inclusion proofs verified", N, () => {
  for (const { i, proof } of inclusion) checkInclusion(leaves[i]!, i, SIZE, proof, rootNow);
});

const pairs = [...indices(N, SIZE - 1, 7)].map((m) => {
  const old = m + 1;
  return { old, oldRoot: rootHashSync(old, tree), proof: proveConsistencySync(old, SIZE, tree) };
});
await rate("consistency proofs made (memory reader, async)", N, async (run) => {
  for (const m of indices(N, SIZE - 1, run + 9)) await proveConsistency(m + 1, SIZE, tree);
});
await rate("consistency proofs verified", N, () => {
  for (const { old, oldRoot, proof } of pairs) checkConsistency(old, SIZE, oldRoot, rootNow, proof);
});

// The read path over tiles: each proof fetches its tiles (here from a Map) and hashes them up.
const fromTiles = tileHashReader(async (t) => tiles.get(tilePath(t))!, SIZE);
const M = 2_000;
await rate("inclusion proofs made from tiles", M, async (run) => {
  for (const i of indices(M, SIZE, run + 20)) await proveInclusion(i, SIZE, fromTiles);
});
await rate("consistency proofs made from tiles", M, async (run) => {
  for (const m of indices(M, SIZE - 1, run + 30)) await proveConsistency(m + 1, SIZE, fromTiles);
});

// With a TileCache shared across requests, as a server would keep one (4,096 tiles, ~70 MiB).
const cache = new TileCache(4096);
const cached = tileHashReader(async (t) => tiles.get(tilePath(t))!, SIZE, cache);
await rate("inclusion proofs made from tiles, shared TileCache", N, async (run) => {
  for (const i of indices(N, SIZE, run + 40)) await proveInclusion(i, SIZE, cached);
});
await rate("consistency proofs made from tiles, shared TileCache", N, async (run) => {
  for (const m of indices(N, SIZE - 1, run + 50)) await proveConsistency(m + 1, SIZE, cached);
});
