// `neuralc fit PROGRAM --data FILE.csv --params JSON ...`: fits a program's parameters to a CSV table,
// either as a function of its input columns (algebraic) or as the right-hand side of an ODE whose
// observed states are columns (--ode).
import { compile, type Module } from '../../api';
import { column, parseCsv, type NumericTable } from '../../io/csv';
import type { Nested } from '../../runtime/host-data';
import type { Device } from '../../runtime/tensor';
import { BACKENDS, rankDevice } from '../../train/distributed';
import { fit, type FitOptions, type FitProgress, type FitResult } from '../../train/fit';
import {
  DEFAULT_LOSS,
  DEFAULT_ODE_METHOD,
  DEFAULT_OPTIMIZER,
  defaultOptimizer,
  LBFGS_DEFAULT_MAX_PARAMETERS,
  LOSSES,
  names,
  ODE_METHODS,
  OPTIMIZERS,
  SCHEDULES,
  unknownChoice,
} from '../../train/settings';
import { fail, jsonText, nameList, readText, UsageError, type Command, type Io } from '../command';
import { jsonObjectOption, paramsOption, programArgs, programText, wholeOption } from './eval';
import { launchRanks } from './fit-launch';

const VALUED = [
  'data',
  'params',
  'target',
  'state',
  'time',
  'method',
  'window',
  'epochs',
  'lr',
  'optimizer',
  'loss',
  'schedule',
  'seed',
  'inputs',
  'patience',
  'min-delta',
  'rtol',
  'atol',
  'max-steps',
  'starts',
  'nproc',
  'nnodes',
  'node-rank',
  'rank',
  'world-size',
  'init',
  'timeout',
  'backend',
  'device',
];
const FLAGS = ['ode', 'json', 'print'];

/** How many numbers a parameter value holds (a number, or nested arrays of them). */
const countNumbers = (v: Nested): number => (Array.isArray(v) ? v.reduce<number>((n, x) => n + countNumbers(x), 0) : 1);

/** A finite number option, > 0 (or >= 0 with `zero`); undefined when absent. */
function positive(flag: string, value: string | true | undefined, zero = false): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !(zero ? x >= 0 : x > 0) || !Number.isFinite(x))
    throw new UsageError(`--${flag} must be a number ${zero ? '>=' : '>'} 0, got ${value}`);
  return x;
}

/** The value of --flag as one of the list's names; `what` names the setting in the message. */
function choice<N extends string>(
  flag: string,
  what: string,
  value: string | true | undefined,
  list: readonly { name: N }[],
): N | undefined {
  if (value === undefined) return undefined;
  const entry = list.find((e) => e.name === value);
  if (!entry) throw new UsageError(`--${flag}: ${unknownChoice(what, value, list)}`);
  return entry.name;
}

const alternatives = (list: readonly { name: string }[]): string => names(list).join('|');

/** The program's inputs from their columns, and the target column (named, else 'target', else the last other column). */
function algebraicData(model: Module, table: NumericTable, file: string, target: string | undefined) {
  const name =
    target ??
    (table.columns.includes('target') ? 'target' : [...table.columns].reverse().find((c) => !model.inputs.includes(c)));
  if (name === undefined)
    throw new Error(`${file}: every column is an input of the program; add a target column (or name it with --target)`);
  if (model.inputs.includes(name)) throw new Error(`--target ${name} is an input of the program, not a target`);
  return {
    inputs: Object.fromEntries(model.inputs.map((input) => [input, column(table, input, file)])),
    target: column(table, name, file),
  };
}

/** Seconds as `42s`, `3m05s` or `1h02m`. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** One line redrawn in place on a terminal: the bar, the loss, the time so far and the estimate of what is left. */
export function progressLine(step: number, total: number, loss: number, elapsed: number): string {
  const width = 30;
  const done = Math.round((width * step) / total);
  const left = step > 0 ? ` eta ${duration((elapsed * (total - step)) / step)}` : '';
  const count = `${String(step).padStart(String(total).length)}/${total}`;
  return `\r[${'#'.repeat(done)}${'-'.repeat(width - done)}] ${count} loss ${loss.toPrecision(4)} ${duration(elapsed)}${left}`;
}

function progressBar(io: Io, total: number): (p: FitProgress) => void {
  const start = Date.now();
  return ({ step, loss }) => io.stderr(progressLine(step, total, loss, (Date.now() - start) / 1000));
}

/** Early stopping: --patience N epochs without an improvement of more than --min-delta (default 0). */
function earlyStopping(options: Map<string, string | true>): FitOptions['earlyStopping'] {
  const patience = wholeOption('patience', options.get('patience'), 1);
  const minDelta = positive('min-delta', options.get('min-delta'), true);
  if (patience === undefined) {
    if (minDelta !== undefined) throw new UsageError('--min-delta needs --patience N (the epochs to wait)');
    return undefined;
  }
  return { patience, ...(minDelta !== undefined && { minDelta }) };
}

/** The launcher's options (--nproc N [--nnodes M --node-rank K] [--init tcp://host:port]); undefined without --nproc. */
function launchOptions(options: Map<string, string | true>) {
  const nproc = wholeOption('nproc', options.get('nproc'), 1);
  const nnodes = wholeOption('nnodes', options.get('nnodes'), 1) ?? 1;
  const nodeRank = wholeOption('node-rank', options.get('node-rank'), 0) ?? 0;
  if (nproc === undefined) {
    if (options.has('nnodes') || options.has('node-rank'))
      throw new UsageError('--nnodes and --node-rank need --nproc N (the ranks to start on this machine)');
    return undefined;
  }
  for (const flag of ['rank', 'world-size'])
    if (options.has(flag)) throw new UsageError(`--${flag} is set by --nproc for each rank it starts; leave it out`);
  if (nodeRank >= nnodes) throw new UsageError(`--node-rank must be below --nnodes (${nnodes}), got ${nodeRank}`);
  const init = options.get('init');
  if (nnodes > 1 && typeof init !== 'string')
    throw new UsageError('--nnodes > 1 needs --init tcp://host:port, the address of the machine with --node-rank 0');
  return { nproc, nnodes, nodeRank, ...(typeof init === 'string' && { init }) };
}

/** The arguments without the named options (`--name value` or `--name=value`). */
function withoutOptions(args: string[], names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2).split('=')[0] : undefined;
    if (name === undefined || !names.includes(name)) out.push(args[i]);
    else if (!args[i].includes('=')) i++;
  }
  return out;
}

/** One rank's distributed option (--rank, --world-size, --init, --timeout, --backend; torchrun's variables fill the rest). */
function distributedOption(options: Map<string, string | true>): FitOptions['distributed'] {
  const backend = choice('backend', 'backend', options.get('backend'), BACKENDS);
  if (!['rank', 'world-size', 'init', 'timeout'].some((flag) => options.has(flag))) {
    if (backend) throw new UsageError('--backend is for distributed fits: give --nproc N, or --rank and --world-size');
    return undefined;
  }
  const init = options.get('init');
  if (init === true) throw new UsageError('--init needs tcp://host:port, the address of rank 0');
  return {
    rank: wholeOption('rank', options.get('rank'), 0),
    worldSize: wholeOption('world-size', options.get('world-size'), 1),
    init,
    timeout: positive('timeout', options.get('timeout')),
    backend,
  };
}

/** --device cpu|cuda|cuda:N (default cpu); 'cuda' in a rank a launcher started is cuda:LOCAL_RANK. */
function deviceOption(value: string | true | undefined): Device {
  if (value === undefined) return 'cpu';
  if (value === true || !/^(cpu|cuda(:\d+)?)$/.test(value))
    throw new UsageError(`--device must be cpu, cuda or cuda:N, got ${value === true ? 'nothing' : `'${value}'`}`);
  return rankDevice(value as Device);
}

/** The ODE mode's inputs that are neither state nor time and have no --inputs value: named before fit() runs. */
function missingConstants(model: Module, state: string[], time: string, constants: Record<string, unknown>): void {
  const missing = model.inputs.filter((n) => !state.includes(n) && n !== time && !(n in constants));
  if (missing.length > 0)
    throw new Error(
      `no value for the input${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (not a --state or --time input); ` +
        `give constant values with --inputs '{${missing.map((n) => `"${n}": 1`).join(', ')}}'`,
    );
}

function summary(result: FitResult): string {
  const width = Math.max(...Object.keys(result.params).map((n) => n.length));
  const lines = Object.entries(result.params).map(([name, v]) => `  ${name.padEnd(width)} = ${JSON.stringify(v)}`);
  const stop = result.converged ? ` (converged: ${result.stopReason})` : '';
  const start = result.starts ? ` from start ${result.start! + 1} of ${result.starts.length}` : '';
  const shooting = result.shooting ? ` (windows of ${result.shooting.windowSteps} rows first)` : '';
  return `fitted by ${result.optimizer} in ${result.steps} steps${shooting}${start}${stop}, final loss ${result.loss.toPrecision(6)}\n${lines.join('\n')}\n`;
}

/** Said on stderr when the fit stopped without converging, so that its numbers are not taken as the answer. */
function notConverged(result: FitResult, lbfgs: boolean): string {
  const why = result.stopReason === 'aborted' ? 'it was stopped' : `its ${result.steps} steps ran out`;
  const fix = lbfgs ? 'more --epochs' : 'more --epochs, or --optimizer lbfgs (often far better on a few parameters)';
  return `warning: the fit did not converge (${why}); the values are not a minimum of the loss: try ${fix}\n`;
}

export const fitCommand: Command = {
  summary: "fit a program's parameters to the columns of a CSV file",
  usage:
    'neuralc fit PROGRAM --data FILE.csv --params JSON [--target COLUMN]\n' +
    '                     [--ode --state x,y [--time t] [--method M] [--window N] [--inputs JSON]\n' +
    '                      [--rtol X] [--atol X] [--max-steps N]]\n' +
    `                     [--epochs N] [--lr X] [--optimizer ${alternatives(OPTIMIZERS)}]\n` +
    `                     [--loss ${alternatives(LOSSES)}] [--schedule ${alternatives(SCHEDULES)}]\n` +
    '                     [--patience N [--min-delta X]] [--starts N] [--seed N] [--json] [--print]\n' +
    '                     [--nproc N [--nnodes M --node-rank K] | --rank R --world-size W] [--init tcp://HOST:PORT]\n' +
    `                     [--timeout S] [--backend ${alternatives(BACKENDS)}] [--device cpu|cuda|cuda:N]\n` +
    '      --params \'{"G": 1}\' names the parameters and their initial values (a bare list starts each at 1.0).\n' +
    '      Algebraic: the CSV has a column per program input and the target column (default: target, else the last).\n' +
    '      --ode: the program returns d[state]/dt from the --state inputs (and the --time input, default t); the CSV\n' +
    '      has the time column and the observed states. It is integrated from the first row\n' +
    `      (--method ${alternatives(ODE_METHODS)}, default ${DEFAULT_ODE_METHOD}), or from every window of N rows\n` +
    '      with --window N (multiple shooting; --window 0: the whole trajectory). Without --window, more than 50 evenly\n' +
    '      spaced rows are fitted in windows of 20 rows first, then as one trajectory.\n' +
    "      --inputs '{\"g\": 9.81}' gives constant values to the program's other\n" +
    "      inputs. --rtol, --atol (adaptive methods) and --max-steps (solver steps per solve) are the solver's tolerances.\n" +
    '      --patience N stops early after N epochs whose loss improved by no more than --min-delta (default 0).\n' +
    '      --starts N trains from the given values and N - 1 draws of each scalar parameter v as v * 10^u, u in [-1, 1)\n' +
    '      (seeded by --seed), and keeps the lowest final loss.\n' +
    `      Default lbfgs for at most ${LBFGS_DEFAULT_MAX_PARAMETERS} parameter values and no --lr, else ${DEFAULT_OPTIMIZER}; loss ${DEFAULT_LOSS}; every optimizer but L-BFGS defaults to 1000 epochs,\n` +
    '      a cosine schedule and gradients clipped at norm 5; L-BFGS to 50 epochs, no schedule.\n' +
    '      docs/training.md lists the choices.\n' +
    '      --json prints {"params", "loss", "steps", "stopped", "converged", "stopReason", "optimizer", "tier"} on\n' +
    '      stdout ("shooting" after default multiple shooting, "start" and "starts" with --starts), or\n' +
    '      {"error": {...}} as eval does. A fit that did not converge says so on stderr.\n' +
    '      A progress bar with the elapsed time and an estimate of the time left shows on stderr when it is a terminal.\n' +
    '      Exit codes: 0 fitted, 1 the program, data or fit failed, 2 bad arguments.\n' +
    '      --print also prints the program with the fitted values written in as defines (with --json: "source").\n' +
    '      --nproc N trains data-parallel in N processes it starts (each takes a share of the rows or windows of\n' +
    "      every step; the shares' gradients are summed, so the result is one process's); rank 0 prints the result\n" +
    '      (with --json also "worldSize", "communicationSeconds", "backend"). On several machines run the same command on\n' +
    '      each with --nnodes M, its own --node-rank K (0 to M - 1) and --init tcp://HOST:PORT naming a free port\n' +
    '      of the machine with --node-rank 0. --rank, --world-size and --init run one rank started otherwise (they\n' +
    '      default to RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT). --timeout S (default 60) bounds the wait\n' +
    '      for the other ranks at the start and at every step. --backend (default auto) sums the gradients with\n' +
    "      NCCL on the model's CUDA device (auto: when the model is on CUDA and the build has NCCL) or Gloo on the\n" +
    '      CPU. --device cuda trains on the GPU, each local rank of --nproc (or torchrun) on cuda:LOCAL_RANK.',
  async run(args, io) {
    const program = programArgs(args, VALUED, FLAGS);
    const { file, options } = program;
    const launch = launchOptions(options);
    if (launch)
      return launchRanks(['fit', ...withoutOptions(args, ['nproc', 'nnodes', 'node-rank', 'init'])], launch, io);
    const dataFile = options.get('data');
    if (typeof dataFile !== 'string') throw new UsageError('--data FILE.csv is required');
    const params = paramsOption(options.get('params'));
    if (!params) throw new UsageError(`--params is required, e.g. --params '{"k": 1}'`);
    const ode = options.has('ode');
    for (const flag of ['state', 'time', 'method', 'window', 'inputs', 'rtol', 'atol', 'max-steps'])
      if (!ode && options.has(flag)) throw new UsageError(`--${flag} needs --ode`);
    if (ode && options.has('target'))
      throw new UsageError('--target is for algebraic fits; with --ode the --state columns are the targets');
    const optimizer =
      choice('optimizer', 'optimizer', options.get('optimizer'), OPTIMIZERS) ??
      defaultOptimizer(countNumbers(Object.values(params)), true, options.has('lr'));
    const lbfgs = optimizer === 'lbfgs';
    const schedule = choice('schedule', 'schedule', options.get('schedule'), SCHEDULES);
    const method = choice('method', 'ODE method', options.get('method'), ODE_METHODS);
    const settings: FitOptions = {
      optimizer,
      loss: choice('loss', 'loss', options.get('loss'), LOSSES),
      epochs: wholeOption('epochs', options.get('epochs'), 1) ?? (lbfgs ? 50 : 1000),
      lr: positive('lr', options.get('lr')),
      seed: wholeOption('seed', options.get('seed'), 0),
      earlyStopping: earlyStopping(options),
      starts: wholeOption('starts', options.get('starts'), 1),
      ...(lbfgs ? {} : { schedule: 'cosine', clip: 5 }),
      ...(schedule && { schedule }),
      distributed: distributedOption(options),
    };
    const state = nameList(options.get('state'));
    if (ode && (!state || state.length === 0))
      throw new UsageError('--ode needs --state x,y naming the state inputs (and their columns)');
    const json = options.has('json');
    const device = deviceOption(options.get('device'));

    let model: Module | undefined;
    try {
      model = compile(programText(program, io), { file, params, device });
      const known = Object.keys(model.namedParameters());
      for (const name of Object.keys(params))
        if (!known.includes(name))
          throw new Error(
            `unknown param '${name}': the program never reads it${known.length ? ` (its parameters are ${known.join(', ')})` : ''}`,
          );
      const table = parseCsv(readText(io, dataFile), dataFile);
      if (table.rows.length < 2)
        throw new Error(`${dataFile}: at least 2 data rows are needed, got ${table.rows.length}`);
      let data;
      if (ode) {
        const time = typeof options.get('time') === 'string' ? (options.get('time') as string) : 't';
        const window = wholeOption('window', options.get('window'), 0);
        if (window !== undefined && window >= table.rows.length)
          throw new Error(`${dataFile}: --window ${window} needs more than ${window} rows, got ${table.rows.length}`);
        const columns = state!.map((name) => column(table, name, dataFile));
        data = { t: column(table, time, dataFile), observations: table.rows.map((_, i) => columns.map((c) => c[i])) };
        const constants = options.has('inputs') ? jsonObjectOption('inputs', options.get('inputs') as string) : {};
        missingConstants(model, state!, time, constants);
        settings.ode = {
          state,
          method,
          windowSteps: window,
          rtol: positive('rtol', options.get('rtol'), true),
          atol: positive('atol', options.get('atol'), true),
          maxSteps: wholeOption('max-steps', options.get('max-steps'), 1),
          ...(Object.keys(constants).length > 0 && { inputs: constants as Record<string, Nested> }),
          ...(model.inputs.includes(time) ? { time } : {}),
        };
      } else {
        data = algebraicData(model, table, dataFile, options.get('target') as string | undefined);
      }
      // A bar on an interactive stderr only (never with --json), redrawn about a hundred times.
      const bar = !json && process.stderr.isTTY;
      if (bar)
        Object.assign(settings, {
          onProgress: progressBar(io, settings.epochs),
          progressEvery: Math.max(1, Math.floor(settings.epochs / 100)),
        });
      const result = await fit(model, data, settings);
      if (bar) io.stderr('\n');
      if (!result.converged) io.stderr(notConverged(result, lbfgs));
      const source = options.has('print') ? model.toSource() : undefined;
      const { params: fitted, loss, steps, stopped, converged, stopReason, optimizer, tier } = result;
      const { shooting, start, starts, distributed } = result;
      const report = {
        params: fitted,
        loss,
        steps,
        stopped,
        converged,
        stopReason,
        optimizer,
        tier,
        shooting,
        start,
        starts,
        worldSize: distributed?.worldSize,
        communicationSeconds: distributed?.communicationSeconds,
        backend: distributed?.backend,
      };
      io.stdout(json ? `${jsonText({ ...report, source })}\n` : summary(result) + (source ?? ''));
      return 0;
    } catch (err) {
      return fail(err, io, json);
    } finally {
      model?.dispose();
    }
  },
};
