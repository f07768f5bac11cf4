// `npm start`: a complete local trustlog on embedded PGlite under ./data: the log server (its key
// generated on first run and kept in the data directory) and one witness that witnesses it (its
// own key and database under ./data/witness), so a newcomer sees cosigned checkpoints at once.
// Each part is one start/stop pair; signals are handled here and nowhere below.
//
// Environment: the log server's TRUSTLOG_* variables (docs/api.md, Configuration), plus
// TRUSTLOG_WITNESS_PORT (default 7380) for the bundled witness, or TRUSTLOG_WITNESS_PORT=off to
// run the log alone, and TRUSTLOG_SCIM_PORT (default 8090) for the demo SCIM bridge, or off.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../core/note.js";
import { generateSignerKey, parseVerifierKey } from "../core/note-keys.js";
import { createLogger } from "../node/log.js";
import { surviveDatabaseFaults } from "../node/signals.js";
import { startDemoBridge } from "../scim/demo.js";
import { stopScim } from "../scim/main.js";
import { keyFilePath, loadServerConfig, type ServerConfig } from "../server/config.js";
import { loadOrCreateLogKey } from "../server/keys.js";
import { startServer, stopServer } from "../server/main.js";
import { parseWitnessConfig } from "../witness/config.js";
import { startWitness, stopWitness } from "../witness/main.js";

type Part = { name: string; stop: () => Promise<void> };

/** The bundled witness's key: created once (cosignature/v1, type 0x04), mode 0600. */
function witnessKeyFile(dir: string): string {
  const file = join(dir, "witness.key");
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const { skey } = generateSignerKey(
      "witness.localhost",
      new Uint8Array(randomBytes(32)),
      NOTE_TYPE_COSIGNATURE_V1,
    );
    writeFileSync(file, `${skey}\n`, { mode: 0o600, flag: "wx" });
  }
  return file;
}

async function startBundledWitness(config: ServerConfig, port: number) {
  // The log key must exist before the witness can be told which key signs the log.
  const logKey = loadOrCreateLogKey(keyFilePath(config), config.origin);
  if (logKey.created) process.stdout.write(`generated the log key; vkey: ${logKey.vkey}\n`);
  const dir = join(config.dataDir, "witness");
  const logHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  const witness = await startWitness(
    parseWitnessConfig({
      host: config.host,
      port,
      keyFile: witnessKeyFile(dir),
      dataDir: join(dir, "pglite"),
      // A development witness on the embedded database: PGlite does not fsync (docs/witness.md).
      allowPglite: true,
      // Pushes come from the log; pulling too means the witness keeps up after its own restart.
      logs: [{ origin: config.origin, vkeys: [logKey.vkey], url: `http://${logHost}:${config.port}` }],
      logLevel: config.logLevel,
    }),
  );
  process.stdout.write(`witness:     ${witness.url}  (vkey ${witness.vkey})\n`);
  return witness;
}

const parts: Part[] = [];
let demoStarting: Promise<void> | undefined;
try {
  let config = loadServerConfig(process.env);
  // With DATABASE_URL set the log runs on PostgreSQL: outlive driver faults as `serve` does.
  surviveDatabaseFaults(createLogger({ name: "trustlog", level: config.logLevel }));
  const witnessPort = process.env.TRUSTLOG_WITNESS_PORT ?? "7380";
  if (witnessPort !== "off" && config.witnesses.length === 0) {
    const witness = await startBundledWitness(config, Number(witnessPort));
    parts.push({ name: "witness", stop: () => stopWitness(witness) });
    const w = { name: parseVerifierKey(witness.vkey).name, vkey: witness.vkey, url: witness.url };
    config = { ...config, witnesses: [w], quorum: Math.max(config.quorum, 1) };
  }
  const server = await startServer(config);
  parts.push({ name: "log server", stop: () => stopServer(server) });
  if (server.key.created) process.stdout.write(`generated the log key; vkey: ${server.key.vkey}\n`);
  process.stdout.write(`log server:  ${server.url}  (origin ${config.origin}, vkey ${server.key.vkey})\n`);
  process.stdout.write(
    `try:         curl ${server.url}/checkpoint   (cosigned by the witness within seconds)\n`,
  );
  const scimPort = process.env.TRUSTLOG_SCIM_PORT ?? "8090";
  if (scimPort !== "off") {
    // The demo bridge is an extra, started in the background: when it cannot start (its port
    // taken, say), the log runs on; a stop during its start waits for it (see shutdown).
    const logUrl = server.url;
    demoStarting = startDemoBridge({
      dataDir: config.dataDir,
      logUrl,
      logKey: server.key.vkey,
      witnesses: config.witnesses.map((w) => w.vkey),
      host: config.host,
      port: Number(scimPort),
      logLevel: config.logLevel,
    }).then(
      (demo) => {
        parts.push({ name: "SCIM bridge", stop: () => stopScim(demo.bridge) });
        process.stdout.write(`SCIM bridge: ${demo.bridge.scimUrl}  (org ${demo.org}; docs/scim.md)\n`);
        process.stdout.write(`SCIM token:  ${demo.token}  (also in ${demo.tokenFile})\n`);
      },
      (err: Error) => {
        process.stderr.write(`SCIM bridge not started: ${err.message}\n`);
      },
    );
  }
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
  await demoStarting;
  // Reverse order: the log server first, so it stops submitting to the witness.
  for (const p of [...parts].reverse()) {
    await p.stop().catch((err: Error) => process.stderr.write(`${p.name}: ${err.message}\n`));
  }
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
