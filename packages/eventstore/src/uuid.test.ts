import t from 'tap';
import { uuidv7 } from './uuid.js';

t.test('generated event ids are UUIDv7: version 7, RFC variant, time-ordered', async (t) => {
  const id = uuidv7(0x0123456789ab);
  t.match(id, /^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const ids = Array.from({ length: 50 }, (_, i) => uuidv7(1_700_000_000_000 + i));
  t.same([...ids].sort(), ids, 'later milliseconds sort later');
  t.equal(
    new Set(Array.from({ length: 5000 }, () => uuidv7(1))).size,
    5000,
    'random bits differ within a millisecond, across refills of the random block',
  );
});
