#!/usr/bin/env node
// The compiled package's build state, in plain JavaScript (it runs before anything is built).
//
//   node bin/build.js finish   after tsc -p tsconfig.build.json (npm run build): writes
//                              dist/package.json (the #ed25519 import map of the compiled files)
//                              and the stamp that marks dist/ as built
//   node bin/build.js ensure   builds when dist/ is missing or older than the sources (prestart)
//
// bin/trustlog.js imports distIsFresh to choose between dist/ and the TypeScript sources.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const DIST = join(ROOT, "dist");
const STAMP = join(DIST, ".build-stamp");
/** What tsconfig.build.json compiles, and what decides how. */
const SOURCES = ["core", "node", "client", "server", "witness", "scim", "bin"];
const CONFIGS = ["tsconfig.json", "tsconfig.build.json", "package.json"];

/** The newest modification time (ms) of the compiled sources, their folders and the configs. */
function newestSource() {
  let newest = 0;
  const visit = (p) => {
    const s = statSync(p, { throwIfNoEntry: false });
    if (!s) return;
    newest = Math.max(newest, s.mtimeMs);
    if (s.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name));
  };
  for (const d of SOURCES) visit(join(ROOT, d));
  for (const f of CONFIGS) visit(join(ROOT, f));
  return newest;
}

/**
 * True when dist/ was built (the stamp exists) and no source is newer than the build; also true
 * in an installation that carries dist/ without the TypeScript sources (the container image).
 */
export function distIsFresh() {
  const stamp = statSync(STAMP, { throwIfNoEntry: false });
  if (!stamp) return false;
  if (!existsSync(join(ROOT, "tsconfig.build.json"))) return true;
  return newestSource() <= stamp.mtimeMs;
}

// The Ed25519 back end of the compiled files, by condition (see package.json "imports", which
// maps the same specifier for the TypeScript sources): dist/ is a package scope of its own.
function writeDistPackage() {
  const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const pkg = { type: "module", private: true, imports: root.imports };
  writeFileSync(join(DIST, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
}

function finish() {
  writeDistPackage();
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

function build() {
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  if (!existsSync(tsc)) {
    process.stderr.write("trustlog: dist/ is not built and TypeScript is not installed (npm install)\n");
    process.exit(1);
  }
  process.stderr.write("trustlog: compiling to dist/ (npm run build)\n");
  const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
  finish();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const cmd = process.argv[2];
  if (cmd === "finish") finish();
  else if (cmd === "ensure") {
    if (!distIsFresh()) build();
  } else {
    process.stderr.write("usage: node bin/build.js finish|ensure\n");
    process.exit(2);
  }
}
