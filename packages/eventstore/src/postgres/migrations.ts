import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';

/**
 * Schema `es`, created by migrations that keep their own table (`es.migrations`).
 * Landed migrations are frozen: change the schema with a new one.
 *
 * Global positions encode the writing transaction: `position = xid8 << 16 | n`, where n
 * counts the events that transaction wrote. So position order is transaction-id order,
 * and a reader that only reads positions below `pg_snapshot_xmin(pg_current_snapshot())
 * << 16` never sees a later transaction commit "behind" it: every transaction with a
 * smaller id has already ended. This is message-db's and Emmett's xid technique, with the
 * ordering folded into the position itself, so appends need no global sequence or lock.
 */
const m0001: string[] = [
  `CREATE SCHEMA IF NOT EXISTS es`,
  `CREATE TABLE es.streams (
     stream_id text PRIMARY KEY,
     -- version of the stream's last event; -1 only for a row locked by an append in flight
     version bigint NOT NULL,
     last_hash bytea NOT NULL
   )`,
  `CREATE TABLE es.events (
     global_position bigint PRIMARY KEY,
     transaction_id xid8 NOT NULL,
     event_id uuid NOT NULL,
     stream_id text NOT NULL,
     stream_version bigint NOT NULL,
     type text NOT NULL,
     schema_version integer NOT NULL,
     data jsonb NOT NULL,
     metadata jsonb NOT NULL,
     recorded_at timestamptz NOT NULL,
     hash bytea NOT NULL,
     CONSTRAINT events_event_id_key UNIQUE (event_id),
     CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
   )`,
  // The log is append-only. A superuser can still disable this; the hash chain is what
  // makes such tampering evident.
  `CREATE FUNCTION es.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     RAISE EXCEPTION 'es.events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
   END $$`,
  `CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON es.events
     FOR EACH ROW EXECUTE FUNCTION es.refuse_change()`,
  `CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON es.events
     FOR EACH STATEMENT EXECUTE FUNCTION es.refuse_change()`,
  /*
   * es.append_batch: several independent appends in one transaction (one commit, one WAL
   * flush). Each append is all-or-nothing: every expected version is checked, under the
   * stream row locks, before any of its events is written; an append that fails its check
   * writes nothing and the others go on.
   *
   * Input: [{ w: [{ s: streamId, sj: JSON string of streamId, e: expected,
   *               ev: [{ i: uuid, t: type, tj: JSON string of type, sv: schemaVersion,
   *                      d: canonical JSON of data, m: canonical JSON of metadata }] }] }]
   * Output: [{ position, versions: [..] } | { error: { streamId, expected, actual } }]
   *
   * The hash is sha256(previous hash ‖ RFC 8785 JSON of {data, eventId, metadata,
   * recordedAt, schemaVersion, streamId, streamVersion, type}); keys are written here in
   * RFC 8785 order, from pieces the client canonicalised.
   */
  `CREATE FUNCTION es.append_batch(p_appends jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
   DECLARE
     v_xid xid8 := pg_current_xact_id();
     v_base bigint := (v_xid::text::bigint) << 16;
     v_next bigint;
     v_now timestamptz := date_trunc('milliseconds', statement_timestamp());
     v_ts text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
     v_results jsonb := '[]';
     v_append jsonb;
     v_write jsonb;
     v_event jsonb;
     v_sid text;
     v_version bigint;
     v_hash bytea;
     v_expected text;
     v_error jsonb;
     v_versions jsonb;
     v_touched text[];
     v_ok boolean;
   BEGIN
     -- Several calls in one transaction continue the same position range.
     SELECT coalesce(max(global_position) + 1, v_base) INTO v_next FROM es.events
      WHERE global_position >= v_base AND global_position < v_base + 65536;

     -- Lock every stream of the batch in one global order, so two batches never deadlock.
     SELECT array_agg(DISTINCT w->>'s' ORDER BY w->>'s') INTO v_touched
       FROM jsonb_array_elements(p_appends) a, jsonb_array_elements(a->'w') w;
     FOREACH v_sid IN ARRAY v_touched LOOP
       PERFORM 1 FROM es.streams WHERE stream_id = v_sid FOR UPDATE;
       IF NOT FOUND THEN
         INSERT INTO es.streams (stream_id, version, last_hash) VALUES (v_sid, -1, '') ON CONFLICT DO NOTHING;
         IF NOT FOUND THEN
           PERFORM 1 FROM es.streams WHERE stream_id = v_sid FOR UPDATE;
         END IF;
       END IF;
     END LOOP;

     FOR v_append IN SELECT value FROM jsonb_array_elements(p_appends) LOOP
       v_error := NULL;
       FOR v_write IN SELECT value FROM jsonb_array_elements(v_append->'w') LOOP
         SELECT version INTO v_version FROM es.streams WHERE stream_id = v_write->>'s';
         v_expected := v_write->>'e';
         -- (a CASE inside IF would end at its first THEN: plpgsql reads IF up to THEN)
         v_ok := CASE v_expected
             WHEN 'any' THEN true
             WHEN 'no_stream' THEN v_version = -1
             WHEN 'exists' THEN v_version >= 0
             ELSE v_version = v_expected::bigint
           END;
         IF NOT v_ok THEN
           v_error := jsonb_build_object('streamId', v_write->>'s', 'expected', v_expected, 'actual', v_version::text);
           EXIT;
         END IF;
       END LOOP;
       IF v_error IS NOT NULL THEN
         v_results := v_results || jsonb_build_array(jsonb_build_object('error', v_error));
         CONTINUE;
       END IF;

       v_versions := '[]';
       FOR v_write IN SELECT value FROM jsonb_array_elements(v_append->'w') LOOP
         SELECT version, last_hash INTO v_version, v_hash FROM es.streams WHERE stream_id = v_write->>'s';
         FOR v_event IN SELECT value FROM jsonb_array_elements(v_write->'ev') LOOP
           v_version := v_version + 1;
           v_hash := sha256(v_hash || convert_to(
             '{"data":' || (v_event->>'d') || ',"eventId":"' || (v_event->>'i') ||
             '","metadata":' || (v_event->>'m') || ',"recordedAt":"' || v_ts ||
             '","schemaVersion":' || (v_event->>'sv') || ',"streamId":' || (v_write->>'sj') ||
             ',"streamVersion":' || v_version || ',"type":' || (v_event->>'tj') || '}', 'UTF8'));
           INSERT INTO es.events (global_position, transaction_id, event_id, stream_id, stream_version,
                                  type, schema_version, data, metadata, recorded_at, hash)
           VALUES (v_next, v_xid, (v_event->>'i')::uuid, v_write->>'s', v_version, v_event->>'t',
                   (v_event->>'sv')::integer, (v_event->>'d')::jsonb, (v_event->>'m')::jsonb, v_now, v_hash);
           v_next := v_next + 1;
         END LOOP;
         UPDATE es.streams SET version = v_version, last_hash = v_hash WHERE stream_id = v_write->>'s';
         v_versions := v_versions || to_jsonb(v_version::text);
       END LOOP;
       v_results := v_results || jsonb_build_array(
         jsonb_build_object('position', (v_next - 1)::text, 'versions', v_versions));
     END LOOP;

     IF v_next > v_base + 65536 THEN
       RAISE EXCEPTION 'more than 65536 events in one transaction' USING ERRCODE = 'program_limit_exceeded';
     END IF;
     -- Rows locked for streams that got no event go away again.
     DELETE FROM es.streams WHERE stream_id = ANY (v_touched) AND version = -1;
     RETURN v_results;
   END $$`,
];

const migrations: Record<string, Migration> = {
  '0001_events': {
    async up(db: Kysely<any>) {
      for (const statement of m0001) await sql.raw(statement).execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateEventStore(db: Kysely<any>): Promise<void> {
  await sql`CREATE SCHEMA IF NOT EXISTS es`.execute(db);
  const migrator = new Migrator({
    db,
    provider,
    migrationTableSchema: 'es',
    migrationTableName: 'migrations',
    migrationLockTableName: 'migrations_lock',
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`event store migration ${failed} failed: ${String(error)}`, { cause: error });
  }
}
