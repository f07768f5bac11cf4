import type { Command } from "commander";

/** Registers the witness's subcommands on the `trustlog` program. */
export function registerWitnessCommands(_program: Command): void {}
