import { parseIdentityEvent } from '@ledger/contracts';
import { migrateSchema, type Projection } from '@ledger/readmodel';
import type { Kysely, Updateable } from 'kysely';
import { usersMigrations } from './migrations.js';
import type { UsersDatabase, UsersTable } from './schema.js';

export const usersProjectionHandles = [
  'UserRegistered',
  'ProfileUpdated',
  'RoleChanged',
  'UserLocked',
  'UserUnlocked',
  'TwoFactorEnabled',
  'TwoFactorDisabled',
  'KycStatusChanged',
  'PersonalDataErased',
] as const;

/**
 * Users for staff lists (GET /api/admin/users). No secret (those are in the vault, not the
 * log), and personal fields only as the log holds them, sealed under the user's key: the
 * queries open them through the vault, and an erasure (PersonalDataErased) removes them. A
 * rebuild gives the same rows. Commands never read it (they fold the user stream), so its
 * lag never decides anything.
 */
export const usersProjection: Projection = {
  name: 'users',
  version: 2,
  schema: 'users',
  handles: usersProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, usersMigrations),
  async apply(tx, recorded) {
    const db = tx as Kysely<UsersDatabase>;
    const event = parseIdentityEvent(recorded.type, recorded.data);
    const position = recorded.globalPosition.toString();
    const update = async (userId: string, changes: Updateable<UsersTable>) => {
      const result = await db
        .updateTable('users')
        .set({ ...changes, position })
        .where('id', '=', userId)
        .executeTakeFirst();
      // A user event before its UserRegistered would be a broken store: stop loudly.
      if (result.numUpdatedRows !== 1n) throw new Error(`${recorded.type} for unknown user ${userId}`);
    };
    switch (event.type) {
      case 'UserRegistered': {
        const d = event.data;
        await db
          .insertInto('users')
          .values({
            id: d.userId,
            seq: position,
            username: d.username,
            email: d.email,
            first_name: d.firstName,
            last_name: d.lastName,
            date_of_birth: d.dateOfBirth,
            phone: d.phone,
            role: d.role,
            two_factor_enabled: false,
            kyc_status: 'none',
            locked: false,
            locked_until: null,
            created_at: d.registeredAt,
            position,
          })
          .execute();
        return;
      }
      case 'ProfileUpdated': {
        const d = event.data;
        const changes: Updateable<UsersTable> = {};
        if (d.firstName !== undefined) changes.first_name = d.firstName;
        if (d.lastName !== undefined) changes.last_name = d.lastName;
        if (d.dateOfBirth !== undefined) changes.date_of_birth = d.dateOfBirth;
        if (d.phone !== undefined) changes.phone = d.phone;
        return update(d.userId, changes);
      }
      case 'RoleChanged':
        return update(event.data.userId, { role: event.data.to });
      case 'UserLocked':
        return update(event.data.userId, { locked: true, locked_until: event.data.until });
      case 'UserUnlocked':
        return update(event.data.userId, { locked: false, locked_until: null });
      case 'TwoFactorEnabled':
        return update(event.data.userId, { two_factor_enabled: true });
      case 'TwoFactorDisabled':
        return update(event.data.userId, { two_factor_enabled: false });
      case 'KycStatusChanged':
        return update(event.data.userId, { kyc_status: event.data.status });
      case 'PersonalDataErased':
        return update(event.data.userId, {
          username: null,
          email: null,
          first_name: null,
          last_name: null,
          date_of_birth: null,
          phone: null,
          erased_at: event.data.at,
        });
      default:
        throw new Error(`users projection does not handle ${recorded.type}`);
    }
  },
};
