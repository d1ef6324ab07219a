import { PGlite } from '@electric-sql/pglite';
import t from 'tap';
import { eventStoreContract } from './contract.js';
import { pgliteClient } from './postgres/sql-client.js';
import { PostgresEventStore } from './postgres/store.js';

// PGlite has one connection: "another handle" shares it, so concurrency here is
// interleaving in one process; lock contention is proven by the PostgreSQL run.
// A PGlite start and the store's migrations cost seconds of WebAssembly each (over 10 s on a
// loaded 2-core machine, which once took this file past the runner's limit): they are done
// once, and each case runs on a clone of that migrated, empty database.
t.setTimeout(420_000);
let template: Promise<PGlite> | undefined;
const migratedTemplate = () => {
  template ??= (async () => {
    const pglite = await PGlite.create();
    await (await PostgresEventStore.open(pgliteClient(pglite))).close();
    t.teardown(() => pglite.close());
    return pglite;
  })();
  return template;
};

eventStoreContract(
  t,
  'pglite',
  async () => {
    const pglite = (await (await migratedTemplate()).clone()) as PGlite;
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
  },
  // One WASM PostgreSQL in this process: 2,000 events show the same as 10,000, in a fifth of the time.
  { readerEvents: 2_000 },
);
