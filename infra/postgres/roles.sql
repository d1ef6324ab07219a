-- The ledger's database roles. Idempotent; run by a superuser connected to the ledger's
-- database, before the migrations (`pnpm db:roles` runs roles.sql, then every migration as
-- ledger_owner, then grants.sql).
--
--   ledger_owner      owns every schema, table and function; runs the migrations. NOLOGIN
--                     unless LEDGER_OWNER_PASSWORD is given: the applier becomes it with SET ROLE.
--   ledger_app        the API and the worker: append and read events, their own tables
--                     (vault, auth, mail), read the read models.
--   ledger_projector  the projector: read events, write the read models and checkpoints.
--   ledger_readonly   reports and audits: read the log and the read models (NOLOGIN; grant it
--                     to a person's role).
-- No service role can create, alter or drop anything; none can change or delete an event.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['ledger_owner', 'ledger_app', 'ledger_projector', 'ledger_readonly'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', r);
    END IF;
  END LOOP;
  -- The services' roles log in (with the passwords db:roles sets, or the server's other means).
  ALTER ROLE ledger_app LOGIN;
  ALTER ROLE ledger_projector LOGIN;
  -- Only what is granted here: no CONNECT or TEMP for every role of the server.
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO ledger_owner, ledger_app, ledger_projector, ledger_readonly',
                 current_database());
  -- The owner makes the schemas (CREATE SCHEMA); the services' roles make nothing.
  EXECUTE format('GRANT CREATE ON DATABASE %I TO ledger_owner', current_database());
  EXECUTE format('REVOKE CREATE ON DATABASE %I FROM ledger_app, ledger_projector, ledger_readonly',
                 current_database());
END $$;

-- Nobody but the database owner creates in public (PostgreSQL 15's default, made explicit).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
