import assert from 'node:assert/strict';
import {
  type AccountEvent,
  accountEventTypes,
  type TransferEvent,
  transferEventTypes,
} from '@ledger/domain/ledger';
import type { EventMetadata, EventStore, NewEvent, RecordedEvent } from '@ledger/eventstore';
import { foldStream } from '../command-handler.js';
import { ledgerEventSchemaVersion } from './streams.js';

const accountEventTypeSet = new Set<string>(accountEventTypes);
const transferEventTypeSet = new Set<string>(transferEventTypes);

/** Events come from our own writers; a foreign type in a ledger stream is a corrupt store. */
export function parseAccountEvent(recorded: Pick<RecordedEvent, 'type' | 'data'>): AccountEvent {
  assert(accountEventTypeSet.has(recorded.type), `${recorded.type} is not an account event`);
  assert(typeof recorded.data === 'object' && recorded.data !== null, 'account event data is an object');
  return { type: recorded.type, data: recorded.data } as AccountEvent;
}

export function parseTransferEvent(recorded: Pick<RecordedEvent, 'type' | 'data'>): TransferEvent {
  assert(transferEventTypeSet.has(recorded.type), `${recorded.type} is not a transfer event`);
  assert(typeof recorded.data === 'object' && recorded.data !== null, 'transfer event data is an object');
  return { type: recorded.type, data: recorded.data } as TransferEvent;
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
