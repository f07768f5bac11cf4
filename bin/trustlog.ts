// The `trustlog` command. Each part registers its own subcommands; signals and process exit
// are handled only in entry points like this one.

import { Command } from "commander";
import { registerClientCommands } from "../client/cli.js";
import { registerAccountCommands } from "../client/node-account-cli.js";
import { registerScimCommands } from "../scim/cli.js";
import { registerServerCommands } from "../server/cli.js";
import { registerWitnessCommands } from "../witness/cli.js";

const program = new Command("trustlog")
  .description("A witnessed transparency log for account key events")
  .showHelpAfterError();

registerServerCommands(program);
registerWitnessCommands(program);
registerClientCommands(program);
registerAccountCommands(program);
registerScimCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  process.stderr.write(`trustlog: ${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}\n`);
  process.exit(1);
});
