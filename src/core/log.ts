import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';
import type { Redactor } from './secrets.js';

export type { Logger };

/**
 * Structured JSON lines on stderr (stdout belongs to command output), pretty when stderr is a terminal. Every string that reaches the log
 * passes through the redactor, so a secret cannot leak through a message or an error's text.
 */
export function createLogger(opts: {
  level: string;
  redact: Redactor;
  destination?: NodeJS.WritableStream;
}): Logger {
  return pino(
    {
      level: opts.level,
      base: { app: 'dbwarden' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          'password',
          '*.password',
          'token',
          '*.token',
          'headers.authorization',
          '*.headers.authorization',
        ],
        censor: '***',
      },
      hooks: {
        streamWrite: (line) => opts.redact(line),
      },
    },
    opts.destination && opts.destination !== process.stderr
      ? (opts.destination as pino.DestinationStream)
      : process.stderr.isTTY
        ? // A person is watching: readable lines (pino-pretty, loaded only then); machines (log drains) get JSON.
          (createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty')).PinoPretty({
            destination: 2,
            colorize: true,
            sync: true,
            translateTime: 'SYS:HH:MM:ss',
            ignore: 'pid,hostname,app',
          })
        : (process.stderr as unknown as pino.DestinationStream),
  );
}
