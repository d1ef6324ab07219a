-- Run as the schema owner after the first start (migrations create the schemas).
-- The event log: insert and read, never change. Read models: only projectors write them;
-- a query-only role reads them.
REVOKE UPDATE, DELETE, TRUNCATE ON es.events FROM PUBLIC;
GRANT USAGE ON SCHEMA es TO ledger_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA es TO ledger_readonly;
GRANT USAGE ON SCHEMA audit, readmodel TO ledger_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA audit, readmodel TO ledger_readonly;
