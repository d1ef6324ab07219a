/**
 * `pnpm db:roles`: roles, migrations as the owner, grants (see roles.ts and
 * docs/operations.md). DATABASE_ADMIN_URL is a superuser's connection to the ledger's
 * database; LEDGER_APP_PASSWORD and LEDGER_PROJECTOR_PASSWORD (and LEDGER_OWNER_PASSWORD,
 * optional) set the roles' passwords.
 */
import { applyRoles } from './roles.js';

const adminUrl = process.env.DATABASE_ADMIN_URL;
if (!adminUrl) {
  process.stderr.write('DATABASE_ADMIN_URL is required: a superuser connection to the ledger database\n');
  process.exit(1);
}
try {
  await applyRoles({
    adminUrl,
    passwords: {
      ledger_owner: process.env.LEDGER_OWNER_PASSWORD,
      ledger_app: process.env.LEDGER_APP_PASSWORD,
      ledger_projector: process.env.LEDGER_PROJECTOR_PASSWORD,
    },
    log: (line) => process.stdout.write(`${line}\n`),
  });
} catch (error) {
  process.stderr.write(`db:roles failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
