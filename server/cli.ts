import type { Command } from "commander";

/** Registers the server's subcommands on the `trustlog` program. */
export function registerServerCommands(_program: Command): void {}
