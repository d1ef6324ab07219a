import t from 'tap';
import { CheckTimeout, judgeLag, type ProjectionLag } from './health.js';

const lag = (name: string, lagSeconds: number): ProjectionLag => ({
  name,
  position: 10n,
  lagPositions: lagSeconds > 0 ? 3n : 0n,
  lagSeconds,
});

t.test('judgeLag: ready up to the bound, unready past it or when the lag is unknown', async (t) => {
  t.same(
    judgeLag({ projections: [] }, 30),
    { ok: true, lagSeconds: 0, lagSecondsMax: 30 },
    'no read model yet',
  );
  t.same(judgeLag({ projections: [lag('accounts', 0), lag('audit', 30)] }, 30), {
    ok: true,
    lagSeconds: 30,
    lagSecondsMax: 30,
  });
  t.same(judgeLag({ projections: [lag('accounts', 0.5), lag('audit', 30.1)] }, 30), {
    ok: false,
    lagSeconds: 30.1,
    lagSecondsMax: 30,
  });
  t.same(judgeLag({ error: new CheckTimeout('checkpoints did not answer') }, 30), {
    ok: false,
    lagSeconds: 0,
    lagSecondsMax: 30,
    error: 'timeout',
  });
  t.same(judgeLag({ error: new Error('connect ECONNREFUSED') }, 30), {
    ok: false,
    lagSeconds: 0,
    lagSecondsMax: 30,
    error: 'unreachable',
  });
});
