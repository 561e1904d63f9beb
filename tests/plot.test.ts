// Axis ticks (src/plot/ticks.ts) and the experiments' line plot that uses them (src/experiments/plot.ts).
import { linePlot } from '../src/experiments/plot';
import { logTicks, niceTicks, tickLabel } from '../src/plot/ticks';
import { Rng } from '../src/experiments/random';

/** The labels of the y axis (right-aligned text) and of the x axis (centred text below the frame). */
const yLabels = (svg: string) => [...svg.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => m[1]);
const xLabels = (svg: string) => [...svg.matchAll(/y="367" text-anchor="middle">([^<]*)</g)].map((m) => m[1]);

describe('linear ticks', () => {
  test('round steps inside the range, 4 to 8 of them', () => {
    expect(niceTicks(0, 0.37)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(niceTicks(0, 1.01)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 599)).toEqual([0, 100, 200, 300, 400, 500]);
    expect(niceTicks(2, 6)).toEqual([2, 3, 4, 5, 6]);
  });

  test('negative ranges and a single value', () => {
    expect(niceTicks(-7.3, -0.2)).toEqual([-7, -6, -5, -4, -3, -2, -1]);
    expect(niceTicks(-2, 2)).toEqual([-2, -1, 0, 1, 2]);
    expect(niceTicks(3, 3)).toEqual([3]);
    expect(niceTicks(-1e-7, -1e-7)).toEqual([-1e-7]);
  });

  test('any range: 4 to 8 evenly spaced multiples of 1, 2, 2.5 or 5 times a power of ten', () => {
    const rng = new Rng(5);
    for (let k = 0; k < 2000; k++) {
      const width = 10 ** rng.uniform(-9, 9);
      const centre = width * rng.uniform(-1, 1) * 10 ** rng.uniform(0, 6);
      const [lo, hi] = [centre - width * rng.next(), centre + width * rng.next()];
      const t = niceTicks(lo, hi);
      const at = { lo, hi, t };
      expect({ ...at, count: t.length >= 4 && t.length <= 8 }).toEqual({ ...at, count: true });
      expect({ ...at, inside: t[0] >= lo - 1e-9 * width && t[t.length - 1] <= hi + 1e-9 * width }).toEqual({
        ...at,
        inside: true,
      });
      const step = t[1] - t[0];
      const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
      expect({ ...at, round: [1, 2, 2.5, 5].some((m) => Math.abs(mantissa - m) < 1e-6) }).toEqual({
        ...at,
        round: true,
      });
      for (let i = 1; i < t.length; i++) expect(Math.abs(t[i] - t[i - 1] - step)).toBeLessThan(1e-6 * step);
    }
  });
});

describe('log ticks', () => {
  test('every decade when there are 4 or more', () => {
    expect(logTicks(1e-6, 1e2)).toEqual([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100]);
    expect(logTicks(3e-17, 0.05)).toHaveLength(15);
  });

  test('every 2nd, 5th... decade beyond 20 decades', () => {
    expect(logTicks(1e-30, 1e10)).toEqual([1e-30, 1e-25, 1e-20, 1e-15, 1e-10, 1e-5, 1, 1e5, 1e10]);
    expect(logTicks(1e-20, 1e10)).toEqual(Array.from({ length: 16 }, (_, i) => Number(`1e${2 * i - 20}`)));
  });

  test('1-2-5 steps over a few decades; linear steps within one', () => {
    expect(logTicks(0.05, 20)).toEqual([0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]);
    expect(logTicks(0.11, 0.74)).toEqual([0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
  });

  test('a single value; a range that is not positive is an error', () => {
    expect(logTicks(4, 4)).toEqual([4]);
    expect(() => logTicks(0, 1)).toThrow('not positive');
    expect(() => logTicks(-5, -1)).toThrow('not positive');
  });

  test('labels print each tick exactly', () => {
    expect([1e-6, 1.5e-4, 0.001, 0.37, 0, -2.5, 2500, 25000].map(tickLabel)).toEqual([
      '1e-6',
      '1.5e-4',
      '0.001',
      '0.37',
      '0',
      '-2.5',
      '2500',
      '2.5e+4',
    ]);
    expect(tickLabel(0.1 + 0.2)).toBe('0.3');
  });
});

describe('linePlot', () => {
  const steps = Array.from({ length: 50 }, (_, i) => i);

  test('a log axis over eight decades labels every decade; one line and one legend entry per series', () => {
    const svg = linePlot(
      [
        { name: 'fast', x: steps, y: steps.map((i) => 100 * 10 ** (-i / 6)) },
        { name: 'slow', x: steps, y: steps.map((i) => 1 / (1 + i)) },
        { name: 'flat', x: steps, y: steps.map(() => 0.5) },
      ],
      { title: 't', xLabel: 'epoch', yLabel: 'loss', logY: true },
    );
    expect(yLabels(svg)).toEqual(['1e-6', '1e-5', '1e-4', '0.001', '0.01', '0.1', '1', '10', '100']);
    expect(xLabels(svg)).toEqual(['0', '10', '20', '30', '40']);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    for (const name of ['fast', 'slow', 'flat']) expect(svg).toContain(`>${name}</text>`);
  });

  test('a linear axis gets 4 to 8 round ticks', () => {
    const svg = linePlot([{ name: 's', x: [0, 1, 2], y: [0, 0.2, 0.37] }], { title: 't', xLabel: 'x', yLabel: 'y' });
    // the padded range [-0.0185, 0.3885]
    expect(yLabels(svg)).toEqual(['0', '0.1', '0.2', '0.3']);
    expect(xLabels(svg)).toEqual(['0', '0.5', '1', '1.5', '2']);
  });
});
