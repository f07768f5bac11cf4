// DESIGN.md §1: dependencies point one way. core/ is pure (no Node built-ins, no I/O);
// server/, witness/ and client/ import core/; witness/ may use client/; nothing imports server/
// or witness/ except the entry points in bin/. node/ holds Node adapters and depends on core/ only.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = join(root, dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(relative(root, p)));
    else if (/\.(ts|js)$/.test(name) && !name.endsWith(".d.ts")) out.push(relative(root, p));
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  const specs: string[] = [];
  for (const m of text.matchAll(
    /(?:import|export)[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g,
  )) {
    specs.push((m[1] ?? m[2])!);
  }
  return specs;
}

/** The top-level part a relative import lands in, or the bare package name. */
function target(file: string, spec: string): string {
  if (!spec.startsWith(".")) return `pkg:${spec}`;
  const abs = resolve(join(root, file, ".."), spec);
  return relative(root, abs).split("/")[0]!;
}

const allowed: Record<string, string[]> = {
  core: ["core"],
  node: ["core", "node"],
  client: ["core", "client", "node"],
  server: ["core", "server", "node", "client"],
  witness: ["core", "witness", "node", "client"],
  scim: ["core", "scim", "node", "client"],
};

describe("architecture", () => {
  for (const [part, may] of Object.entries(allowed)) {
    it(`${part}/ imports only ${may.join(", ")}`, () => {
      const bad: string[] = [];
      for (const f of sourceFiles(part)) {
        for (const spec of imports(f)) {
          const t = target(f, spec);
          if (!t.startsWith("pkg:") && !may.includes(t)) bad.push(`${f} -> ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }

  it("core/ uses no Node built-ins and no I/O", () => {
    const bad: string[] = [];
    for (const f of sourceFiles("core")) {
      for (const spec of imports(f)) {
        if (spec.startsWith("node:") || /^(fs|path|crypto|http|https|net|os|child_process)$/.test(spec)) {
          bad.push(`${f} -> ${spec}`);
        }
      }
      const text = readFileSync(join(root, f), "utf8");
      for (const word of ["process.", "Date.now(", "new Date()", "Math.random(", "fetch(", "Buffer."]) {
        if (text.includes(word)) bad.push(`${f} uses ${word}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("the client's verifying path imports nothing Node-only", () => {
    const nodeOnly = (f: string) => /(^|\/)(cli|node-[^/]*|file-store)\.ts$/.test(f) || f.includes("/node/");
    const bad: string[] = [];
    for (const f of sourceFiles("client").filter((f) => !nodeOnly(f))) {
      for (const spec of imports(f)) {
        if (spec.startsWith("node:") || target(f, spec) === "node") bad.push(`${f} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
