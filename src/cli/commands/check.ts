// `neuralc check FILE... [--inputs a,b] [--params G] [--json]`: front-end diagnostics for each file.
import { diagnosticToJson, hasErrors, renderDiagnostic, type DiagnosticJson } from '../../diagnostics';
import { parseProgram } from '../../frontend';
import { nameList, parseArgs, readText, UsageError, type Command } from '../command';

export const check: Command = {
  summary: 'check programs and list their inputs and params',
  usage: 'neuralc check FILE... [--inputs a,b] [--params G] [--json]',
  run(args, io) {
    const { positional, options } = parseArgs(args, ['inputs', 'params'], ['json']);
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
      const { program, diagnostics, source } = parseProgram(text, {
        file,
        inputs: nameList(options.get('inputs')),
        params: nameList(options.get('params')),
      });
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
