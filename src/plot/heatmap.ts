// Heat maps of 2-D fields as one SVG: panels side by side, each an embedded PNG (one pixel per cell,
// drawn unsmoothed) with x/y ticks over the field's extent and a colour bar with round-number ticks.
import { encodePng } from './png';
import { niceTicks, tickLabel } from './ticks';

export interface HeatmapPanel {
  title: string;
  /** rows x cols values, row-major; row 0 is drawn at the bottom (y grows upwards). */
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  /** Colour range; default the values' extent (symmetric about 0 when diverging). */
  range?: [number, number];
  /** Blue-white-red about 0 (errors, differences); default a sequential map (viridis). */
  diverging?: boolean;
}

export interface HeatmapOptions {
  title: string;
  /** The field's x and y extent, for the axis ticks; default [0, 1] each. */
  extent?: { x: [number, number]; y: [number, number] };
  /** Side of each panel's square, in pixels. */
  size?: number;
}

type Rgb = [number, number, number];

// Samples of matplotlib's viridis (perceptually uniform, colour-blind safe), interpolated linearly.
const VIRIDIS: Rgb[] = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 74, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [109, 205, 89],
  [180, 222, 44],
  [253, 231, 37],
];
const DIVERGING: Rgb[] = [
  [33, 102, 172],
  [103, 169, 207],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [239, 138, 98],
  [178, 24, 43],
];

function colour(map: Rgb[], t: number): Rgb {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (map.length - 1);
  const i = Math.min(map.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((c) => Math.round(map[i][c] + f * (map[i + 1][c] - map[i][c]))) as Rgb;
}

function panelRange(p: HeatmapPanel): [number, number] {
  if (p.range) return p.range;
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < p.values.length; k++) {
    const v = p.values[k];
    if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  }
  if (!(hi >= lo)) return [0, 1];
  if (p.diverging) {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    return [-m, m];
  }
  return hi > lo ? [lo, hi] : [lo - 1, hi + 1];
}

function pngDataUri(p: HeatmapPanel, [lo, hi]: [number, number]): string {
  if (p.values.length !== p.rows * p.cols)
    throw new RangeError(`heatmap '${p.title}': ${p.values.length} values for ${p.rows} x ${p.cols} cells`);
  const map = p.diverging ? DIVERGING : VIRIDIS;
  const rgb = new Uint8Array(p.rows * p.cols * 3);
  for (let r = 0; r < p.rows; r++)
    for (let c = 0; c < p.cols; c++) {
      // Image rows run top-down; the field's row 0 is at the bottom.
      const px = ((p.rows - 1 - r) * p.cols + c) * 3;
      rgb.set(colour(map, (p.values[r * p.cols + c] - lo) / (hi - lo)), px);
    }
  return `data:image/png;base64,${encodePng(p.cols, p.rows, rgb).toString('base64')}`;
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** The panels in a row, as a standalone SVG document. */
export function heatmapSvg(panels: HeatmapPanel[], o: HeatmapOptions): string {
  if (panels.length === 0) throw new RangeError('heatmapSvg: there are no panels');
  const size = o.size ?? 260;
  const extent = o.extent ?? { x: [0, 1], y: [0, 1] };
  const M = { left: 48, top: 56, bottom: 40, bar: 14, barGap: 10, barLabels: 56, gap: 24 };
  const panelW = M.left + size + M.barGap + M.bar + M.barLabels;
  const width = panels.length * panelW + M.gap;
  const height = M.top + size + M.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${escape(o.title)}</text>`,
  ];
  const at = (v: number, [a, b]: [number, number], from: number, to: number) =>
    from + ((v - a) / (b - a)) * (to - from);
  panels.forEach((p, i) => {
    const range = panelRange(p);
    const x0 = M.gap / 2 + i * panelW + M.left;
    const y0 = M.top;
    out.push(`<text x="${x0 + size / 2}" y="${y0 - 10}" text-anchor="middle" font-size="13">${escape(p.title)}</text>`);
    out.push(
      `<image x="${x0}" y="${y0}" width="${size}" height="${size}" preserveAspectRatio="none" style="image-rendering:pixelated" href="${pngDataUri(p, range)}"/>`,
      `<rect x="${x0}" y="${y0}" width="${size}" height="${size}" fill="none" stroke="#333"/>`,
    );
    for (const v of niceTicks(extent.x[0], extent.x[1], 5)) {
      const x = at(v, extent.x, x0, x0 + size);
      out.push(`<line x1="${x}" y1="${y0 + size}" x2="${x}" y2="${y0 + size + 4}" stroke="#333"/>`);
      out.push(`<text x="${x}" y="${y0 + size + 16}" text-anchor="middle">${tickLabel(v)}</text>`);
    }
    for (const v of niceTicks(extent.y[0], extent.y[1], 5)) {
      const y = at(v, extent.y, y0 + size, y0);
      out.push(`<line x1="${x0 - 4}" y1="${y}" x2="${x0}" y2="${y}" stroke="#333"/>`);
      out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${tickLabel(v)}</text>`);
    }
    out.push(`<text x="${x0 + size / 2}" y="${y0 + size + 32}" text-anchor="middle">x</text>`);
    // The colour bar: the map drawn from the bottom (lo) to the top (hi), with its ticks.
    const bx = x0 + size + M.barGap;
    const map = p.diverging ? DIVERGING : VIRIDIS;
    const id = `bar${i}`;
    out.push(`<defs><linearGradient id="${id}" x1="0" y1="1" x2="0" y2="0">`);
    map.forEach((c, k) => out.push(`<stop offset="${k / (map.length - 1)}" stop-color="rgb(${c.join(',')})"/>`));
    out.push('</linearGradient></defs>');
    out.push(`<rect x="${bx}" y="${y0}" width="${M.bar}" height="${size}" fill="url(#${id})" stroke="#333"/>`);
    for (const v of niceTicks(range[0], range[1], 6)) {
      const y = at(v, range, y0 + size, y0);
      out.push(`<line x1="${bx + M.bar}" y1="${y}" x2="${bx + M.bar + 4}" y2="${y}" stroke="#333"/>`);
      out.push(`<text x="${bx + M.bar + 6}" y="${y + 4}">${tickLabel(v)}</text>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
