// `npm start`: a complete local trustlog on embedded PGlite under ./data, with the log key
// generated on first run. Each part is one start/stop pair, so that more parts (a witness) slot
// in beside the log server; signals are handled here and nowhere below.

import { useNativeEd25519 } from "../node/ed25519-native.js";
import { loadServerConfig } from "../server/config.js";
import { startServer, stopServer } from "../server/main.js";

type Part = { name: string; stop: () => Promise<void> };

async function startLog(): Promise<Part> {
  const config = loadServerConfig(process.env);
  const server = await startServer(config);
  if (server.key.created) process.stdout.write(`generated the log key; vkey: ${server.key.vkey}\n`);
  process.stdout.write(`log server:  ${server.url}  (origin ${config.origin}, vkey ${server.key.vkey})\n`);
  return { name: "log server", stop: () => stopServer(server) };
}

useNativeEd25519();
const parts: Part[] = [];
try {
  parts.push(await startLog());
} catch (err) {
  process.stderr.write(`start failed: ${(err as Error).message}\n`);
  for (const p of parts.reverse()) await p.stop();
  process.exit(1);
}

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) process.exit(signal === "SIGINT" ? 130 : 143);
  stopping = true;
  process.stderr.write(`${signal}: stopping\n`);
  // Reverse order: later parts may depend on earlier ones (a witness on the log).
  for (const p of [...parts].reverse()) {
    await p.stop().catch((err: Error) => process.stderr.write(`${p.name}: ${err.message}\n`));
  }
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
