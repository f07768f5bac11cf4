import type { Command } from "commander";

/** Registers the client's subcommands on the `trustlog` program. */
export function registerClientCommands(_program: Command): void {}
