// `neuralc check FILE... [--inputs a,b] [--params G] [--json] [--fix]`: front-end diagnostics for each file.
import { diagnosticToJson, hasErrors, renderDiagnostic, type DiagnosticJson } from '../../diagnostics';
import { parseProgram, type ParseOptions } from '../../frontend';
import { applyFixes, safeFixes } from '../../tools/fixes';
import { nameList, parseArgs, readText, UsageError, type Command, type Io } from '../command';

/** Rounds of fixing at most: a fixed bracket can reveal a misspelt name behind it. */
const FIX_ROUNDS = 10;

/** Applies safe fixes until none is left; returns the new text and how many were applied. */
function fixText(text: string, options: ParseOptions): { text: string; count: number } {
  let count = 0;
  for (let round = 0; round < FIX_ROUNDS; round++) {
    const fixes = safeFixes(parseProgram(text, options).diagnostics);
    if (fixes.length === 0) break;
    const applied = applyFixes(text, fixes);
    text = applied.text;
    count += applied.fixes.length;
  }
  return { text, count };
}

function writeFixed(io: Io, file: string, text: string): void {
  if (!io.writeFile) throw new UsageError('--fix cannot write files here');
  io.writeFile(file, text);
}

export const check: Command = {
  summary: 'check programs and list their inputs and params',
  usage:
    'neuralc check FILE... [--inputs a,b] [--params G] [--json] [--fix]\n' +
    '      --inputs declares the inputs (a misspelt name is then an error with a suggestion); --params names the params.\n' +
    '      --json prints the diagnostics as JSON on stdout, each with its fixes: exact text edits, some marked safe.\n' +
    '      --fix applies the safe fixes (missing or stray brackets, an unambiguous misspelt name, let bindings without\n' +
    '      their brackets), rewrites each FILE, and reports what is left.',
  run(args, io) {
    const { positional, options } = parseArgs(args, ['inputs', 'params'], ['json', 'fix']);
    if (positional.length === 0) throw new UsageError('check needs at least one FILE');
    const json: DiagnosticJson[] = [];
    let failed = false;
    for (const file of positional) {
      let text: string;
      try {
        text = readText(io, file);
      } catch (err) {
        io.stderr(`neuralc: ${(err as Error).message}\n`);
        failed = true;
        continue;
      }
      const parseOptions = { file, inputs: nameList(options.get('inputs')), params: nameList(options.get('params')) };
      if (options.has('fix')) {
        const fixed = fixText(text, parseOptions);
        if (fixed.count > 0) {
          writeFixed(io, file, fixed.text);
          io.stderr(`${file}: applied ${fixed.count} fix${fixed.count === 1 ? '' : 'es'}\n`);
          text = fixed.text;
        }
      }
      const { program, diagnostics, source } = parseProgram(text, parseOptions);
      failed ||= hasErrors(diagnostics);
      if (options.has('json')) json.push(...diagnostics.map((d) => diagnosticToJson(d, source)));
      else for (const d of diagnostics) io.stderr(`${renderDiagnostic(d, source)}\n\n`);
      if (program && !options.has('json')) {
        const list = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
        io.stdout(`${file}: inputs ${list(program.inputs)}; params ${list(program.params)}\n`);
      }
    }
    if (options.has('json')) io.stdout(`${JSON.stringify(json, null, 2)}\n`);
    return failed ? 1 : 0;
  },
};
