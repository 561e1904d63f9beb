// The forms: walks the typed AST for one sample, building the graph of Values.
//
// Written as a recursive evaluator whose recursion runs on an explicit stack: `evaluate` is a
// generator that yields the sub-expressions it needs and receives their values, and `run` drives a
// heap-allocated stack of those generators. So user recursion (up to the call-depth limit) and
// deep nesting never grow the JS stack, and loops iterate in place.

import { Expr, FunctionDef, Program } from '../ast';
import { REFERENCE_PRIMITIVES } from './primitives';
import { Tensor, elementwise, scalar } from './tensor';
import { Value, constant, select } from './value';

/** The value of a `recur`: travels up through tail positions to its loop. */
class Recur {
  constructor(
    readonly loop: number,
    readonly args: Tensor[],
  ) {}
}

type Result = Tensor | Recur;

interface Closure {
  def: FunctionDef;
  env: Env | undefined;
}

/** Lexical environment: a chain of local bindings and letrec scopes. */
type Env =
  { parent: Env | undefined; id: number; value: Tensor } | { parent: Env | undefined; functions: Map<string, Closure> };

type Task = { expr: Expr; env: Env | undefined };
type Gen = Generator<Task, Result, Result>;

const bind = (env: Env | undefined, id: number, value: Tensor): Env => ({ parent: env, id, value });

export class Interpreter {
  private depth = 0;
  private readonly functions = new Map<string, Closure>();
  private readonly defines = new Map<string, Tensor>();

  constructor(
    private readonly program: Program,
    private readonly free: Map<string, Tensor>,
    private readonly limit: number,
  ) {
    for (const def of program.functions) this.functions.set(def.name, { def, env: undefined });
  }

  /** Evaluates the program's `define`d values and then its result. */
  evaluateProgram(): Tensor {
    for (const d of this.program.values) this.defines.set(d.name, this.run(d.value, `the value of '${d.name}'`));
    return this.run(this.program.result, 'the result');
  }

  run(expr: Expr, what: string): Tensor {
    const stack: Gen[] = [this.evaluate(expr, undefined)];
    let input: Result | undefined;
    for (;;) {
      const step = stack[stack.length - 1].next(input as Result);
      if (step.done) {
        stack.pop();
        if (stack.length === 0) return this.value(step.value, what);
        input = step.value;
      } else {
        stack.push(this.evaluate(step.value.expr, step.value.env));
        input = undefined;
      }
    }
  }

  /** A Result where a value is required (anywhere but a tail position of a loop body). */
  private value(r: Result, what: string): Tensor {
    if (r instanceof Recur) throw new Error(`recur used as ${what}: it must be in tail position of its loop`);
    return r;
  }

  private *evaluate(e: Expr, env: Env | undefined): Gen {
    switch (e.kind) {
      case 'number':
        return constant(e.value);
      case 'bool':
        return constant(e.value ? 1 : 0);
      case 'var':
        return this.lookup(e, env);
      case 'call': {
        const args: Tensor[] = [];
        for (const a of e.args) args.push(this.value(yield { expr: a, env }, `an argument of '${e.callee.name}'`));
        const callee = e.callee;
        if (callee.kind === 'primitive') {
          const impl = REFERENCE_PRIMITIVES[callee.name];
          if (!impl) throw new Error(`unknown primitive '${callee.name}'`);
          return impl(args);
        }
        if (callee.kind === 'external')
          throw new Error(`external function '${callee.name}' has no reference implementation`);
        const fn = this.lookupFunction(callee.name, env);
        if (args.length !== fn.def.params.length)
          throw new Error(`function '${callee.name}' takes ${fn.def.params.length} arguments, got ${args.length}`);
        if (++this.depth > this.limit)
          throw new Error(`recursion depth limit ${this.limit} exceeded in function '${callee.name}'`);
        let inner = fn.env;
        fn.def.params.forEach((p, i) => (inner = bind(inner, p.id, args[i])));
        const r = this.value(yield { expr: fn.def.body, env: inner }, `the result of function '${callee.name}'`);
        this.depth--;
        return r;
      }
      case 'let': {
        let inner = env;
        for (const b of e.bindings)
          inner = bind(
            inner,
            b.binding.id,
            this.value(yield { expr: b.value, env: inner }, `the value of '${b.binding.name}'`),
          );
        return yield { expr: e.body, env: inner };
      }
      case 'if': {
        const t = yield { expr: e.test, env };
        if (t instanceof Recur || t instanceof Value)
          return yield { expr: this.test(t) ? e.consequent : e.alternative, env };
        // A vector or matrix test selects element by element between both (evaluated) branches.
        const a = this.value(yield { expr: e.consequent, env }, 'a branch of if');
        const b = this.value(yield { expr: e.alternative, env }, 'a branch of if');
        return elementwise([t, a, b], ([c, x, y]) => select(c.data !== 0, x, y));
      }
      case 'cond': {
        for (const c of e.clauses) if (this.test(yield { expr: c.test, env })) return yield { expr: c.body, env };
        return yield { expr: e.otherwise, env };
      }
      case 'letrec': {
        const functions = new Map<string, Closure>();
        const scope: Env = { parent: env, functions };
        for (const def of e.functions) functions.set(def.name, { def, env: scope });
        return yield { expr: e.body, env: scope };
      }
      case 'loop': {
        const names = e.bindings.map((b) => b.binding.name).join(' ');
        let values: Tensor[] = [];
        let initEnv = env;
        for (const b of e.bindings) {
          const v = this.value(yield { expr: b.init, env: initEnv }, `the initial value of '${b.binding.name}'`);
          values.push(v);
          initEnv = bind(initEnv, b.binding.id, v);
        }
        for (let iteration = 1; ; iteration++) {
          if (iteration > this.limit)
            throw new Error(
              `loop (${names}) at ${e.span.start}-${e.span.end} exceeded the iteration limit ${this.limit}`,
            );
          let inner = env;
          e.bindings.forEach((b, i) => (inner = bind(inner, b.binding.id, values[i])));
          const r = yield { expr: e.body, env: inner };
          if (!(r instanceof Recur) || r.loop !== e.id) return r;
          if (r.args.length !== values.length)
            throw new Error(`recur passes ${r.args.length} values to a loop of ${values.length}`);
          values = r.args;
        }
      }
      case 'recur': {
        const args: Tensor[] = [];
        for (const a of e.args) args.push(this.value(yield { expr: a, env }, 'an argument of recur'));
        return new Recur(e.loop, args);
      }
    }
  }

  private test(r: Result): boolean {
    return scalar(this.value(r, 'a test'), 'a test').data !== 0;
  }

  private lookup(e: Extract<Expr, { kind: 'var' }>, env: Env | undefined): Tensor {
    const ref = e.ref;
    switch (ref.kind) {
      case 'pi':
        return constant(Math.PI);
      case 'free': {
        const v = this.free.get(ref.name);
        if (!v) throw new Error(`no value for '${ref.name}'`);
        return v;
      }
      case 'define': {
        const v = this.defines.get(ref.name);
        if (!v) throw new Error(`'${ref.name}' is used before its definition`);
        return v;
      }
      case 'local':
        for (let s = env; s; s = s.parent) if ('id' in s && s.id === ref.id) return s.value;
        throw new Error(`internal: local '${e.name}' (#${ref.id}) is not bound`);
    }
  }

  private lookupFunction(name: string, env: Env | undefined): Closure {
    for (let s = env; s; s = s.parent) {
      const f = 'functions' in s ? s.functions.get(name) : undefined;
      if (f) return f;
    }
    const f = this.functions.get(name);
    if (!f) throw new Error(`unknown function '${name}'`);
    return f;
  }
}
