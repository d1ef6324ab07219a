import { randomUUID } from 'node:crypto';
import { findUserId, register } from '@ledger/application';
import { emailSchema, passwordSchema, usernameSchema } from '@ledger/contracts';
import type { EventStore } from '@ledger/eventstore';
import type { Config, Logger } from '@ledger/platform';
import type { Vault } from '@ledger/vault';
import type { PasswordHasher } from './auth/passwords.js';

/**
 * The first director (API.md, Operations): when BANK_DIRECTOR_USERNAME, _EMAIL and
 * _PASSWORD are all set and that username does not exist, create it with role director.
 * Idempotent (an existing user is left alone, whatever its role), safe when several API
 * processes start together (the reservation stream lets one win), and there is no default
 * password: with the variables unset nothing is created.
 */
export async function bootstrapDirector(options: {
  director: NonNullable<Config['director']>;
  store: EventStore;
  vault: Vault;
  hasher: PasswordHasher;
  logger: Logger;
  now: Date;
}): Promise<'created' | 'exists'> {
  const { director, store, vault, logger } = options;
  if ((await findUserId({ store, vault }, { username: director.username })) !== null) {
    logger.info({ username: director.username }, 'first director: the user exists, nothing to do');
    return 'exists';
  }
  for (const [variable, schema, value] of [
    ['BANK_DIRECTOR_USERNAME', usernameSchema, director.username],
    ['BANK_DIRECTOR_EMAIL', emailSchema, director.email],
    ['BANK_DIRECTOR_PASSWORD', passwordSchema, director.password],
  ] as const) {
    // The message names the rule, never the value (it may be the password).
    const issue = schema.safeParse(value).error?.issues[0];
    if (issue) throw new Error(`${variable}: ${issue.message}`);
  }
  const userId = randomUUID();
  const result = await register(
    { store, vault, passwords: options.hasher },
    {
      userId,
      username: director.username,
      email: director.email,
      password: director.password,
      role: 'director',
      profile: { firstName: null, lastName: null, dateOfBirth: null, phone: null },
      via: 'bootstrap',
      now: options.now,
    },
    { actorId: 'system:bootstrap', correlationId: userId, causationId: userId },
  );
  if (!result.ok) {
    if (result.code === 'username_taken') return 'exists'; // another process created it just now
    throw new Error(`BANK_DIRECTOR_EMAIL ${director.email} belongs to another user: pick another email`);
  }
  logger.info({ username: director.username, userId }, 'first director created');
  return 'created';
}
