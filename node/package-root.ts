// The package's root directory (where package.json, migrations/ and explorer/ are), found from a
// module's own URL. Source modules sit one or two levels below it (server/main.ts), compiled
// ones one more (dist/server/main.js), so a path like "../migrations" would differ between the
// two: files the package reads at run time are found from this root instead.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function isRoot(dir: string): boolean {
  const file = join(dir, "package.json");
  if (!existsSync(file)) return false;
  try {
    // dist/package.json (written by the build) has no name: it is not the root.
    return (JSON.parse(readFileSync(file, "utf8")) as { name?: string }).name === "trustlog";
  } catch {
    return false;
  }
}

function find(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (isRoot(dir)) return dir;
    if (dirname(dir) === dir) return dirname(start); // no package.json: the source layout
  }
}

/** The package root, an absolute path. */
export const PACKAGE_ROOT = find();

/** A path under the package root: packagePath("migrations", "server"). */
export function packagePath(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}
