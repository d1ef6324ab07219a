import { identityEventSchemaVersion, userStreamId } from '@ledger/contracts';
import type { AppendResult, EventMetadata, EventStore } from '@ledger/eventstore';
import {
  type PersonalDataPorts,
  type RegisterCommand,
  type RegisterResult,
  registerUser,
} from '../src/identity.js';

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

/**
 * Tests, benchmarks and fault tests only: registers a user whose password hash is made
 * already (one bcrypt hash shared by many seeded users), as `register` would: the hash in
 * the vault's credentials, then the registration's append.
 */
export async function registerWithHash(
  ports: PersonalDataPorts,
  command: Omit<RegisterCommand, 'passwordId'>,
  passwordHash: string,
  metadata: EventMetadata,
): Promise<RegisterResult> {
  const passwordId = await ports.vault.credentials.put(command.userId, 'password', passwordHash);
  return registerUser(ports, { ...command, passwordId }, metadata);
}
