import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';

/**
 * Schema `es`, created by migrations that keep their own table (`es.migrations`).
 * Landed migrations are frozen: change the schema with a new one.
 *
 * 0001_baseline creates the schema as the code uses it: the development migrations before it
 * (0001_events to 0004, never released) were squashed into it. Databases they made are not
 * migrated (embedded and test databases are made afresh); opening one fails, the Migrator
 * finding executed migrations it does not know.
 *
 * Global positions encode the writing transaction: `position = xid8 << 16 | n`, where n
 * counts the events that transaction wrote. So position order is transaction-id order,
 * and a reader that only reads positions below `pg_snapshot_xmin(pg_current_snapshot())
 * << 16` never sees a later transaction commit "behind" it: every transaction with a
 * smaller id has already ended. This is message-db's and Emmett's xid technique, with the
 * ordering folded into the position itself, so appends need no global sequence or lock.
 * Subscribers of other processes are woken by a NOTIFY the store sends after its appends.
 */
const baseline: string[] = [
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
   * es.append_batch_v2: several independent appends in one transaction (one commit, one WAL
   * flush). Each append is all-or-nothing: every expected version is checked, under the
   * stream row locks, before any of its events is written; an append that fails its check
   * writes nothing and the others go on. The streams of one batch are disjoint (the client
   * batches that way), so each append's check is independent of the others.
   *
   * Cheap per call: it takes parallel arrays, checks and chains in PL/pgSQL loops (simple
   * expressions, no executor start-up), and writes with two small statements: one INSERT of
   * the events, one upsert of the stream heads. Every statement goes by key: stream heads are
   * locked by one primary-key lookup each, in stream-id order (bytewise, COLLATE "C"), so two
   * batches never wait on each other in a cycle; a new stream gets a placeholder row (version
   * -1) holding its lock, and placeholders that got no event are deleted by the row ids their
   * INSERT returned.
   *
   * Its plans are generic (plan_cache_mode): left to itself, the plan cache judges every
   * custom plan cheaper (it sees the arrays' sizes) and plans each statement again on every
   * call. Generic plans are made once per connection with the statistics of that moment: on
   * a fresh database es.streams looks empty, and the planner would scan it (the placeholders'
   * DELETE did, per batch, until an ANALYZE replanned it). Every statement has a key to go
   * by, so sequential scans are off for the function.
   *
   * The hash is sha256(previous hash ‖ RFC 8785 JSON of {data, eventId, metadata,
   * recordedAt, schemaVersion, streamId, streamVersion, type}); keys are written here in
   * RFC 8785 order, from pieces the client canonicalised. hash.ts is its twin.
   *
   * Streams: p_ids, distinct, sorted bytewise (the lock order); p_sj their JSON strings.
   * Writes, grouped by append (appends numbered 1..A in order): p_wa append number, p_wk index
   *   of its stream in p_ids, p_we expected version ('any', 'no_stream', 'exists' or a
   *   number), p_wn its event count.
   * Events, in write order: p_ei id, p_et type, p_etj its JSON string, p_esv schema version,
   *   p_ed / p_em canonical JSON of data / metadata.
   * Out: o_bad per append, 0 or the number of its first write whose check failed (then the
   *   append wrote nothing); o_position per append, the position of its last event;
   *   o_version per write, the stream's version after the batch, or (failed append) before.
   * Positions follow the events' order in the call.
   */
  `CREATE FUNCTION es.append_batch_v2(
     p_ids text[], p_sj text[],
     p_wa int[], p_wk int[], p_we text[], p_wn int[],
     p_ei uuid[], p_et text[], p_etj text[], p_esv int[], p_ed text[], p_em text[],
     OUT o_bad int[], OUT o_position bigint[], OUT o_version bigint[])
   LANGUAGE plpgsql
   SET plan_cache_mode = force_generic_plan
   SET enable_seqscan = off AS $$
   DECLARE
     v_xid xid8 := pg_current_xact_id();
     v_base bigint := (v_xid::text::bigint) << 16;
     v_next bigint;
     v_now timestamptz := date_trunc('milliseconds', statement_timestamp());
     v_ts text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
     n_ids int := cardinality(p_ids);
     n_writes int := cardinality(p_wa);
     n_events int := cardinality(p_ei);
     -- Per stream: its version (-2 until locked, -1 no stream) and last hash.
     v_ver bigint[] := array_fill(-2::bigint, ARRAY[n_ids]);
     v_hash bytea[] := array_fill(''::bytea, ARRAY[n_ids]);
     v_written boolean[] := array_fill(false, ARRAY[n_ids]);
     v_found int[];
     v_fver bigint[];
     v_fhash bytea[];
     v_placeholders tid[] := '{}';
     -- Per event: its position (null: its append failed), stream, version, hash.
     x_pos bigint[] := array_fill(NULL::bigint, ARRAY[n_events]);
     x_sid text[] := array_fill(NULL::text, ARRAY[n_events]);
     x_ver bigint[] := array_fill(NULL::bigint, ARRAY[n_events]);
     x_hash bytea[] := array_fill(NULL::bytea, ARRAY[n_events]);
     w int;
     k int;
     e int := 0;
     a int;
     cur bigint;
     h bytea;
     pos bigint;
   BEGIN
     IF n_writes = 0 OR cardinality(p_wk) <> n_writes OR cardinality(p_we) <> n_writes
        OR cardinality(p_wn) <> n_writes OR cardinality(p_sj) <> n_ids THEN
       RAISE EXCEPTION 'append_batch_v2: malformed batch' USING ERRCODE = 'invalid_parameter_value';
     END IF;
     o_bad := array_fill(0, ARRAY[p_wa[n_writes]]);
     o_position := array_fill(NULL::bigint, ARRAY[p_wa[n_writes]]);
     o_version := array_fill(NULL::bigint, ARRAY[n_writes]);

     -- Several calls in one transaction continue the same position range.
     SELECT coalesce(max(global_position) + 1, v_base) INTO v_next FROM es.events
      WHERE global_position >= v_base AND global_position < v_base + 65536;
     IF v_next + n_events > v_base + 65536 THEN
       RAISE EXCEPTION 'more than 65536 events in one transaction' USING ERRCODE = 'program_limit_exceeded';
     END IF;

     -- Lock the existing streams in p_ids order, one primary-key lookup each.
     SELECT coalesce(array_agg(l.o::int ORDER BY l.o), '{}'), coalesce(array_agg(st.version ORDER BY l.o), '{}'),
            coalesce(array_agg(st.last_hash ORDER BY l.o), '{}')
       INTO v_found, v_fver, v_fhash
       FROM unnest(p_ids) WITH ORDINALITY AS l(s, o)
      CROSS JOIN LATERAL (
        SELECT version, last_hash FROM es.streams WHERE stream_id = l.s FOR UPDATE) st;
     FOR k IN 1..cardinality(v_found) LOOP
       v_ver[v_found[k]] := v_fver[k];
       v_hash[v_found[k]] := v_fhash[k];
     END LOOP;
     IF cardinality(v_found) < n_ids THEN
       -- A new stream gets a placeholder row (version -1) holding its lock; one created by
       -- another transaction meanwhile is locked as it is now, by the second lookup.
       WITH created AS (
         INSERT INTO es.streams (stream_id, version, last_hash)
         SELECT l.s, -1, ''::bytea FROM unnest(p_ids) WITH ORDINALITY AS l(s, o)
          WHERE v_ver[l.o] = -2 ORDER BY l.o
         ON CONFLICT (stream_id) DO NOTHING
         RETURNING ctid)
       SELECT coalesce(array_agg(ctid), '{}') INTO v_placeholders FROM created;
       SELECT array_agg(l.o::int ORDER BY l.o), array_agg(st.version ORDER BY l.o),
              array_agg(st.last_hash ORDER BY l.o)
         INTO v_found, v_fver, v_fhash
         FROM unnest(p_ids) WITH ORDINALITY AS l(s, o)
        CROSS JOIN LATERAL (
          SELECT version, last_hash FROM es.streams WHERE stream_id = l.s FOR UPDATE) st
        WHERE v_ver[l.o] = -2;
       FOR k IN 1..cardinality(v_found) LOOP
         v_ver[v_found[k]] := v_fver[k];
         v_hash[v_found[k]] := v_fhash[k];
       END LOOP;
     END IF;

     -- Every expected version, before anything is written.
     FOR w IN 1..n_writes LOOP
       a := p_wa[w];
       cur := v_ver[p_wk[w]];
       -- (The CASE in parentheses: PL/pgSQL would end the IF's condition at its first THEN.)
       IF o_bad[a] = 0 AND NOT (CASE p_we[w]
            WHEN 'any' THEN true
            WHEN 'no_stream' THEN cur = -1
            WHEN 'exists' THEN cur >= 0
            ELSE cur = p_we[w]::bigint
          END) THEN
         o_bad[a] := w;
       END IF;
     END LOOP;

     -- Chain the events of the appends that passed.
     pos := v_next - 1;
     FOR w IN 1..n_writes LOOP
       a := p_wa[w];
       k := p_wk[w];
       cur := v_ver[k];
       IF o_bad[a] <> 0 THEN
         e := e + p_wn[w];
       ELSE
         h := v_hash[k];
         FOR j IN 1..p_wn[w] LOOP
           e := e + 1;
           cur := cur + 1;
           pos := pos + 1;
           h := sha256(h || convert_to(
             '{"data":' || p_ed[e] || ',"eventId":"' || p_ei[e] || '","metadata":' || p_em[e] ||
             ',"recordedAt":"' || v_ts || '","schemaVersion":' || p_esv[e] || ',"streamId":' || p_sj[k] ||
             ',"streamVersion":' || cur || ',"type":' || p_etj[e] || '}', 'UTF8'));
           x_pos[e] := pos;
           x_sid[e] := p_ids[k];
           x_ver[e] := cur;
           x_hash[e] := h;
         END LOOP;
         IF p_wn[w] > 0 THEN
           v_ver[k] := cur;
           v_hash[k] := h;
           v_written[k] := true;
           o_position[a] := pos;
         END IF;
       END IF;
       o_version[w] := cur;
     END LOOP;
     IF e <> n_events THEN
       RAISE EXCEPTION 'append_batch_v2: malformed batch' USING ERRCODE = 'invalid_parameter_value';
     END IF;

     IF pos >= v_next THEN
       INSERT INTO es.events (global_position, transaction_id, event_id, stream_id, stream_version,
                              type, schema_version, data, metadata, recorded_at, hash)
       SELECT x.pos, v_xid, x.i, x.s, x.v, x.t, x.sv, x.d::jsonb, x.m::jsonb, v_now, x.h
         FROM unnest(x_pos, p_ei, x_sid, x_ver, p_et, p_esv, p_ed, p_em, x_hash)
              AS x(pos, i, s, v, t, sv, d, m, h)
        WHERE x.pos IS NOT NULL;
       -- Every row is there and locked by this transaction: an upsert finds each by its key.
       INSERT INTO es.streams AS st (stream_id, version, last_hash)
       SELECT u.s, u.v, u.h FROM unnest(p_ids, v_ver, v_hash, v_written) AS u(s, v, h, t) WHERE u.t
       ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_hash = excluded.last_hash;
     END IF;
     -- Placeholders of new streams that got no event (their append failed, or the write only
     -- checked) go away again. One that got events was updated since: that row version is
     -- not deleted.
     IF cardinality(v_placeholders) > 0 THEN
       DELETE FROM es.streams WHERE ctid = ANY (v_placeholders) AND version = -1;
     END IF;
   END $$`,
];

/**
 * 0002_append_end: which events end an append. A transfer is one append over several
 * streams (its legs on two accounts, its own event), and readers of $all must be able to stop
 * between appends, never inside one (a read model holding half a transfer is unbalanced).
 * The transaction of a position (position >> 16) is no answer: group commit puts many
 * appends in one transaction. So every event says whether it is its append's last, and
 * readAll reads on to the end of the last append a page reaches (see store.ts).
 *
 * Events written before it count as appends of their own (true: the old behaviour). The
 * default is dropped again, so a writer that does not say fails (NOT NULL).
 *
 * es.append_batch_v2 keeps its arguments and results; it now also writes append_end.
 */
const appendEnd: string[] = [
  `ALTER TABLE es.events ADD COLUMN append_end boolean NOT NULL DEFAULT true`,
  `ALTER TABLE es.events ALTER COLUMN append_end DROP DEFAULT`,
  `CREATE OR REPLACE FUNCTION es.append_batch_v2(
     p_ids text[], p_sj text[],
     p_wa int[], p_wk int[], p_we text[], p_wn int[],
     p_ei uuid[], p_et text[], p_etj text[], p_esv int[], p_ed text[], p_em text[],
     OUT o_bad int[], OUT o_position bigint[], OUT o_version bigint[])
   LANGUAGE plpgsql
   SET plan_cache_mode = force_generic_plan
   SET enable_seqscan = off AS $$
   DECLARE
     v_xid xid8 := pg_current_xact_id();
     v_base bigint := (v_xid::text::bigint) << 16;
     v_next bigint;
     v_now timestamptz := date_trunc('milliseconds', statement_timestamp());
     v_ts text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
     n_ids int := cardinality(p_ids);
     n_writes int := cardinality(p_wa);
     n_events int := cardinality(p_ei);
     -- Per stream: its version (-2 until locked, -1 no stream) and last hash.
     v_ver bigint[] := array_fill(-2::bigint, ARRAY[n_ids]);
     v_hash bytea[] := array_fill(''::bytea, ARRAY[n_ids]);
     v_written boolean[] := array_fill(false, ARRAY[n_ids]);
     v_found int[];
     v_fver bigint[];
     v_fhash bytea[];
     v_placeholders tid[] := '{}';
     -- Per event: its position (null: its append failed), stream, version, hash, append.
     x_pos bigint[] := array_fill(NULL::bigint, ARRAY[n_events]);
     x_sid text[] := array_fill(NULL::text, ARRAY[n_events]);
     x_ver bigint[] := array_fill(NULL::bigint, ARRAY[n_events]);
     x_hash bytea[] := array_fill(NULL::bytea, ARRAY[n_events]);
     x_app int[] := array_fill(NULL::int, ARRAY[n_events]);
     w int;
     k int;
     e int := 0;
     a int;
     cur bigint;
     h bytea;
     pos bigint;
   BEGIN
     IF n_writes = 0 OR cardinality(p_wk) <> n_writes OR cardinality(p_we) <> n_writes
        OR cardinality(p_wn) <> n_writes OR cardinality(p_sj) <> n_ids THEN
       RAISE EXCEPTION 'append_batch_v2: malformed batch' USING ERRCODE = 'invalid_parameter_value';
     END IF;
     o_bad := array_fill(0, ARRAY[p_wa[n_writes]]);
     o_position := array_fill(NULL::bigint, ARRAY[p_wa[n_writes]]);
     o_version := array_fill(NULL::bigint, ARRAY[n_writes]);

     -- Several calls in one transaction continue the same position range.
     SELECT coalesce(max(global_position) + 1, v_base) INTO v_next FROM es.events
      WHERE global_position >= v_base AND global_position < v_base + 65536;
     IF v_next + n_events > v_base + 65536 THEN
       RAISE EXCEPTION 'more than 65536 events in one transaction' USING ERRCODE = 'program_limit_exceeded';
     END IF;

     -- Lock the existing streams in p_ids order, one primary-key lookup each.
     SELECT coalesce(array_agg(l.o::int ORDER BY l.o), '{}'), coalesce(array_agg(st.version ORDER BY l.o), '{}'),
            coalesce(array_agg(st.last_hash ORDER BY l.o), '{}')
       INTO v_found, v_fver, v_fhash
       FROM unnest(p_ids) WITH ORDINALITY AS l(s, o)
      CROSS JOIN LATERAL (
        SELECT version, last_hash FROM es.streams WHERE stream_id = l.s FOR UPDATE) st;
     FOR k IN 1..cardinality(v_found) LOOP
       v_ver[v_found[k]] := v_fver[k];
       v_hash[v_found[k]] := v_fhash[k];
     END LOOP;
     IF cardinality(v_found) < n_ids THEN
       -- A new stream gets a placeholder row (version -1) holding its lock; one created by
       -- another transaction meanwhile is locked as it is now, by the second lookup.
       WITH created AS (
         INSERT INTO es.streams (stream_id, version, last_hash)
         SELECT l.s, -1, ''::bytea FROM unnest(p_ids) WITH ORDINALITY AS l(s, o)
          WHERE v_ver[l.o] = -2 ORDER BY l.o
         ON CONFLICT (stream_id) DO NOTHING
         RETURNING ctid)
       SELECT coalesce(array_agg(ctid), '{}') INTO v_placeholders FROM created;
       SELECT array_agg(l.o::int ORDER BY l.o), array_agg(st.version ORDER BY l.o),
              array_agg(st.last_hash ORDER BY l.o)
         INTO v_found, v_fver, v_fhash
         FROM unnest(p_ids) WITH ORDINALITY AS l(s, o)
        CROSS JOIN LATERAL (
          SELECT version, last_hash FROM es.streams WHERE stream_id = l.s FOR UPDATE) st
        WHERE v_ver[l.o] = -2;
       FOR k IN 1..cardinality(v_found) LOOP
         v_ver[v_found[k]] := v_fver[k];
         v_hash[v_found[k]] := v_fhash[k];
       END LOOP;
     END IF;

     -- Every expected version, before anything is written.
     FOR w IN 1..n_writes LOOP
       a := p_wa[w];
       cur := v_ver[p_wk[w]];
       -- (The CASE in parentheses: PL/pgSQL would end the IF's condition at its first THEN.)
       IF o_bad[a] = 0 AND NOT (CASE p_we[w]
            WHEN 'any' THEN true
            WHEN 'no_stream' THEN cur = -1
            WHEN 'exists' THEN cur >= 0
            ELSE cur = p_we[w]::bigint
          END) THEN
         o_bad[a] := w;
       END IF;
     END LOOP;

     -- Chain the events of the appends that passed.
     pos := v_next - 1;
     FOR w IN 1..n_writes LOOP
       a := p_wa[w];
       k := p_wk[w];
       cur := v_ver[k];
       IF o_bad[a] <> 0 THEN
         e := e + p_wn[w];
       ELSE
         h := v_hash[k];
         FOR j IN 1..p_wn[w] LOOP
           e := e + 1;
           cur := cur + 1;
           pos := pos + 1;
           h := sha256(h || convert_to(
             '{"data":' || p_ed[e] || ',"eventId":"' || p_ei[e] || '","metadata":' || p_em[e] ||
             ',"recordedAt":"' || v_ts || '","schemaVersion":' || p_esv[e] || ',"streamId":' || p_sj[k] ||
             ',"streamVersion":' || cur || ',"type":' || p_etj[e] || '}', 'UTF8'));
           x_pos[e] := pos;
           x_sid[e] := p_ids[k];
           x_ver[e] := cur;
           x_hash[e] := h;
           x_app[e] := a;
         END LOOP;
         IF p_wn[w] > 0 THEN
           v_ver[k] := cur;
           v_hash[k] := h;
           v_written[k] := true;
           o_position[a] := pos;
         END IF;
       END IF;
       o_version[w] := cur;
     END LOOP;
     IF e <> n_events THEN
       RAISE EXCEPTION 'append_batch_v2: malformed batch' USING ERRCODE = 'invalid_parameter_value';
     END IF;

     IF pos >= v_next THEN
       -- o_position[a] is the last position of append a: its event there ends the append.
       INSERT INTO es.events (global_position, transaction_id, event_id, stream_id, stream_version,
                              type, schema_version, data, metadata, recorded_at, hash, append_end)
       SELECT x.pos, v_xid, x.i, x.s, x.v, x.t, x.sv, x.d::jsonb, x.m::jsonb, v_now, x.h,
              x.pos = o_position[x.a]
         FROM unnest(x_pos, p_ei, x_sid, x_ver, p_et, p_esv, p_ed, p_em, x_hash, x_app)
              AS x(pos, i, s, v, t, sv, d, m, h, a)
        WHERE x.pos IS NOT NULL;
       -- Every row is there and locked by this transaction: an upsert finds each by its key.
       INSERT INTO es.streams AS st (stream_id, version, last_hash)
       SELECT u.s, u.v, u.h FROM unnest(p_ids, v_ver, v_hash, v_written) AS u(s, v, h, t) WHERE u.t
       ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_hash = excluded.last_hash;
     END IF;
     -- Placeholders of new streams that got no event (their append failed, or the write only
     -- checked) go away again. One that got events was updated since: that row version is
     -- not deleted.
     IF cardinality(v_placeholders) > 0 THEN
       DELETE FROM es.streams WHERE ctid = ANY (v_placeholders) AND version = -1;
     END IF;
   END $$`,
];

/**
 * 0003_snapshots: snapshots of streams (snapshots.ts), one row per stream, the latest. Not
 * part of the log: no hash chains them, nothing refuses their change, and dropping every row
 * loses only speed (cold loads fold whole streams again). `hash` is the chain hash of the
 * event at `stream_version`, copied from its row when the snapshot is written; a reader
 * checks that event still has it. `schema` names the state's encoding: a reader ignores a
 * snapshot of another one.
 */
const snapshots: string[] = [
  `CREATE TABLE es.snapshots (
     stream_id text PRIMARY KEY,
     stream_version bigint NOT NULL,
     hash bytea NOT NULL,
     schema text NOT NULL,
     state jsonb NOT NULL,
     written_at timestamptz NOT NULL
   )`,
];

const migrations: Record<string, Migration> = {
  '0001_baseline': {
    async up(db: Kysely<any>) {
      for (const statement of baseline) await sql.raw(statement).execute(db);
    },
  },
  '0002_append_end': {
    async up(db: Kysely<any>) {
      for (const statement of appendEnd) await sql.raw(statement).execute(db);
    },
  },
  '0003_snapshots': {
    async up(db: Kysely<any>) {
      for (const statement of snapshots) await sql.raw(statement).execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateEventStore(db: Kysely<any>): Promise<void> {
  // No unconditional CREATE SCHEMA here: PostgreSQL checks the database's CREATE privilege
  // before IF NOT EXISTS, and the services' roles have none (infra/postgres/grants.sql). The
  // Migrator creates the schema only when it is missing.
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
