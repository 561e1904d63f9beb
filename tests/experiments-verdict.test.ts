// The statistics the experiments judge trends with, and the composition verdict on synthetic error
// tables: growing, flat, noisy, and the few-chains table that once read as "matches".
import { ChainError, compositionClaims, depthTrends, outsideTraining } from '../src/experiments/composition';
import { Rng } from '../src/experiments/random';
import { median, ranks, slope, spearman } from '../src/experiments/stats';

describe('statistics', () => {
  test('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  test('ranks share the mean rank when tied', () => {
    expect(ranks([10, 30, 20, 20])).toEqual([1, 4, 2.5, 2.5]);
    expect(ranks([5, 5, 5])).toEqual([2, 2, 2]);
  });

  test("Spearman's rho: 1 - 6 sum d^2 / (n (n^2 - 1)) without ties; invariant under monotone maps", () => {
    expect(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]).rho).toBeCloseTo(0.8, 12);
    expect(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]).z).toBeCloseTo(0.8 * 2, 12);
    const x = [0.3, 1.2, 2.5, 4.1, 7];
    expect(spearman(x, x.map(Math.exp)).rho).toBeCloseTo(1, 12);
    expect(
      spearman(
        x,
        x.map((v) => -(v ** 3)),
      ).rho,
    ).toBeCloseTo(-1, 12);
    expect(spearman([1, 1, 1], [1, 2, 3]).rho).toBe(0);
  });

  test('least-squares slope', () => {
    expect(slope([1, 2, 3, 4], [4, 7, 10, 13])).toBeCloseTo(3, 12);
    // Pairs (0,0) (1,1) (2,1): slope = sum (x - 1)(y - 2/3) / sum (x - 1)^2 = 1/2.
    expect(slope([0, 1, 2], [0, 1, 1])).toBeCloseTo(0.5, 12);
    expect(slope([2, 2], [1, 5])).toBe(0);
  });
});

describe('composition verdict', () => {
  const DEPTHS = [2, 3, 4, 5, 6];
  /** perDepth chains per depth, each at ranges 1, 2, 4: log10 MSE = f(depth, range) + noise (in decades). */
  function table(
    perDepth: number,
    logMse: (depth: number, range: number) => number,
    noise: number,
    seed = 1,
  ): ChainError[] {
    const rng = new Rng(seed);
    const errors: ChainError[] = [];
    let chain = 0;
    for (const depth of DEPTHS)
      for (let i = 0; i < perDepth; i++, chain++) {
        const own = noise * rng.normal();
        for (const range of [1, 2, 4])
          errors.push({ chain, depth, range, mse: 10 ** (logMse(depth, range) + own + 0.3 * noise * rng.normal()) });
      }
    return errors;
  }
  const neural = (errors: ChainError[]) => compositionClaims(0, errors)[1];

  test('error growing with depth and with range: matches', () => {
    const errors = table(40, (d, k) => 0.5 * d + Math.log2(k), 0.5);
    const trends = depthTrends(errors);
    expect(trends.map((t) => t.range)).toEqual([1, 2, 4]);
    for (const t of trends) {
      expect(t.chains).toBe(200);
      expect(t.rho).toBeGreaterThan(0.5);
      expect(t.decadesPerLevel).toBeGreaterThan(0.4);
      expect(t.decadesPerLevel).toBeLessThan(0.6);
    }
    expect(outsideTraining(errors).worse).toBeGreaterThan(190);
    expect(outsideTraining(errors).medianRatio).toBeGreaterThan(10);
    const claim = neural(errors);
    expect(claim.verdict).toBe('matches');
    expect(claim.ours).toMatch(
      /^MSE against depth over 200 chains: 1x strong rise \(rho 0\.\d+, z \d+\.\d, \+0\.\d+ decades/,
    );
  });

  test('a small trend buried in noise is still found with 40 chains per depth', () => {
    // 0.2 decades per level under 1 decade of noise per chain
    const claim = neural(table(40, (d, k) => 0.2 * d + Math.log2(k), 1, 3));
    expect(claim.verdict).toBe('matches');
    expect(claim.ours).toMatch(/1x (weak|moderate) rise/);
  });

  test('flat error: short, whatever its largest value', () => {
    const errors = table(40, (_, k) => Math.log2(k), 1, 4);
    errors[7].mse = 5.9e9;
    for (const t of depthTrends(errors)) expect(Math.abs(t.z)).toBeLessThan(1.96);
    const claim = neural(errors);
    expect(claim.verdict).toBe('short');
    expect(claim.ours).toContain('not significant');
    expect(claim.ours).toContain('up to 5.90e+9');
  });

  test('4 chains per depth of pure noise with one large median (the quick run of issue 15): not matches', () => {
    const errors = table(4, (d) => (d === 3 ? 2.5 : 0), 1.5, 15);
    expect(neural(errors).verdict).not.toBe('matches');
  });

  test('growth on the training range only, or no worse outside: partly', () => {
    expect(neural(table(40, (d, k) => (k === 1 ? 0.5 * d : 0), 0.5)).verdict).toBe('partly');
    expect(neural(table(40, (d) => 0.5 * d, 0.5)).verdict).toBe('partly');
  });

  test('falling error is no growth: short', () => {
    expect(neural(table(40, (d, k) => -0.5 * d + Math.log2(k), 0.5)).verdict).toBe('short');
  });

  test('compiled chains match only when they equal the hand-coded float32 chains exactly', () => {
    const errors = table(10, (d, k) => 0.5 * d + Math.log2(k), 0.5);
    expect(compositionClaims(0, errors)[0].verdict).toBe('matches');
    expect(compositionClaims(1e-7, errors)[0].verdict).toBe('short');
    expect(compositionClaims(1e-7, errors)[0].ours).toContain('1.00e-7');
  });
});
