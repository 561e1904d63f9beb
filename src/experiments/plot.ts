// A tiny SVG line plot (no dependencies): several series, linear or log y axis, ticks and a legend.
import { logTicks, niceTicks, tickLabel } from '../plot/ticks';

export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** Markers only, no line (observations). */
  points?: boolean;
  /** Default: the next colour of the palette. */
  color?: string;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logY?: boolean;
}

const W = 640;
const H = 400;
const M = { left: 70, right: 150, top: 34, bottom: 48 };
export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function linePlot(series: Series[], o: PlotOptions): string {
  const ty = (v: number) => (o.logY ? Math.log10(v) : v);
  const usable = (v: number) => Number.isFinite(v) && (!o.logY || v > 0);
  const xs = series.flatMap((s) => s.x.filter(Number.isFinite));
  const ys = series.flatMap((s) => s.y.filter(usable).map(ty));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = 0.05 * (y1 - y0);
  [y0, y1] = [y0 - pad, y1 + pad];
  const px = (v: number) => M.left + ((v - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - ((v - y0) / (y1 - y0)) * (H - M.top - M.bottom);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2}" y="20" text-anchor="middle" font-size="14">${esc(o.title)}</text>`,
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`,
  ];
  for (const t of niceTicks(x0, x1))
    parts.push(`<text x="${px(t)}" y="${H - M.bottom + 15}" text-anchor="middle">${tickLabel(t)}</text>`);
  for (const t of o.logY ? logTicks(10 ** y0, 10 ** y1) : niceTicks(y0, y1)) {
    const y = py(ty(t));
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 5}" y="${y + 4}" text-anchor="end">${tickLabel(t)}</text>`);
  }
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    const pts = s.x.map((x, j) => [x, s.y[j]]).filter(([x, y]) => Number.isFinite(x) && usable(y));
    const coords = pts.map(([x, y]) => [px(x), py(Math.min(y1, Math.max(y0, ty(y))))]);
    if (s.points)
      for (const [x, y] of coords)
        parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="1.8" fill="${color}"/>`);
    else if (coords.length > 0)
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${coords.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`,
      );
    const ly = M.top + 10 + 16 * i;
    parts.push(
      s.points
        ? `<circle cx="${W - M.right + 16}" cy="${ly - 4}" r="2.5" fill="${color}"/>`
        : `<rect x="${W - M.right + 10}" y="${ly - 6}" width="12" height="3" fill="${color}"/>`,
    );
    parts.push(`<text x="${W - M.right + 27}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Named loss histories as series of at most 300 points each (thin). */
export const historySeries = (histories: Record<string, number[]>): Series[] =>
  Object.entries(histories).map(([name, h]) => {
    const [x, y] = thin(h);
    return { name, x, y };
  });

/** Thins a long history to at most n points for plotting. */
function thin(y: number[], n = 300): Series['x'][] {
  const step = Math.max(1, Math.floor(y.length / n));
  const x: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < y.length; i += step) {
    x.push(i);
    v.push(y[i]);
  }
  return [x, v];
}
