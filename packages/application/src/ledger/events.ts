import {
  type AccountEvent,
  parseAccountEvent as parseStoredAccountEvent,
  parseTransferEvent as parseStoredTransferEvent,
  type TransferEvent,
} from '@ledger/domain/ledger';
import type { EventMetadata, EventStore, NewEvent, RecordedEvent } from '@ledger/eventstore';
import { foldStream } from '../command-handler.js';
import { ledgerEventSchemaVersion } from './streams.js';

/**
 * An account stream's event, checked against its zod contract (@ledger/contracts, the one
 * parser every reader uses): a foreign type or a malformed event is a corrupt store, and
 * throws CorruptLedgerEvent naming the stream, the position and the field.
 */
export function parseAccountEvent(
  recorded: Pick<RecordedEvent, 'type' | 'data'> &
    Partial<Pick<RecordedEvent, 'streamId' | 'globalPosition'>>,
): AccountEvent {
  return parseStoredAccountEvent(recorded);
}

/** A transfer stream's event, checked against its contract (see parseAccountEvent). */
export function parseTransferEvent(
  recorded: Pick<RecordedEvent, 'type' | 'data'> &
    Partial<Pick<RecordedEvent, 'streamId' | 'globalPosition'>>,
): TransferEvent {
  return parseStoredTransferEvent(recorded);
}

/** Every event of a stream, paging past the store's read limit. */
export async function readWholeStream(store: EventStore, streamId: string): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  await foldStream(store, streamId, { state: all, version: 'no_stream' }, (events, event) => {
    events.push(event);
    return events;
  });
  return all;
}

/** A decided event as the store takes it, with the request's metadata. */
export const toNew =
  (metadata: EventMetadata) =>
  (event: { type: string; data: unknown }): NewEvent => ({
    type: event.type,
    schemaVersion: ledgerEventSchemaVersion,
    data: event.data,
    metadata,
  });
