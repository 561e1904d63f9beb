// The tree-sitter C runtime the grammar's binding compiles in: the committed copy, the
// TREE_SITTER_RUNTIME override and its errors (tree-sitter-neural/bindings/node/runtime.js, which
// binding.gyp runs as a script), and the install depending on no package with an install script.
import fs from 'fs';
import os from 'os';
import path from 'path';
import { spawnSync } from 'child_process';

const ROOT = path.join(__dirname, '..');
const RUNTIME_JS = path.join(ROOT, 'tree-sitter-neural', 'bindings', 'node', 'runtime.js');
const VENDORED = path.join(ROOT, 'tree-sitter-neural', 'vendor', 'tree-sitter-0.25.1', 'lib');
const { runtimeDir } = require(RUNTIME_JS) as { runtimeDir: () => string };

let dir: string;
let saved: string | undefined;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-ts-runtime-'));
  saved = process.env.TREE_SITTER_RUNTIME;
});
afterEach(() => {
  if (saved === undefined) delete process.env.TREE_SITTER_RUNTIME;
  else process.env.TREE_SITTER_RUNTIME = saved;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A folder laid out like a tree-sitter `lib` folder, or missing `omit`. */
function fakeRuntime(name: string, omit?: string): string {
  const lib = path.join(dir, name);
  for (const file of ['src/lib.c', 'include/tree_sitter/api.h']) {
    if (file === omit) continue;
    fs.mkdirSync(path.dirname(path.join(lib, file)), { recursive: true });
    fs.writeFileSync(path.join(lib, file), '/* stand-in */\n');
  }
  return lib;
}

/** runtime.js run as binding.gyp runs it. */
function runScript(env: Record<string, string>, cwd = ROOT) {
  const { TREE_SITTER_RUNTIME: _, ...rest } = process.env;
  return spawnSync(process.execPath, [RUNTIME_JS], { cwd, env: { ...rest, ...env }, encoding: 'utf8' });
}

test('without TREE_SITTER_RUNTIME, the committed copy, whose ABI range holds the generated parser', () => {
  delete process.env.TREE_SITTER_RUNTIME;
  expect(runtimeDir()).toBe(VENDORED);
  const api = fs.readFileSync(path.join(VENDORED, 'include', 'tree_sitter', 'api.h'), 'utf8');
  const define = (text: string, name: string) => Number(new RegExp(`#define ${name} (\\d+)`).exec(text)?.[1]);
  const parserAbi = define(
    fs.readFileSync(path.join(ROOT, 'tree-sitter-neural', 'src', 'parser.c'), 'utf8'),
    'LANGUAGE_VERSION',
  );
  expect(parserAbi).toBeGreaterThanOrEqual(define(api, 'TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION'));
  expect(parserAbi).toBeLessThanOrEqual(define(api, 'TREE_SITTER_LANGUAGE_VERSION'));
  // The copy is whole: every file the amalgamation includes is there.
  const included = [...fs.readFileSync(path.join(VENDORED, 'src', 'lib.c'), 'utf8').matchAll(/#include "(.+)"/g)];
  expect(included.length).toBeGreaterThan(5);
  for (const [, file] of included) expect(fs.existsSync(path.join(VENDORED, 'src', file))).toBe(true);
  expect(runScript({})).toMatchObject({ status: 0, stdout: VENDORED });
});

test('TREE_SITTER_RUNTIME names another lib folder, resolved from the working folder', () => {
  const lib = fakeRuntime('good');
  process.env.TREE_SITTER_RUNTIME = lib;
  expect(runtimeDir()).toBe(lib);
  expect(runScript({ TREE_SITTER_RUNTIME: 'good' }, dir)).toMatchObject({ status: 0, stdout: lib });
});

test('a TREE_SITTER_RUNTIME without the runtime says what is missing and how to fix it', () => {
  for (const omit of ['src/lib.c', 'include/tree_sitter/api.h']) {
    const lib = fakeRuntime(`without-${path.basename(omit)}`, omit);
    process.env.TREE_SITTER_RUNTIME = lib;
    expect(() => runtimeDir()).toThrow(
      `TREE_SITTER_RUNTIME=${lib} is not a tree-sitter runtime (no src/lib.c and include/tree_sitter/api.h in it)`,
    );
  }
  process.env.TREE_SITTER_RUNTIME = path.join(dir, 'absent');
  expect(() => runtimeDir()).toThrow(/point it at the `lib` folder of a tree-sitter checkout, or unset it/);
  const r = runScript({ TREE_SITTER_RUNTIME: path.join(dir, 'absent') });
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(`TREE_SITTER_RUNTIME=${path.join(dir, 'absent')} is not a tree-sitter runtime`);
});

test('no dependency has an install script (the npm package tree-sitter had one, for a binding never used)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  expect(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })).not.toContain('tree-sitter');
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const withInstallScript = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
    .filter(([, entry]) => entry.hasInstallScript)
    .map(([where]) => where);
  expect(withInstallScript).toEqual(['']); // the project itself: scripts/build.js
});
