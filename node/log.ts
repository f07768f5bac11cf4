// One pino factory for every process (server, witness, SCIM bridge, CLI), so log lines share a
// shape: to stderr, `name` naming the part; stdout stays free for command output (vkeys, demo).
// JSON lines when stderr is not a terminal (a file, a collector, a test reading them); readable
// lines on a terminal (pino-pretty). TRUSTLOG_LOG_FORMAT=json|pretty overrides the guess.

import { type Logger, pino } from "pino";
import pretty from "pino-pretty";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  name: string;
  level?: LogLevel;
  /** Default: TRUSTLOG_LOG_FORMAT, else pretty on a terminal and JSON otherwise. */
  format?: "json" | "pretty";
}

export function logFormat(
  env: NodeJS.ProcessEnv = process.env,
  isTTY = process.stderr.isTTY === true,
): "json" | "pretty" {
  const f = env.TRUSTLOG_LOG_FORMAT;
  if (f === "json" || f === "pretty") return f;
  return isTTY ? "pretty" : "json";
}

export function createLogger(opts: LoggerOptions): Logger {
  const options = { name: opts.name, level: opts.level ?? "info" };
  if ((opts.format ?? logFormat()) === "json") return pino(options, pino.destination(2));
  // A synchronous stream, not a transport worker: a line is written before a crash exits.
  const stream = pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname",
  });
  return pino(options, stream);
}
