// core/lru.ts against a naive reference (a Map re-inserting each key it reads, so that its
// iteration order is least to most recently used): the same answers, size and evictions for
// any sequence of operations and any capacity.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Lru } from "../../core/lru.js";

class NaiveLru<K, V> {
  readonly map = new Map<K, V>();
  constructor(readonly capacity: number) {}
  get(key: K): V | undefined {
    if (!this.map.has(key)) return undefined;
    const v = this.map.get(key)!;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
  delete(key: K): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
}

type Op = { op: "get" | "set" | "delete"; key: number; value: number } | { op: "clear" };

const ops = fc.array(
  fc.oneof(
    {
      weight: 10,
      arbitrary: fc.record({ op: fc.constant("get" as const), key: fc.nat(12), value: fc.nat() }),
    },
    {
      weight: 10,
      arbitrary: fc.record({ op: fc.constant("set" as const), key: fc.nat(12), value: fc.nat() }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ op: fc.constant("delete" as const), key: fc.nat(12), value: fc.nat() }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const) }) },
  ),
  { maxLength: 200 },
);

describe("Lru", () => {
  it("answers like the naive reference for any operations and capacity", () => {
    fc.assert(
      fc.property(fc.nat(8), ops, (capacity, sequence: Op[]) => {
        const lru = new Lru<number, number>(capacity);
        const ref = new NaiveLru<number, number>(capacity);
        for (const o of sequence) {
          if (o.op === "get") expect(lru.get(o.key)).toBe(ref.get(o.key));
          else if (o.op === "set") {
            lru.set(o.key, o.value);
            ref.set(o.key, o.value);
          } else if (o.op === "delete") {
            lru.delete(o.key);
            ref.delete(o.key);
          } else {
            lru.clear();
            ref.clear();
          }
          expect(lru.size).toBe(ref.map.size);
        }
        // Every key the reference holds, the Lru holds with the same value (read oldest first,
        // so that the reads do not change which keys either would evict next).
        for (const [k, v] of [...ref.map]) expect(lru.get(k)).toBe(v);
        for (let k = 0; k <= 12; k++) if (!ref.map.has(k)) expect(lru.get(k)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it("evicts the least recently read or written key", () => {
    const lru = new Lru<string, number>(3);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("c", 3);
    expect(lru.get("a")).toBe(1); // b is now the oldest
    lru.set("d", 4);
    expect(lru.get("b")).toBeUndefined();
    expect([lru.get("a"), lru.get("c"), lru.get("d")]).toEqual([1, 3, 4]);
    lru.set("c", 30); // rewriting is a use: a is the oldest
    lru.set("e", 5);
    expect(lru.get("a")).toBeUndefined();
    expect(lru.get("c")).toBe(30);
    expect(lru.size).toBe(3);
  });
});
