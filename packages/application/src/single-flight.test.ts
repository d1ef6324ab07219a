import t from 'tap';
import { SingleFlight } from './single-flight.js';

t.test('callers of one key share the read in flight; others, settled or forgotten, read again', async (t) => {
  const flights = new SingleFlight<string, number>();
  let reads = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const read = async () => {
    reads++;
    await gate;
    return reads;
  };
  const burst = Array.from({ length: 10 }, () => flights.run('a', read));
  const other = flights.run('b', read);
  t.equal(reads, 2, 'one read for "a", one for "b"');
  t.equal(flights.size, 2);
  release();
  t.same(await Promise.all(burst), Array(10).fill(2), 'every caller of "a" got its one answer');
  t.equal(await other, 2);
  t.equal(flights.size, 0, 'settled reads are forgotten');
  t.equal(await flights.run('a', read), 3, 'a caller after it reads again');

  // A failure is shared by those waiting on it, and not kept.
  let fail = true;
  const failing = async () => {
    reads++;
    await Promise.resolve();
    if (fail) throw new Error('down');
    return reads;
  };
  const failed = await Promise.allSettled([flights.run('c', failing), flights.run('c', failing)]);
  t.same(
    failed.map((f) => f.status),
    ['rejected', 'rejected'],
  );
  fail = false;
  t.equal(await flights.run('c', failing), reads, 'the next caller reads again');

  // Forgotten while in flight: the next caller starts its own read.
  const first = flights.run('d', read);
  flights.forget('d');
  const second = flights.run('d', read);
  t.not(first, second);
  await Promise.all([first, second]);
});
