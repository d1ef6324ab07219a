import { money } from './format';

export interface VolumePoint {
  day: string;
  volume: string;
  transactions: number;
}

const width = 420;
const height = 200;
const pad = { top: 16, right: 12, bottom: 28, left: 12 };

/** Every day of [from, to) as YYYY-MM-DD (UTC). */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/**
 * Daily volume as bars, in inline SVG drawn here (no chart library). Amounts are decimal
 * strings; the bar heights only need their proportion, so a float is good enough for them,
 * while every label shows the exact string.
 */
export function VolumeChart({ points, currency }: { points: VolumePoint[]; currency: string }) {
  const max = Math.max(0, ...points.map((p) => Number(p.volume)));
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const slot = points.length > 0 ? innerW / points.length : innerW;
  const barW = Math.max(2, slot * 0.7);
  const labelEvery = Math.ceil(points.length / 7);
  const total = points.reduce((n, p) => n + p.transactions, 0);
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={`Daily volume in ${currency}, ${points.length} days, ${total} transactions`}
    >
      <line
        class="axis"
        x1={pad.left}
        x2={width - pad.right}
        y1={height - pad.bottom}
        y2={height - pad.bottom}
      />
      {points.map((p, i) => {
        const h = max > 0 ? (Number(p.volume) / max) * innerH : 0;
        const x = pad.left + i * slot + (slot - barW) / 2;
        const y = height - pad.bottom - h;
        return (
          <g key={p.day}>
            <rect
              class={i === points.length - 1 ? 'bar today' : 'bar'}
              x={x}
              y={y}
              width={barW}
              height={Math.max(h, 0)}
            >
              <title>{`${p.day}: ${money(p.volume, currency)} in ${p.transactions} transactions`}</title>
            </rect>
            {(i % labelEvery === 0 && points.length - 1 - i >= labelEvery / 2) || i === points.length - 1 ? (
              <text class="tick" x={x + barW / 2} y={height - 10} text-anchor="middle">
                {p.day.slice(5)}
              </text>
            ) : null}
          </g>
        );
      })}
      {max > 0 ? (
        <text class="tick" x={pad.left} y={pad.top - 4}>
          {`max ${money(
            points.reduce((m, p) => (Number(p.volume) > Number(m) ? p.volume : m), '0'),
            currency,
          )}`}
        </text>
      ) : null}
    </svg>
  );
}
