// What autocannon spends per response body, the client-side bound of `bench/read.ts`'s tiles:
// `npx tsx bench/body-decode.ts`.
//
// autocannon appends every body it receives to a string (`req.body += data` in its
// lib/pipelinedRequestsQueue.js), so each 8 KiB tile is decoded as UTF-8. A tile is 256 random
// SHA-256 hashes: invalid UTF-8 everywhere, the decoder's slow, branchy path. Decoding the same
// bytes again and again lets the CPU's branch predictor learn them; decoding distinct tiles does
// not. This prints both, as the median of several runs, and their ratio: the reason read.ts's
// ceiling serves the same tiles as the log rather than one tile for every request.

import { randomBytes } from "node:crypto";

const RUNS = 5;
const DECODES = 5000;
const BODIES = 781; // the full level-0 tiles of a 2×10^5-leaf tree, as read.ts uses
const SIZE = 8192;

const bodies = Array.from({ length: BODIES }, () => randomBytes(SIZE));

/** Microseconds per decode, decoding `pick(i)` for i in 0 … DECODES-1. */
function timeDecodes(pick: (i: number) => Buffer): number {
  let chars = 0;
  const start = performance.now();
  for (let i = 0; i < DECODES; i++) chars += pick(i).toString().length;
  const us = ((performance.now() - start) * 1000) / DECODES;
  if (chars === 0) throw new Error("nothing decoded");
  return us;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const same: number[] = [];
const distinct: number[] = [];
for (let r = 0; r < RUNS; r++) {
  same.push(timeDecodes(() => bodies[0]!));
  distinct.push(timeDecodes((i) => bodies[i % BODIES]!));
}
console.log(`UTF-8 decoding of ${SIZE}-byte random bodies, median of ${RUNS} runs of ${DECODES}`);
console.log(`  the same body each time:      ${median(same).toFixed(1)} µs/body`);
console.log(`  ${BODIES} distinct bodies in turn: ${median(distinct).toFixed(1)} µs/body`);
console.log(`  ratio distinct/same:          ${(median(distinct) / median(same)).toFixed(1)}x`);
