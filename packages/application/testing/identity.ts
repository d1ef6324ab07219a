import { identityEventSchemaVersion, userStreamId } from '@ledger/contracts';
import type { AppendResult, EventMetadata, EventStore } from '@ledger/eventstore';

/**
 * Tests only: what the KYC flow records once a user's document is verified (KycStatusChanged
 * on the user's stream). The application has no command for it (the flow is not built), so
 * the event is appended as that flow will append it; the user must be registered.
 */
export function markKycVerified(
  store: EventStore,
  userId: string,
  metadata?: EventMetadata,
  now: Date = new Date(),
): Promise<AppendResult> {
  return store.append([
    {
      streamId: userStreamId(userId),
      expectedVersion: 'exists',
      events: [
        {
          type: 'KycStatusChanged',
          schemaVersion: identityEventSchemaVersion,
          data: { userId, at: now.toISOString(), status: 'verified' },
          ...(metadata === undefined ? {} : { metadata }),
        },
      ],
    },
  ]);
}
