import { PGlite } from '@electric-sql/pglite';
import t from 'tap';
import { eventStoreContract } from './contract.js';
import { pgliteClient } from './postgres/sql-client.js';
import { PostgresEventStore } from './postgres/store.js';

// PGlite has one connection: "another handle" shares it, so concurrency here is
// interleaving in one process; lock contention is proven by the PostgreSQL run.
eventStoreContract(t, 'pglite', async () => {
  const pglite = await PGlite.create();
  const store = await PostgresEventStore.open(pgliteClient(pglite));
  const others: PostgresEventStore[] = [];
  return {
    store,
    lastWrittenPosition: () => store.lastWrittenPosition(),
    openAnother: async () => {
      const other = await PostgresEventStore.open(pgliteClient(pglite), { migrate: false });
      others.push(other);
      return other;
    },
    tamper: async (streamId, version) => {
      await pglite.exec('ALTER TABLE es.events DISABLE TRIGGER events_append_only');
      await pglite.query(
        `UPDATE es.events SET data = jsonb_set(data, '{amount}', '"999.00"') WHERE stream_id = $1 AND stream_version = $2`,
        [streamId, version.toString()],
      );
      await pglite.exec('ALTER TABLE es.events ENABLE TRIGGER events_append_only');
    },
    cleanup: async () => {
      for (const other of others) await other.close();
      await store.close();
      await pglite.close();
    },
  };
});
