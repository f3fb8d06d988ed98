// A small SVG line chart (no chart library: a few hundred bytes instead of a hundred kB). Each series is
// points, a line or a dashed line; the figure has a text summary and a data table for screen readers.
// The drawing is as wide as its box (measured), so its labels keep their size on a phone.
import { useEffect, useRef, useState } from "preact/hooks";
export interface Series {
  name: string;
  points: { x: number; y: number }[];
  kind?: "line" | "points" | "dashed";
  color?: string;
}

const PALETTE = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c"];

export function LineChart({
  title,
  series,
  xFormat = (x) => String(x),
  yLabel = "",
  height = 220,
}: {
  title: string;
  series: Series[];
  xFormat?: (x: number) => string;
  yLabel?: string;
  height?: number;
}) {
  const box = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(640);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setWidth(Math.max(280, Math.round(el.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return <p class="empty">No data to chart yet.</p>;
  const pad = { l: 48, r: 12, t: 12, b: 28 };
  const [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  const [y0, y1] = [Math.min(0, ...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  const sx = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const sy = (y: number) => height - pad.b - ((y - y0) / (y1 - y0 || 1)) * (height - pad.t - pad.b);
  const ticks = [y0, (y0 + y1) / 2, y1];
  return (
    <figure class="chart" ref={box}>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title}>
        <title>{title}</title>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={pad.l} x2={width - pad.r} y1={sy(t)} y2={sy(t)} class="grid" />
            <text x={pad.l - 6} y={sy(t) + 4} text-anchor="end" class="tick">
              {Math.round(t * 10) / 10}
            </text>
          </g>
        ))}
        <text x={pad.l} y={height - 8} class="tick">{xFormat(x0)}</text>
        <text x={width - pad.r} y={height - 8} text-anchor="end" class="tick">{xFormat(x1)}</text>
        {series.map((s, i) => {
          const color = s.color ?? PALETTE[i % PALETTE.length];
          const pts = [...s.points].sort((a, b) => a.x - b.x);
          if (s.kind === "points")
            return pts.map((p) => <circle key={`${s.name}${p.x}`} cx={sx(p.x)} cy={sy(p.y)} r={4} fill={color} />);
          return (
            <polyline
              key={s.name}
              fill="none"
              stroke={color}
              stroke-width={2}
              stroke-dasharray={s.kind === "dashed" ? "6 4" : undefined}
              points={pts.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")}
            />
          );
        })}
      </svg>
      <figcaption>
        {series.map((s, i) => (
          <span key={s.name} class="legend">
            <span class="swatch" style={{ background: s.color ?? PALETTE[i % PALETTE.length] }} aria-hidden="true" />
            {s.name}
          </span>
        ))}
        {yLabel && <span class="muted"> ({yLabel})</span>}
      </figcaption>
      <details>
        <summary>Data</summary>
        <table>
          <thead>
            <tr><th scope="col">Series</th><th scope="col">When</th><th scope="col">{yLabel || "Value"}</th></tr>
          </thead>
          <tbody>
            {series.flatMap((s) =>
              s.points.map((p) => (
                <tr key={`${s.name}-${p.x}`}><td>{s.name}</td><td>{xFormat(p.x)}</td><td>{Math.round(p.y * 100) / 100}</td></tr>
              )),
            )}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
