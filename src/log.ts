// Structured logs (pino) that cannot carry a Secret: known secret-bearing
// paths are redacted, and nothing in the codebase logs resolved values.
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export const REDACT_PATHS = [
  'password',
  '*.password',
  'pass',
  '*.pass',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'auth',
  '*.auth',
  'data',
  '*.data',
  'stringData',
  '*.stringData',
];

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      // Each part names itself with one `component` key (log.child); the base only says whose log it is.
      base: { app: 'postmaster' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
