-- What each service role may do, run as ledger_owner after the migrations (`pnpm db:roles`).
-- Idempotent, and run again after every migration: grants on ALL TABLES cover only tables that
-- exist. Every schema the code creates is named below; the last block refuses to finish while
-- a schema is not (scripts/db/roles.test.ts checks the same on a migrated database).

-- The event log (es): appended and read, never changed. es.append_batch_v2 runs with the
-- caller's rights: it locks and upserts stream heads (es.streams) and inserts events. The
-- API keeps snapshots (es.snapshots). The projector appends too: its chain checkpoint
-- recorder (CHECKPOINT_EVERY) writes ChainCheckpointRecorded to the stream `checkpoints`. A trigger refuses UPDATE/DELETE/TRUNCATE of events even
-- to the owner; with no UPDATE, DELETE or TRUNCATE granted, the service roles are refused
-- before it.
GRANT USAGE ON SCHEMA es TO ledger_app, ledger_projector, ledger_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA es TO ledger_app, ledger_projector, ledger_readonly;
GRANT INSERT ON es.events TO ledger_app, ledger_projector;
GRANT INSERT, UPDATE, DELETE ON es.streams TO ledger_app, ledger_projector;
GRANT INSERT, UPDATE, DELETE ON es.snapshots TO ledger_app;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA es FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA es TO ledger_app, ledger_projector;

-- Tables the API and the worker keep beside the log: the vault (per-user keys, password
-- hashes, TOTP secrets), auth (refresh tokens, revocations, recovery codes), mail (the
-- worker's dead letters, which the API's back office lists), chatbot (the support chatbot's
-- conversation sessions).
GRANT USAGE ON SCHEMA vault, auth, mail, chatbot TO ledger_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA vault, auth, mail, chatbot TO ledger_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA vault, auth, mail, chatbot TO ledger_app;

-- Checkpoints (readmodel): each projection's row, and the worker's job dispatcher's. The API
-- reads them for readiness and read-your-writes.
GRANT USAGE ON SCHEMA readmodel TO ledger_app, ledger_projector, ledger_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA readmodel TO ledger_readonly;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA readmodel TO ledger_app, ledger_projector;

-- Read models (and the chain checkpoint recorder's heads, chain): the projector writes
-- them, the API reads them.
GRANT USAGE ON SCHEMA accounts, transactions, users, audit, kyc, notifications, packs, support, chain
  TO ledger_app, ledger_projector, ledger_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA accounts, transactions, users, audit, kyc, notifications, packs, support, chain
  TO ledger_app, ledger_readonly;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES
  IN SCHEMA accounts, transactions, users, audit, kyc, notifications, packs, support, chain TO ledger_projector;
GRANT USAGE, SELECT ON ALL SEQUENCES
  IN SCHEMA accounts, transactions, users, audit, kyc, notifications, packs, support, chain TO ledger_projector;

-- Migration bookkeeping: the services run the Migrator at start, which with nothing left to
-- run only reads its tables (and takes an advisory lock). Migrations are the owner's.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT schemaname, tablename FROM pg_tables
            WHERE tablename IN ('migrations', 'migrations_lock') AND tableowner = current_user LOOP
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %I.%I FROM ledger_app, ledger_projector',
                   t.schemaname, t.tablename);
    EXECUTE format('GRANT SELECT ON %I.%I TO ledger_app, ledger_projector', t.schemaname, t.tablename);
  END LOOP;
END $$;

-- A schema the code creates and this file forgot would leave a service refused at run time:
-- refuse here instead, naming it.
DO $$
DECLARE
  missing text;
BEGIN
  SELECT string_agg(nspname, ', ' ORDER BY nspname) INTO missing FROM pg_namespace
   WHERE nspname NOT IN ('public', 'information_schema', 'es', 'vault', 'auth', 'mail', 'chatbot', 'readmodel',
                         'accounts', 'transactions', 'users', 'audit', 'kyc', 'notifications', 'packs',
                         'support', 'chain')
     AND nspname NOT LIKE 'pg\_%';
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'infra/postgres/grants.sql does not cover schema(s): %', missing
      USING HINT = 'grant its tables to the roles that use them, and add it to this list';
  END IF;
END $$;
