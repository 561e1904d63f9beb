// Wrong arguments at the entry points a user meets first: each is an Error naming the function and
// the argument, never a setting silently ignored or a JavaScript TypeError from deep inside.
import {
  CompileError,
  chain,
  compile,
  diagnosticToJson,
  graphToText,
  graphToDot,
  parseProgram,
  renderDiagnostic,
  run,
  tensor,
  tidy,
  zeros,
} from '../src';

describe('compile and run', () => {
  test('the source must be a string', () => {
    expect(() => compile(5 as never)).toThrow(new TypeError('compile: the source must be a string, got number 5'));
    expect(() => run(undefined as never)).toThrow(new TypeError('run: the source must be a string, got undefined'));
    expect(() => parseProgram(null as never)).toThrow(
      new TypeError('parseProgram: the source must be a string, got null'),
    );
    expect(() => parseProgram('x', null as never)).toThrow(
      new TypeError('parseProgram: options must be an object, got null'),
    );
  });

  test('a misspelt option is named with the ones there are', () => {
    expect(() => compile('(* k x)', { dtyp: 'float64' } as never)).toThrow(
      new TypeError(
        "compile: unknown option 'dtyp' (expected one of file, inputs, params, dtype, device, limit, maxSteps, optimize, fuse, tier, checkpoint, functions)",
      ),
    );
    expect(() => run('(+ x 1)', { inputs: { x: 1 }, grads: true } as never)).toThrow(
      /^run: unknown option 'grads' \(expected one of .*batch, grad\)$/,
    );
    expect(() => compile('x', 'fast' as never)).toThrow(
      new TypeError('compile: options must be an object, got the string "fast"'),
    );
  });

  test('option values of the wrong kind', () => {
    expect(() => compile('x', { dtype: 'float16' as never })).toThrow(
      new TypeError(`compile: dtype must be 'float32' or 'float64', got the string "float16"`),
    );
    expect(() => compile('x', { optimize: 'yes' as never })).toThrow(
      new TypeError('compile: optimize must be true or false, got the string "yes"'),
    );
    expect(() => compile('x', { fuse: 0 as never })).toThrow(
      new TypeError('compile: fuse must be true or false, got number 0'),
    );
    expect(() => compile('x', { file: 5 as never })).toThrow(
      new TypeError('compile: file must be a string, got number 5'),
    );
    expect(() => compile('x', { functions: 5 as never })).toThrow(
      /^compile: functions must be an object of modules and MLPs by name, got number 5$/,
    );
    expect(() => run('x', { inputs: { x: 1 }, grad: 'yes' as never })).toThrow(
      new TypeError('run: grad must be true or false, got the string "yes"'),
    );
    expect(() => run('x', { inputs: [1] as never })).toThrow(/^run: inputs must be an object of input values by name/);
  });

  test('a device is checked when compiling, not blamed on the first input', () => {
    expect(() => compile('(* 2 x)', { device: 'tpu' as never })).toThrow(
      /^compile: unknown device 'tpu': use 'cpu' or 'cuda'/,
    );
    expect(() => compile('(* 2 x)', { device: 3 as never })).toThrow(/^compile: device must be 'cpu' or 'cuda'/);
    const m = compile('(* 2 x)', { device: 'cpu' });
    expect(m.forward({ x: 2 }).item()).toBe(4);
    m.dispose();
  });

  test('forward options', () => {
    const m = compile('(* 2 x)');
    expect(() => m.forward({ x: 1 }, null as never)).toThrow(
      new TypeError('forward: options must be an object, got null'),
    );
    expect(() => m.forward({ x: [1, 2] }, { bacth: true } as never)).toThrow(
      /^forward: unknown option 'bacth' \(expected one of batch, grad\)$/,
    );
    expect(() => m.forward({ x: 1 }, { grad: 1 as never })).toThrow(
      new TypeError('forward: grad must be true or false, got number 1'),
    );
    expect(m.forward({ x: [1, 2] }, { batch: true }).toArray()).toEqual([2, 4]);
    m.dispose();
  });

  test('chain takes modules', () => {
    const m = compile('(* 2 x)');
    expect(() => chain(m, 5 as never)).toThrow(
      new TypeError('chain(): argument 2 must be a compiled Module, got number 5'),
    );
    m.dispose();
  });
});

describe('printers and renderers', () => {
  test('take what a module or a CompileError holds, and say so otherwise', () => {
    expect(() => graphToText({} as never)).toThrow(
      new TypeError("graphToText: expected a module's graph (module.graph), got object"),
    );
    expect(() => graphToDot(undefined as never)).toThrow(
      new TypeError("graphToDot: expected a module's graph (module.graph), got undefined"),
    );
    const e = (() => {
      try {
        compile('(+ x');
      } catch (err) {
        return err as CompileError;
      }
      throw new Error('expected a CompileError');
    })();
    expect(renderDiagnostic(e.diagnostics[0], e.source)).toMatch(/error\[E\d+\]/);
    expect(() => renderDiagnostic(e.diagnostics[0], undefined as never)).toThrow(
      /^renderDiagnostic: expected a diagnostic and its source, as a CompileError holds them/,
    );
    expect(() => diagnosticToJson('E0001' as never, e.source)).toThrow(
      /^diagnosticToJson: expected a diagnostic and its source/,
    );
  });
});

describe('tensors', () => {
  test('options that are not an object, and tidy without a function', () => {
    expect(() => zeros([2], null as never)).toThrow(new TypeError('tensor options must be an object, got null'));
    expect(() => tensor([1]).to(undefined as never)).toThrow(
      new TypeError('to() takes { dtype, device }, got undefined'),
    );
    expect(() => tensor([1]).to({ dtype: 'int8' as never })).toThrow(
      /^dtype must be 'float32' or 'float64', got the string "int8"/,
    );
    expect(tensor([1]).to({ dtype: 'float64' }).dtype).toBe('float64');
    expect(() => tidy(5 as never)).toThrow(new TypeError('tidy() takes a function to run, got number 5'));
  });
});
