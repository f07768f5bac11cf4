// Ed25519 throughput of both back ends: `npx tsx bench/signatures.ts`.
// Verifies a rotating set of keys (as a witness or client does: a few keys, verified again and
// again) and prints the median of several runs per operation, and the native/noble ratio.

import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { type Ed25519, nobleEd25519 } from "../core/ed25519.js";
import { nativeEd25519 } from "../node/ed25519-native.js";

const RUNS = 5;
const RUN_MS = 400;
const KEYS = 16;

interface Fixture {
  seed: Uint8Array;
  pub: Uint8Array;
  msg: Uint8Array;
  sig: Uint8Array;
}

const fixtures: Fixture[] = Array.from({ length: KEYS }, () => {
  const seed = new Uint8Array(randomBytes(32));
  const msg = new Uint8Array(randomBytes(120)); // about a checkpoint's size
  return { seed, pub: nobleEd25519.publicKey(seed), msg, sig: nobleEd25519.sign(msg, seed) };
});

function opsPerSecond(op: (f: Fixture) => void): number {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < RUN_MS) {
    for (let i = 0; i < 20; i++) op(fixtures[n++ % KEYS]!);
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(b: Ed25519): { verify: number; sign: number } {
  const verify = (f: Fixture) => {
    if (!b.verify(f.sig, f.msg, f.pub)) throw new Error(`${b.name}: a valid signature failed`);
  };
  const sign = (f: Fixture) => void b.sign(f.msg, f.seed);
  opsPerSecond(verify); // warm up (JIT, key caches)
  opsPerSecond(sign);
  const v: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    v.push(opsPerSecond(verify));
    s.push(opsPerSecond(sign));
  }
  return { verify: median(v), sign: median(s) };
}

/**
 * Native Ed25519 verifications a second on one core (this thread), the median of RUNS runs:
 * the ceiling bench/append.ts measures first, so its ratio comes from the same run.
 */
export function nativeVerificationsPerSecond(): number {
  return measure(nativeEd25519).verify;
}

function main(): void {
  const noble = measure(nobleEd25519);
  const native = measure(nativeEd25519);
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US").padStart(9);
  console.log(`Ed25519, median of ${RUNS} runs of ${RUN_MS} ms, ${KEYS} keys, 120-byte messages`);
  console.log(`back end       verified/s    signed/s`);
  console.log(`noble          ${fmt(noble.verify)}   ${fmt(noble.sign)}`);
  console.log(`node:crypto    ${fmt(native.verify)}   ${fmt(native.sign)}`);
  console.log(
    `native/noble   ${(native.verify / noble.verify).toFixed(1).padStart(8)}x   ${(native.sign / noble.sign).toFixed(1).padStart(8)}x`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
