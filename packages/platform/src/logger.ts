import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Secrets never reach a log line: these paths are censored wherever they appear
 * (request bodies, headers, errors). Add to it rather than logging around it.
 */
export const redactedPaths = [
  'password',
  '*.password',
  '*.*.password',
  'newPassword',
  '*.newPassword',
  'passwordHash',
  '*.passwordHash',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'refreshToken',
  '*.refreshToken',
  'otp',
  '*.otp',
  'secret',
  '*.secret',
  '*.otpSecret',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'JWT_SECRET',
  'BANK_DIRECTOR_PASSWORD',
];

export function createLogger(
  options: { level: string; name: string },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name,
      level: options.level,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
