// The whole build, run by `npm install` (and `npm run build`): libtorch, the native addon, the grammar's
// Node binding, and the TypeScript. Each step is incremental, so a second run is quick. Each step
// prints one line; its tools' own output is shown only when it fails (or with --verbose).
// --tools also builds native/tools (test and benchmark references); --native-only skips the grammar
// and the TypeScript.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { findLibtorch, LibtorchNotFound } = require('./libtorch');

const ROOT = path.resolve(__dirname, '..');

const ARGS = process.argv.slice(2);
const VERBOSE = ARGS.includes('--verbose');

function run(what, cmd, args) {
  console.log(`neural-compiler: ${what}`);
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    stdio: VERBOSE ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) {
    if (!VERBOSE) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    console.error(`neural-compiler: ${what} failed (${r.error ? r.error.message : `exit ${r.status}`}).`);
    process.exit(1);
  }
}

function buildAddon(libtorch) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const jobs = String(Math.max(1, Math.min(os.cpus().length, 4)));
  const defines = [`--CDLIBTORCH_DIR=${libtorch}`];
  const tools = ARGS.includes('--tools');
  // `cmake-js build` configures only a fresh build folder; an existing one is reconfigured to add the tools.
  if (tools) {
    defines.push('--CDNC_BUILD_TOOLS=ON');
    run('configuring the build with native/tools', process.execPath, [
      cmakeJs,
      'configure',
      '--log-level',
      'warn',
      ...defines,
    ]);
  }
  run(
    `building the native addon${tools ? ' and native/tools' : ''} (the first build takes a few minutes)`,
    process.execPath,
    [cmakeJs, 'build', '--log-level', 'warn', '--parallel', jobs, ...defines],
  );
}

function buildGrammar() {
  const script = path.join(__dirname, 'build-grammar.js');
  if (!fs.existsSync(script)) return;
  const { buildGrammar: build } = require(script);
  console.log('neural-compiler: building the grammar');
  try {
    build({ log: () => {}, quiet: !VERBOSE });
  } catch (err) {
    console.error(`neural-compiler: building the grammar failed (${err.message}).`);
    process.exit(1);
  }
}

function buildTypeScript() {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // An installed package ships dist/ and has no TypeScript: nothing to compile then.
  if (!fs.existsSync(tsc)) return;
  run('compiling TypeScript', process.execPath, [tsc, '-p', 'tsconfig.json']);
}

function main() {
  let libtorch;
  try {
    libtorch = findLibtorch();
  } catch (e) {
    if (!(e instanceof LibtorchNotFound)) throw e;
    console.error(e.message);
    process.exit(1);
  }
  console.log(`neural-compiler: libtorch at ${libtorch}`);
  buildAddon(libtorch);
  if (ARGS.includes('--native-only')) return;
  buildGrammar();
  buildTypeScript();
}

main();
