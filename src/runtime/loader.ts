// Code that makes a fresh node process or worker able to load this package's modules: from dist/
// (JavaScript) they load as they are; from the TypeScript sources (as under jest) they are
// transpiled on load, with the transpiled text cached on disk so that later processes skip TypeScript.
import { createHash } from 'crypto';
import * as os from 'os';
import * as path from 'path';

const TS_OPTIONS = '{ module: 1 /* CommonJS */, target: 9 /* ES2022 */, esModuleInterop: true }';

/**
 * Makes `require` of .ts files work in a plain node process. It needs TypeScript, a development
 * dependency, so it is resolved only here, when the sources run (an installed package has dist/).
 */
export function tsHook(): string {
  const tsPath = require.resolve('typescript');
  // Transpiled files are kept under the temp directory, keyed by the hash of their text (and of the
  // TypeScript version and options, in the directory name): a worker or child process started after
  // the first one compiles nothing, and does not even load TypeScript. A changed file has a new key.
  const key = createHash('sha1')
    .update(`${require('typescript/package.json').version} ${TS_OPTIONS}`)
    .digest('hex');
  const cache = path.join(os.tmpdir(), `neural-compiler-ts-${key.slice(0, 12)}`);
  return `
{
  const fs = require('fs'), path = require('path'), crypto = require('crypto');
  const dir = ${JSON.stringify(cache)};
  let ts;
  require.extensions['.ts'] = (m, file) => {
    const text = fs.readFileSync(file, 'utf8');
    const cached = path.join(dir, crypto.createHash('sha1').update(text).digest('hex') + '.js');
    let out;
    try {
      out = fs.readFileSync(cached, 'utf8');
    } catch {
      ts ??= require(${JSON.stringify(tsPath)});
      out = ts.transpileModule(text, { compilerOptions: ${TS_OPTIONS} }).outputText;
      try {
        fs.mkdirSync(dir, { recursive: true });
        const partial = cached + '.' + process.pid + '.' + Math.random().toString(36).slice(2);
        fs.writeFileSync(partial, out);
        fs.renameSync(partial, cached); // atomic: a reader sees the whole file or none
      } catch {}
    }
    m._compile(out, file);
  };
}
`;
}

/** Code for a fresh process or worker that makes the package's modules loadable (empty from dist/). */
export const loader = (): string => (__filename.endsWith('.ts') ? tsHook() : '');
