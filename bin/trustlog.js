#!/usr/bin/env node
// The `trustlog` command: the compiled CLI (dist/bin/trustlog.js) when it is built and no older
// than the sources; otherwise, in a development checkout, the TypeScript sources through tsx (a
// dev dependency), so `npx trustlog` and the end-to-end tests never run stale code.
import { distIsFresh } from "./build.js";

if (distIsFresh()) {
  await import("../dist/bin/trustlog.js");
} else {
  let tsx;
  try {
    tsx = await import("tsx/esm/api");
  } catch {
    process.stderr.write("trustlog: not built: run npm run build (or npm install for development)\n");
    process.exit(1);
  }
  tsx.register();
  await import("./trustlog.ts");
}
