import { randomUUID } from 'node:crypto';
import t from 'tap';
import { KurrentEventStore } from './store.js';

const url = process.env['KURRENTDB_URL'];

if (!url) {
  t.plan(
    0,
    'KURRENTDB_URL is not set: no KurrentDB 25.1+ server on this machine; these contract tests run where it points at one',
  );
} else {
  // Imported here, not at the top, so the skip above needs nothing but this adapter.
  const { eventStoreContract } = await import('../contract.js');
  // The server is shared (other runs, other machines): every fixture gets its own namespace,
  // so readAll, headPosition and verify see only the streams that fixture wrote.
  const run = `es-contract-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
  let fixtures = 0;
  eventStoreContract(t, 'kurrentdb', async () => {
    const options = { streamPrefix: `${run}-${++fixtures}/` };
    const store = await KurrentEventStore.open(url, options);
    const others: KurrentEventStore[] = [];
    return {
      store,
      eventIdsUniqueAcrossStreams: false,
      // A second client (its own connection) on the same namespace: races go through the server.
      openAnother: async () => {
        const other = await KurrentEventStore.open(url, options);
        others.push(other);
        return other;
      },
      // No tamper hook: KurrentDB events are immutable through every API, so no one can change
      // a stored event in place; the verifier's clean pass still runs.
      cleanup: async () => {
        for (const other of others) await other.close();
        await store.close();
      },
    };
  });
}
