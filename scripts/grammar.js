#!/usr/bin/env node
// Regenerates tree-sitter-neural/src from grammar.js and runs the corpus tests (`npm run grammar`),
// or, with --check, verifies that the committed src/ is what grammar.js generates (CI).
// The tree-sitter CLI is built once into .tools/ts-cli (see docs in ../shared/PLATFORM.md).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const GRAMMAR_DIR = path.join(ROOT, 'tree-sitter-neural');
const TOOLS = path.join(ROOT, '.tools');
const CLI = path.join(TOOLS, 'ts-cli', 'bin', 'tree-sitter');
const CLI_BUILDER = path.join(ROOT, '..', 'shared', 'tools', 'tree-sitter-cli.sh');
const GENERATED = ['parser.c', 'grammar.json', 'node-types.json', path.join('tree_sitter', 'parser.h')];

const cliEnv = { ...process.env, XDG_CACHE_HOME: path.join(TOOLS, 'cache') };
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, env: cliEnv, stdio: 'inherit' });

/** Returns the CLI's path, building it when absent; undefined when it cannot be had. */
function obtainCli() {
  if (fs.existsSync(CLI)) return CLI;
  if (!fs.existsSync(CLI_BUILDER)) return undefined;
  console.log('grammar: building the tree-sitter CLI into .tools/ts-cli (about 2 minutes)');
  try {
    run('bash', [CLI_BUILDER, 'trixie', path.join(TOOLS, 'ts-cli')], ROOT);
  } catch (_) {
    return undefined;
  }
  return fs.existsSync(CLI) ? CLI : undefined;
}

const generate = (cli, dir) => run(cli, ['generate', '--no-bindings'], dir);

function regenerateAndTest(cli) {
  generate(cli, GRAMMAR_DIR);
  run(cli, ['test'], GRAMMAR_DIR);
}

/** Generates into a temporary copy and compares with the committed files. */
function check(cli) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'neural-grammar-'));
  try {
    fs.copyFileSync(path.join(GRAMMAR_DIR, 'grammar.js'), path.join(tmp, 'grammar.js'));
    fs.writeFileSync(path.join(tmp, 'package.json'), fs.readFileSync(path.join(GRAMMAR_DIR, 'package.json')));
    generate(cli, tmp);
    const stale = GENERATED.filter((f) => {
      const committed = path.join(GRAMMAR_DIR, 'src', f);
      return !fs.existsSync(committed) || !fs.readFileSync(committed).equals(fs.readFileSync(path.join(tmp, 'src', f)));
    });
    if (stale.length > 0) {
      console.error(
        `grammar: tree-sitter-neural/src is out of date (${stale.join(', ')}); run \`npm run grammar\` and commit`,
      );
      process.exit(1);
    }
    console.log('grammar: generated sources are up to date');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const checkOnly = process.argv.includes('--check');
  const cli = obtainCli();
  if (!cli) {
    if (checkOnly) {
      console.log('grammar: tree-sitter CLI not available and cannot be built; skipping the generated-sources check');
      return;
    }
    console.error(
      'grammar: tree-sitter CLI not available (expected .tools/ts-cli or ../shared/tools/tree-sitter-cli.sh)',
    );
    process.exit(1);
  }
  if (checkOnly) check(cli);
  else regenerateAndTest(cli);
}

main();
