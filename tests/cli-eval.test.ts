// `neuralc eval` and `neuralc graph`, run in-process; expected values are worked out by hand.
import path from 'path';
import { runMain } from './helpers/cli';
import { expectGolden } from './helpers/golden';

const cli = runMain;

const example = (name: string) => path.join(__dirname, '..', 'examples', name);
const json = async (...argv: string[]) => {
  const r = await cli(...argv, '--json');
  return { ...r, out: JSON.parse(r.stdout) };
};

describe('neuralc eval', () => {
  // F = G m1 m2 / r^2 with G = 6.674, m1 = 2, m2 = 3, r = 2: 6.674 * 6 / 4.
  const gravity = [
    'eval',
    example('feynman/gravity.neural'),
    '--inputs',
    '{"m1": 2, "m2": 3, "r": 2}',
    '--params',
    '{"G": 6.674}',
  ];

  test('value and hand derivatives of Newton gravity', async () => {
    const r = await json(...gravity, '--grad', '--dtype', 'float64');
    expect(r.code).toBe(0);
    expect(r.out.shape).toEqual([]);
    expect(r.out.value).toBeCloseTo(10.011, 12);
    expect(r.out.grad.G).toBeCloseTo(6 / 4, 12); // m1 m2 / r^2
    expect(r.out.grad.m1).toBeCloseTo((6.674 * 3) / 4, 12); // G m2 / r^2
    expect(r.out.grad.m2).toBeCloseTo((6.674 * 2) / 4, 12); // G m1 / r^2
    expect(r.out.grad.r).toBeCloseTo((-2 * 6.674 * 6) / 8, 12); // -2 G m1 m2 / r^3
  });

  test('readable output prints float32 values at their own precision, one grad line per name', async () => {
    const r = await cli(...gravity, '--grad');
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: '10.011\ngrad G: 1.5\ngrad m1: 5.0055\ngrad m2: 3.337\ngrad r: -10.011\n',
    });
  });

  test('--json stdout is exactly the run result with value, shape and grad', async () => {
    const r = await cli(
      'eval',
      '-e',
      '(* k x)',
      '--inputs',
      '{"x": [1, 2]}',
      '--params',
      '{"k": 3}',
      '--grad',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('{"value":[3,6],"shape":[2],"grad":{"k":3,"x":[3,3]}}\n');
  });

  test('--batch evaluates each sample: gravity over two samples, gcd with per-sample recursion depth', async () => {
    const batch = await json(
      'eval',
      example('feynman/gravity.neural'),
      '--batch',
      '--params',
      '{"G": 1}',
      '--inputs',
      '{"m1": [2, 1], "m2": [3, 4], "r": [2, 1]}',
    );
    expect(batch.out).toEqual({ value: [1.5, 4], shape: [2] });
    const gcd = await json(
      'eval',
      example('loops/gcd.neural'),
      '--batch',
      '--inputs',
      '{"a": [12, 35, 7], "b": [18, 14, 0]}',
    );
    expect(gcd.out).toEqual({ value: [6, 7, 7], shape: [3] });
  });

  test('vectors and matrices: 3-D gravity and a batched heat step', async () => {
    // -(G m1 m2 / |r|^3) r with |r| = 5: -(2 / 125) [3, 4, 0].
    const g3 = await json(
      'eval',
      example('gravity_3d.neural'),
      '--dtype',
      'float64',
      '--params',
      'G',
      '--inputs',
      '{"r": [3, 4, 0], "m1": 1, "m2": 2}',
    );
    expect(g3.out.shape).toEqual([3]);
    [-0.048, -0.064, 0].forEach((v, i) => expect(g3.out.value[i]).toBeCloseTo(v, 12));
    // u + dt alpha (L u), L = [[-2, 1], [1, -2]], dt = 0.5, alpha = 1 (a bare param name starts at 1).
    const heat = await json(
      'eval',
      example('heat_step.neural'),
      '--batch',
      '--params',
      'alpha',
      '--inputs',
      '{"u": [[1, 0], [0, 2]], "L": [[[-2, 1], [1, -2]], [[-2, 1], [1, -2]]], "dt": [0.5, 0.5]}',
    );
    expect(heat.out).toEqual({
      value: [
        [0, 0.5],
        [1, 0],
      ],
      shape: [2, 2],
    });
  });

  test('the branch not taken never reaches the value or the gradient', async () => {
    const r = await json('eval', '-e', '(if (> x 0) (sqrt x) 0)', '--batch', '--grad', '--inputs', '{"x": [4, -1]}');
    expect(r.out).toEqual({ value: [2, 0], shape: [2], grad: { x: [0.25, 0] } });
  });

  test('NaN and infinities are strings in --json output and accepted in --inputs', async () => {
    const r = await json('eval', '-e', '(log x)', '--inputs', '{"x": [0, -1, 1, "Infinity"]}');
    expect(r.out).toEqual({ value: ['-Infinity', 'NaN', 0, 'Infinity'], shape: [4] });
    expect((await cli('eval', '-e', '(log x)', '--inputs', '{"x": 0}')).stdout).toBe('-Infinity\n');
  });

  test('matrices print one row per line', async () => {
    const r = await cli('eval', '-e', '(transpose m)', '--inputs', '{"m": [[1, 2], [3, 4]]}');
    expect(r.stdout).toBe('[[1, 3],\n [2, 4]]\n');
  });

  describe('errors', () => {
    test('an unbound identifier: exit 1, rendered diagnostic on stderr, JSON error with its position', async () => {
      const r = await json('eval', '-e', '(* 2\n   velocty)', '--inputs', '{"velocity": 1}');
      expect(r.code).toBe(1);
      expect(r.out.error).toMatchObject({ code: 'E0030', message: "unbound identifier 'velocty'", line: 2, column: 4 });
      expect(r.out.error.diagnostics.map((d: { code: string }) => d.code)).toEqual(['E0030']);
      expect(r.stderr).toContain("<-e>:2:4: error[E0030]: unbound identifier 'velocty'");
      expect(r.stderr).toContain("help: did you mean 'velocity'?");
    });

    test('an input left out of --inputs is named as a missing input, with how to give it', async () => {
      const r = await json('eval', example('feynman/gravity.neural'), '--inputs', '{"m1": 2, "r": 2}', '--params', 'G');
      expect(r.out.error).toMatchObject({ code: 'E0200', message: "input 'm2' is missing", line: 3 });
      expect(r.stderr).toContain(`${example('feynman/gravity.neural')}:3:`);
      expect(r.stderr).toContain(`--inputs '{"m2": 1}'`);
      // Without --inputs at all: no did-you-mean to a primitive (tau is not a misspelt tan).
      const none = await json('eval', '-e', '(* 2 tau)');
      expect(none.out.error).toMatchObject({ code: 'E0200', message: "input 'tau' is missing", line: 1, column: 6 });
      expect(none.stderr).not.toContain("did you mean 'tan'");
    });

    test('a loop past --limit names the loop', async () => {
      const withLimit = (limit: string) =>
        json('eval', '-e', '(loop ((i 0)) (if (< i n) (recur (+ i 1)) i))', '--inputs', '{"n": 50}', '--limit', limit);
      const r = await withLimit('10');
      expect(r.code).toBe(1);
      expect(r.out.error).toMatchObject({
        code: 'E0205',
        message: 'loop at 1:1 exceeded its limit of 10',
        line: 1,
        column: 1,
      });
      const within = await withLimit('100');
      expect(within.out).toEqual({ value: 50, shape: [] });
    });

    test('errors without a source location have null code, line and column', async () => {
      const r = await json('eval', path.join(__dirname, 'no-such-file.neural'));
      expect(r.code).toBe(1);
      expect(r.out.error).toMatchObject({ code: 'E0299', line: null, column: null });
      expect(r.out.error.message).toMatch(/cannot read .*no-such-file\.neural: ENOENT$/);
      // Source text given where a file goes: the message points at -e.
      const inline = await json('eval', '(* 2 x)');
      expect(inline.out.error.message).toBe(
        'cannot read (* 2 x): ENOENT (to run source text rather than a file, pass it with -e)',
      );
    });

    test('bad option values are usage errors naming the flag (exit 2, a JSON usage error on stdout)', async () => {
      const cases: [string[], string][] = [
        [['--inputs', '{x: 1}'], '--inputs is not valid JSON'],
        [['--params', '[1]'], '--params must be a JSON object'],
        [['--dtype', 'float16'], '--dtype must be float32 or float64'],
        [['--limit', '1.5'], '--limit must be a whole number'],
        [['extra.neural'], 'give either FILE or -e SOURCE'],
      ];
      for (const [args, message] of cases) {
        const r = await cli('eval', '-e', 'x', ...args, '--json');
        expect(r.code).toBe(2);
        expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'usage', line: null, column: null });
        expect(JSON.parse(r.stdout).error.message).toContain(message);
        expect(r.stderr).toContain(message);
      }
      expect((await cli('eval')).code).toBe(2);
      expect((await cli('eval', '-e')).stderr).toContain('-e needs the program source');
    });
  });
});

describe('neuralc graph', () => {
  const golden = (name: string, actual: string) => expectGolden(path.join(__dirname, 'golden', 'graph', name), actual);

  test("without --inputs and --params, the file's @inputs and @params lines declare them", async () => {
    const r = await cli('graph', example('grids/heat2d_periodic.neural'));
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain('input u0 : matrix[64x64]');
    expect(r.stdout).toContain('input steps : scalar');
    expect(r.stdout).toContain('param alpha : scalar');
    expect(r.stdout).toMatch(/stencil-step .* : matrix\[64x64\]/); // the step fused
  });

  test('text output of the heat step with declared shapes matches the golden file', async () => {
    const r = await cli(
      'graph',
      example('heat_step.neural'),
      '--inputs',
      '{"u": [3], "L": [3, 3], "dt": "scalar"}',
      '--params',
      'alpha',
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    golden('heat_step.txt', r.stdout);
  });

  test('free identifiers default to scalar inputs; --no-optimize keeps what folding removes', async () => {
    const folded = await cli('graph', '-e', '(+ x (* 2 3))');
    expect(folded.stdout).toContain('%0 = input x : scalar');
    expect(folded.stdout).toContain('%1 = const 6 : scalar');
    const raw = await cli('graph', '-e', '(+ x (* 2 3))', '--no-optimize');
    expect(raw.stdout).toContain('%3 = * %1 %2 : scalar');
  });

  test('DOT output', async () => {
    const r = await cli('graph', '-e', '(dot u u)', '--inputs', '{"u": [2]}', '--format', 'dot');
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('digraph')).toBe(true);
    expect(r.stdout).toContain('vector[2]');
  });

  test('shape errors are diagnostics; a bad --format is a usage error', async () => {
    const r = await cli('graph', '-e', '(dot u v)', '--inputs', '{"u": [2], "v": [3]}');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^<-e>:1:1: error\[E0100\]/);
    expect((await cli('graph', '-e', 'x', '--format', 'svg')).code).toBe(2);
  });
});
