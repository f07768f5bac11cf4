// One pino factory for every process (server, witness, CLI), so log lines share a shape:
// JSON to stderr, `name` naming the part. stdout stays free for command output (vkeys, demo).

import { type Logger, pino } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  name: string;
  level?: LogLevel;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino({ name: opts.name, level: opts.level ?? "info" }, pino.destination(2));
}
