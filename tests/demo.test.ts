import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../src/cli/main';
import { plotSvg } from '../src/plot/svg';
import { niceTicks } from '../src/plot/ticks';

/** Every tag closes, in order: enough to catch a malformed document without an XML parser. */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const [, close, name, selfClosing] of svg.matchAll(/<(\/?)([a-z]+)\b[^>]*?(\/?)>/g)) {
    if (selfClosing) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
}

test('the demo recovers the damped pendulum constants within 5% and writes the plot', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuralc-demo-'));
  let stdout = '';
  const io = {
    stdout: (t: string) => void (stdout += t),
    stderr: (t: string) => void (stdout += t),
    readFile: (p: string) => fs.readFileSync(p),
  };
  expect(await main(['demo', '--out', dir, '--json'], io)).toBe(0);
  const result = JSON.parse(stdout);
  expect(result.true).toEqual({ g_L: 9.81, b: 0.3 });
  expect(result.relativeError.g_L).toBeLessThan(0.05);
  expect(result.relativeError.b).toBeLessThan(0.05);
  expect(Math.abs(result.recovered.g_L - 9.81) / 9.81).toBeCloseTo(result.relativeError.g_L, 10);
  const svg = fs.readFileSync(path.join(dir, 'pendulum.svg'), 'utf8');
  expectWellFormed(svg);
  for (const label of ['theta (data)', 'omega (data)', 'theta (fit)', 'omega (fit)'])
    expect(svg).toContain(`>${label}</text>`);
  expect(svg.match(/<circle /g)!.length).toBe(2 * 201 + 2);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('plotSvg', () => {
  test('round ticks covering the range', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(-0.93, 1.02)).toEqual([-0.5, 0, 0.5, 1]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });

  test('escapes labels and rejects series it cannot draw', () => {
    const svg = plotSvg({ title: 'a < b & c', series: [{ label: 'x"y', x: [0, 1], y: [1, 1] }] });
    expectWellFormed(svg);
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toContain('x&quot;y');
    expect(() => plotSvg({ series: [] })).toThrow('no series');
    expect(() => plotSvg({ series: [{ label: 's', x: [0, 1], y: [1] }] })).toThrow(
      "series 's' has 2 x values but 1 y values",
    );
    expect(() => plotSvg({ series: [{ label: 's', x: [0], y: [NaN] }] })).toThrow('not finite');
  });
});
