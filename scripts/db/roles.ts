/**
 * The database roles of a production-like deployment (infra/postgres): roles.sql as a
 * superuser, then every migration as `ledger_owner` (so the owner owns every schema and
 * table), then grants.sql as the owner. Idempotent: run it before every deployment, so a new
 * migration is run by the owner and its tables are granted before the services start.
 *
 * The services then connect as `ledger_app` (API, worker) or `ledger_projector` and run
 * their migrations at start as they always do: with none left to run, the Migrator only
 * reads its tables. A service started before this step fails at start-up, refused.
 */
import { readFile } from 'node:fs/promises';
import { migrateEventStore, PostgresEventStore } from '@ledger/eventstore';
import { type Database, openDatabase } from '@ledger/platform';
import { chainCheckpointsProjection, checkpointEveryMin, defaultProjectionsFor } from '@ledger/projector';
import { migrateCheckpoints, migrateSchema } from '@ledger/readmodel';
import { vaultMigrations, vaultSchema } from '@ledger/vault';
import pg from 'pg';
import { authMigrations, authSchema } from '../../services/api/src/auth/tokens.js';
import { chatbotMigrations, chatbotSchema } from '../../services/api/src/routes/chatbot/sessions.js';
import { migrateMail } from '../../services/worker/src/mail/dead-letters.js';

const infraDir = new URL('../../infra/postgres/', import.meta.url);

/** The roles' names in roles.sql and grants.sql; a test renames them (roles are server-wide). */
export const roleNames = ['ledger_owner', 'ledger_app', 'ledger_projector', 'ledger_readonly'] as const;
export type RoleName = (typeof roleNames)[number];
export type Roles = Record<RoleName, string>;

export const defaultRoles: Roles = {
  ledger_owner: 'ledger_owner',
  ledger_app: 'ledger_app',
  ledger_projector: 'ledger_projector',
  ledger_readonly: 'ledger_readonly',
};

/** Roles under a prefix (`<prefix>_owner`…), for a test sharing a server with others. */
export function prefixedRoles(prefix: string): Roles {
  return Object.fromEntries(roleNames.map((r) => [r, r.replace(/^ledger/, prefix)])) as Roles;
}

export async function readInfraSql(
  file: 'roles.sql' | 'grants.sql',
  roles: Roles = defaultRoles,
): Promise<string> {
  const text = await readFile(new URL(file, infraDir), 'utf8');
  return text.replace(/\bledger_(owner|app|projector|readonly)\b/g, (name) => roles[name as RoleName]);
}

/** Every migration of the code, in the order the services run them at start. */
export async function migrateAll(db: Database['db'], store: PostgresEventStore): Promise<void> {
  await migrateEventStore(db);
  await migrateCheckpoints(db);
  await migrateSchema(db, vaultSchema, vaultMigrations);
  await migrateSchema(db, authSchema, authMigrations);
  await migrateSchema(db, chatbotSchema, chatbotMigrations);
  await migrateMail(db);
  const chain = chainCheckpointsProjection({ db, store, every: checkpointEveryMin });
  for (const projection of [...defaultProjectionsFor(store), chain]) {
    await projection.migrate(db.withSchema(projection.schema), projection.schema);
  }
}

/** `url` with the session's role set at connection start (a superuser may become any role). */
export function asRole(url: string, role: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c role=${role}`);
  return u.toString();
}

export interface ApplyRolesOptions {
  /** A superuser's connection to the ledger's database. */
  adminUrl: string;
  roles?: Roles;
  /** Passwords to set; a role given one can log in (ledger_owner included). */
  passwords?: Partial<Record<RoleName, string | undefined>>;
  log?: (line: string) => void;
}

export async function applyRoles(options: ApplyRolesOptions): Promise<void> {
  const roles = options.roles ?? defaultRoles;
  const log = options.log ?? (() => {});
  const admin = new pg.Client({ connectionString: options.adminUrl });
  await admin.connect();
  try {
    await admin.query(await readInfraSql('roles.sql', roles));
    for (const [name, password] of Object.entries(options.passwords ?? {})) {
      if (!password) continue;
      const role = roles[name as RoleName];
      await admin.query(
        `ALTER ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`,
      );
    }
    log(`roles: ${Object.values(roles).join(', ')}`);
  } finally {
    await admin.end();
  }

  const owner = await openDatabase({
    databaseUrl: asRole(options.adminUrl, roles.ledger_owner),
    dataDir: '.',
    applicationName: 'ledger-migrate',
    poolSizeMax: 2,
  });
  try {
    const store = await PostgresEventStore.open(owner.sql, { migrate: false });
    try {
      await migrateAll(owner.db, store);
    } finally {
      await store.close();
    }
    log('migrations: done, as ' + roles.ledger_owner);
  } finally {
    await owner.close();
  }

  const grants = new pg.Client({ connectionString: asRole(options.adminUrl, roles.ledger_owner) });
  await grants.connect();
  try {
    await grants.query(await readInfraSql('grants.sql', roles));
    log('grants: applied');
  } finally {
    await grants.end();
  }
}
