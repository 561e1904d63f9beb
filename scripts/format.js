#!/usr/bin/env node
// Formats the sources: TypeScript and JavaScript with prettier, C++ with clang-format (both pinned
// devDependencies, configs .prettierrc.json and .clang-format). `--check` changes nothing and exits 1
// when a file is not formatted (`npm test` runs it first); without it, files are rewritten.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const check = process.argv.includes('--check');

/** Files under `dir` (relative to the root) whose names end in one of `endings`, generated files excepted. */
function files(dir, endings) {
  const out = [];
  const walk = (d) => {
    for (const entry of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
      const rel = path.join(d, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (endings.some((e) => entry.name.endsWith(e)) && !entry.name.includes('.generated.')) out.push(rel);
    }
  };
  if (fs.existsSync(path.join(ROOT, dir))) walk(dir);
  return out;
}

function run(tool, args) {
  const r = spawnSync(process.execPath, [require.resolve(tool), ...args], { cwd: ROOT, stdio: 'inherit' });
  return r.status === 0;
}

const scripts = ['src', 'tests', 'scripts', 'bin'].flatMap((d) => files(d, ['.ts', '.js']));
const cpp = ['native', 'binding'].flatMap((d) => files(d, ['.cpp', '.h', '.inc']));
const prettier = run('prettier/bin/prettier.cjs', [check ? '--check' : '--write', '--log-level', 'warn', ...scripts]);
const clang = run('clang-format/index.js', check ? ['--dry-run', '--Werror', ...cpp] : ['-i', ...cpp]);
if (!prettier || !clang) {
  console.error(`format: ${check ? 'files are not formatted: run `npm run format`' : 'formatting failed'}`);
  process.exit(1);
}
