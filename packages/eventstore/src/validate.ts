import { canonicalJson, NotJsonSerializable } from './canonical-json.js';
import { type ExpectedVersion, InvalidAppend, limits, type NewEvent, type StreamWrite } from './types.js';
import { uuidv7 } from './uuid.js';

/** An event ready to store: validated, canonicalised, with its id. */
export interface PreparedEvent {
  eventId: string;
  type: string;
  schemaVersion: number;
  /** RFC 8785 JSON of data and of metadata: what is stored and what is hashed. */
  data: string;
  metadata: string;
}

export interface PreparedWrite {
  streamId: string;
  expectedVersion: ExpectedVersion;
  events: PreparedEvent[];
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Control characters make stream ids unprintable in audits and logs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this looks for
const controlCharacters = /[\u0000-\u001f\u007f]/;

function checkName(what: string, value: unknown, lengthMax: number): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidAppend(`${what} must be a non-empty string`);
  }
  if (value.length > lengthMax) throw new InvalidAppend(`${what} is longer than ${lengthMax} characters`);
  if (controlCharacters.test(value)) throw new InvalidAppend(`${what} holds control characters`);
  if (/[\uD800-\uDFFF]/.test(value) && !value.isWellFormed()) {
    throw new InvalidAppend(`${what} holds a lone UTF-16 surrogate`);
  }
  return value;
}

function checkExpectedVersion(streamId: string, value: unknown): ExpectedVersion {
  if (value === 'no_stream' || value === 'exists' || value === 'any') return value;
  if (typeof value === 'bigint' && value >= 0n) return value;
  throw new InvalidAppend(
    `expectedVersion of "${streamId}" must be a bigint ≥ 0n, 'no_stream', 'exists' or 'any' (got ${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value)})`,
  );
}

function canonical(value: unknown, path: string): string {
  try {
    return canonicalJson(value, path);
  } catch (error) {
    if (error instanceof NotJsonSerializable) throw new InvalidAppend(error.message, { cause: error });
    throw error;
  }
}

/**
 * Checks a whole append before anything is sent, so bad input fails with a clear error
 * and writes nothing.
 */
export function prepareAppend(writes: readonly StreamWrite[]): PreparedWrite[] {
  if (!Array.isArray(writes) || writes.length === 0)
    throw new InvalidAppend('an append needs at least one write');
  if (writes.length > limits.writesPerAppendMax) {
    throw new InvalidAppend(`an append takes at most ${limits.writesPerAppendMax} streams`);
  }
  const seen = new Set<string>();
  let eventCount = 0;
  const prepared = writes.map((write): PreparedWrite => {
    const streamId = checkName('streamId', write?.streamId, limits.streamIdLengthMax);
    if (seen.has(streamId)) throw new InvalidAppend(`stream "${streamId}" appears twice in one append`);
    seen.add(streamId);
    const expectedVersion = checkExpectedVersion(streamId, write.expectedVersion);
    if (!Array.isArray(write.events)) throw new InvalidAppend(`events of "${streamId}" must be an array`);
    eventCount += write.events.length;
    const events = (write.events as readonly NewEvent[]).map((event, index): PreparedEvent => {
      const at = `${streamId}[${index}]`;
      const eventId = event.eventId ?? uuidv7();
      if (typeof eventId !== 'string' || !uuidPattern.test(eventId)) {
        throw new InvalidAppend(`eventId of ${at} must be a UUID`);
      }
      const type = checkName(`type of ${at}`, event.type, limits.eventTypeLengthMax);
      const schemaVersion = event.schemaVersion ?? 1;
      if (!Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > 32767) {
        throw new InvalidAppend(`schemaVersion of ${at} must be an integer from 1 to 32767`);
      }
      const metadataValue = event.metadata ?? {};
      if (typeof metadataValue !== 'object' || metadataValue === null || Array.isArray(metadataValue)) {
        throw new InvalidAppend(`metadata of ${at} must be an object`);
      }
      const data = canonical(event.data, `${at}.data`);
      if (data.length > limits.eventDataBytesMax) {
        throw new InvalidAppend(`data of ${at} is larger than ${limits.eventDataBytesMax} bytes`);
      }
      return {
        eventId: eventId.toLowerCase(),
        type,
        schemaVersion,
        data,
        metadata: canonical(metadataValue, `${at}.metadata`),
      };
    });
    return { streamId, expectedVersion, events };
  });
  if (eventCount === 0) throw new InvalidAppend('an append needs at least one event');
  if (eventCount > limits.eventsPerAppendMax) {
    throw new InvalidAppend(`an append takes at most ${limits.eventsPerAppendMax} events`);
  }
  return prepared;
}
