// DESIGN.md §1: dependencies point one way. core/ is pure (no Node built-ins, no I/O);
// server/, witness/, scim/ and client/ import core/; witness/ and scim/ may use client/; the
// explorer uses the browser-safe client only; nothing imports server/, witness/ or scim/ except
// the entry points in bin/, which nothing imports. node/ holds Node adapters and depends on
// core/ only.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = join(root, dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(relative(root, p)));
    else if (/\.(ts|tsx|js)$/.test(name) && !name.endsWith(".d.ts")) out.push(relative(root, p));
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
  server: ["core", "server", "node"],
  witness: ["core", "witness", "node", "client"],
  scim: ["core", "scim", "node", "client"],
  explorer: ["core", "client", "explorer"],
  // Entry points: they wire the parts together, and nothing imports them.
  bin: ["core", "node", "client", "server", "witness", "scim", "bin", "dist"],
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

  it("nothing imports bin/, tests and benches aside (entry points only)", () => {
    const bad: string[] = [];
    for (const part of Object.keys(allowed).filter((p) => p !== "bin")) {
      for (const f of sourceFiles(part)) {
        for (const spec of imports(f)) if (target(f, spec) === "bin") bad.push(`${f} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("server/storage/ is the only code that touches the log's tables", () => {
    const bad: string[] = [];
    for (const f of sourceFiles("server").filter((f) => !f.startsWith("server/storage/"))) {
      for (const spec of imports(f)) {
        const file = spec.startsWith(".") ? relative(root, resolve(join(root, f, ".."), spec)) : spec;
        if (spec.startsWith("drizzle-orm") || file === "server/storage/schema.js")
          bad.push(`${f} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("core/ has no import loops (type-only imports count too)", () => {
    const graph = new Map<string, string[]>();
    for (const f of sourceFiles("core")) {
      const deps = imports(f)
        .filter((s) => s.startsWith("."))
        .map((s) => relative(root, resolve(join(root, f, ".."), s)).replace(/\.js$/, ".ts"));
      graph.set(f, deps);
    }
    const loops: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") {
        loops.push([...path.slice(path.indexOf(f)), f].join(" -> "));
        return;
      }
      state.set(f, "open");
      for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
      state.set(f, "done");
    };
    for (const f of graph.keys()) visit(f, []);
    expect(loops).toEqual([]);
  });

  it("docs/architecture.md names every file of core/", () => {
    const doc = readFileSync(join(root, "docs/architecture.md"), "utf8");
    const unnamed = sourceFiles("core")
      .map((f) => f.slice("core/".length).replace(/\.ts$/, ""))
      .filter((name) => !doc.includes(`\`${name}\``));
    expect(unnamed).toEqual([]);
  });

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

  it("the client's verifying path and the explorer import nothing Node-only", () => {
    const nodeOnly = (f: string) => /(^|\/)(cli|node-[^/]*|file-store)\.ts$/.test(f) || f.includes("/node/");
    const bad: string[] = [];
    // The explorer runs in browsers only: it may use the client, but not the client's Node files.
    for (const f of [...sourceFiles("client").filter((f) => !nodeOnly(f)), ...sourceFiles("explorer")]) {
      for (const spec of imports(f)) {
        const file = spec.startsWith(".")
          ? relative(root, resolve(join(root, f, ".."), spec)).replace(/\.js$/, ".ts")
          : "";
        if (spec.startsWith("node:") || /^(fs|path|crypto|http|https|net|os|child_process)$/.test(spec))
          bad.push(`${f} -> ${spec}`);
        else if (target(f, spec) === "node" || nodeOnly(file)) bad.push(`${f} -> ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
