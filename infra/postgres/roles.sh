#!/usr/bin/env bash
# Database roles for a production-like stack (run once by the PostgreSQL image at init).
# ledger_owner owns the schemas and runs migrations; ledger_app is what the services use.
# The event log is append-only twice over: a trigger refuses UPDATE/DELETE/TRUNCATE, and
# after migrations, `infra/postgres/grants.sql` leaves ledger_app only INSERT and SELECT on it.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE ledger_app LOGIN PASSWORD '${LEDGER_APP_PASSWORD}';
GRANT CONNECT, CREATE ON DATABASE ${POSTGRES_DB} TO ledger_app;
CREATE ROLE ledger_readonly NOLOGIN;
SQL
