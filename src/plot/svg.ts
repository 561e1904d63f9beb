// A tiny dependency-free SVG plotter: x/y axes with round-number ticks, labels, a legend, and any
// number of series drawn as lines or scatter points.
import { niceTicks, tickLabel } from './ticks';

export interface Series {
  label: string;
  x: number[];
  y: number[];
  /** Default 'line'. */
  style?: 'line' | 'scatter';
  /** Any SVG colour; default from a colour-blind-safe palette. */
  color?: string;
}

export interface PlotOptions {
  series: Series[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

// Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies.
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];
const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 };

const escape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number): string => String(Number(v.toFixed(2)));

/** The range an axis shows: the data's extent (widened when flat) out to the enclosing tick steps. */
function axisRange(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const [a, b] = niceTicks(lo, hi);
  const step = b - a;
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}

/** The plot as a standalone SVG document. */
export function plotSvg(options: PlotOptions): string {
  const { series, width = 720, height = 420 } = options;
  if (series.length === 0) throw new RangeError('plotSvg: there are no series to plot');
  for (const s of series) {
    if (s.x.length !== s.y.length)
      throw new RangeError(`plotSvg: series '${s.label}' has ${s.x.length} x values but ${s.y.length} y values`);
    if (s.x.length === 0) throw new RangeError(`plotSvg: series '${s.label}' is empty`);
    if ([...s.x, ...s.y].some((v) => !Number.isFinite(v)))
      throw new RangeError(`plotSvg: series '${s.label}' has values that are not finite`);
  }
  const [x0, x1] = axisRange(series.flatMap((s) => s.x));
  const [y0, y1] = axisRange(series.flatMap((s) => s.y));
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number): number => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (y: number): number => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;
  const bottom = MARGIN.top + plotH;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  for (const v of niceTicks(x0, x1)) {
    out.push(`<line x1="${fmt(px(v))}" y1="${MARGIN.top}" x2="${fmt(px(v))}" y2="${bottom}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${fmt(px(v))}" y="${bottom + 16}" text-anchor="middle">${tickLabel(v)}</text>`);
  }
  for (const v of niceTicks(y0, y1)) {
    out.push(
      `<line x1="${MARGIN.left}" y1="${fmt(py(v))}" x2="${MARGIN.left + plotW}" y2="${fmt(py(v))}" stroke="#e5e5e5"/>`,
    );
    out.push(`<text x="${MARGIN.left - 6}" y="${fmt(py(v) + 4)}" text-anchor="end">${tickLabel(v)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  if (options.title)
    out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escape(options.title)}</text>`);
  if (options.xLabel)
    out.push(
      `<text x="${MARGIN.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escape(options.xLabel)}</text>`,
    );
  if (options.yLabel)
    out.push(
      `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(options.yLabel)}</text>`,
    );

  series.forEach((s, i) => {
    const color = escape(s.color ?? PALETTE[i % PALETTE.length]);
    if (s.style === 'scatter') {
      out.push(`<g fill="${color}" fill-opacity="0.7">`);
      s.x.forEach((x, k) => out.push(`<circle cx="${fmt(px(x))}" cy="${fmt(py(s.y[k]))}" r="2.5"/>`));
      out.push('</g>');
    } else {
      const points = s.x.map((x, k) => `${fmt(px(x))},${fmt(py(s.y[k]))}`).join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
    }
    // Legend entries stack in the top-right corner.
    const ly = MARGIN.top + 14 + i * 18;
    const lx = MARGIN.left + plotW - 150;
    out.push(
      s.style === 'scatter'
        ? `<circle cx="${lx + 10}" cy="${ly - 4}" r="3" fill="${color}"/>`
        : `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
    );
    out.push(`<text x="${lx + 26}" y="${ly}">${escape(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
