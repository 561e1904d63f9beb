// Finds libtorch for the native build, or fetches it from the pinned PyTorch CPU wheel through pip.
// Order: $LIBTORCH, the project's own ./libtorch, the one the last build in this folder used, the
// per-user cache (one copy per version that every install reuses), the wheel via pip into that
// cache, an installed Python torch. Returns the folder that holds include/, lib/ and share/cmake/Torch.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const TORCH_VERSION = '2.13.0';
const ROOT = path.resolve(__dirname, '..');
const LOCAL = path.join(ROOT, 'libtorch');

/** The per-user cache: $NC_LIBTORCH_CACHE, else $XDG_CACHE_HOME/neural-compiler, else ~/.cache/neural-compiler. */
function cacheDir() {
  if (process.env.NC_LIBTORCH_CACHE) return path.resolve(process.env.NC_LIBTORCH_CACHE);
  const base = process.env.XDG_CACHE_HOME
    ? path.resolve(process.env.XDG_CACHE_HOME)
    : path.join(os.homedir(), '.cache');
  return path.join(base, 'neural-compiler');
}
const CACHED = () => path.join(cacheDir(), `libtorch-${TORCH_VERSION}-cpu`);

/** The LIBTORCH_DIR of the last build in this folder (build/CMakeCache.txt), so a rebuild finds the same one. */
function previousBuild() {
  try {
    const cache = fs.readFileSync(path.join(ROOT, 'build', 'CMakeCache.txt'), 'utf8');
    return /^LIBTORCH_DIR:[A-Z]+=(.+)$/m.exec(cache)?.[1];
  } catch (_) {
    return undefined;
  }
}

const isLibtorch = (dir) => fs.existsSync(path.join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'));

const python = () => ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);

class LibtorchNotFound extends Error {}

function fail(tried) {
  const cached = CACHED;
  throw new LibtorchNotFound(
    [
      'neural-compiler: libtorch was not found, so the native addon cannot be built.',
      `Tried: ${tried.join('; ')}.`,
      'Provide it in one of these ways, then run `npm install` (or `npm run build`) again:',
      `  1. Let pip fetch the PyTorch ${TORCH_VERSION} CPU wheel: needs python3 with pip and a reachable package index`,
      `     (check: python3 -m pip download --no-deps --only-binary=:all: torch==${TORCH_VERSION}).`,
      '  2. Point at an unpacked libtorch: LIBTORCH=/path/to/libtorch npm install',
      `     (or unpack one into the per-user cache, ${cached()}; NC_LIBTORCH_CACHE=/dir moves it).`,
      '     (the folder that contains include/, lib/ and share/cmake/Torch).',
      `  3. Install PyTorch for python3 (pip install torch==${TORCH_VERSION}); its bundled libtorch is used.`,
    ].join('\n'),
  );
}

/** Extracts only what the build and run-time need from the wheel (a zip): about 480 MB. */
function extractWheel(py, wheel, dest) {
  const script = `
import sys, zipfile, os, shutil
wheel, dest = sys.argv[1], sys.argv[2]
keep_libs = {'libc10.so', 'libtorch.so', 'libtorch_cpu.so', 'libgomp.so.1'}
tmp = dest + '.partial-' + str(os.getpid())
shutil.rmtree(tmp, ignore_errors=True)
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.endswith('/'):
            continue
        if name.startswith('torch/lib/'):
            if os.path.basename(name) not in keep_libs or name.count('/') != 2:
                continue
        elif not (name.startswith('torch/include/') or name.startswith('torch/share/cmake/')):
            continue
        out = os.path.join(tmp, name[len('torch/'):])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
try:
    os.replace(tmp, dest)
except OSError:
    # another install finished the same copy first: keep it
    shutil.rmtree(tmp, ignore_errors=True)
`;
  const r = spawnSync(py, ['-c', script, wheel, dest], { stdio: 'inherit' });
  return r.status === 0 && isLibtorch(dest);
}

function fetchWheel(py, tried, dest) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-torch-'));
  try {
    const spec = `torch==${TORCH_VERSION}`;
    // Try the configured local wheel folders first (fast, offline), then any configured index.
    for (const extra of [['--no-index'], []]) {
      const r = spawnSync(
        py,
        ['-m', 'pip', 'download', ...extra, '--no-deps', '--only-binary=:all:', spec, '-d', dir, '-q'],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          timeout: 600000,
        },
      );
      const wheel = fs.readdirSync(dir).find((f) => f.startsWith('torch-') && f.endsWith('.whl'));
      if (r.status === 0 && wheel) {
        if (!wheel.includes('+cpu') && !process.env.LIBTORCH_ALLOW_CUDA_WHEEL) {
          tried.push(`pip gave ${wheel}, not the CPU build`);
          return false;
        }
        console.log(`neural-compiler: extracting libtorch from ${wheel} into ${dest}`);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        return extractWheel(py, path.join(dir, wheel), dest);
      }
    }
    tried.push(`pip download ${spec} (failed)`);
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function pythonTorch(py, tried) {
  const r = spawnSync(py, ['-c', 'import torch, os; print(os.path.dirname(torch.__file__))'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  if (dir && isLibtorch(dir)) return dir;
  tried.push('an installed Python torch (none importable)');
  return undefined;
}

/**
 * The folders findLibtorch looks in before fetching anything, in its order, each with how it got on
 * the list and whether a libtorch is there (neuralc doctor shows them). $LIBTORCH, when set, is the only one.
 */
function searchPath() {
  if (process.env.LIBTORCH) {
    const dir = path.resolve(process.env.LIBTORCH);
    return [{ source: 'LIBTORCH', dir, found: isLibtorch(dir) }];
  }
  const previous = previousBuild();
  return [
    { source: 'the project', dir: LOCAL },
    ...(previous ? [{ source: 'the last build', dir: previous }] : []),
    { source: 'the per-user cache', dir: CACHED() },
  ].map((place) => ({ ...place, found: isLibtorch(place.dir) }));
}

function findLibtorch() {
  const places = searchPath();
  const found = places.find((place) => place.found);
  if (found) return found.dir;
  const tried = places.map(({ source, dir }) =>
    source === 'LIBTORCH' ? `LIBTORCH=${dir} (no share/cmake/Torch/TorchConfig.cmake there)` : `${dir} (absent)`,
  );
  if (process.env.LIBTORCH) fail(tried);
  const py = python();
  if (!py) {
    tried.push('python3 (not found, so neither pip nor an installed torch could be used)');
    fail(tried);
  }
  const cached = CACHED();
  if (fetchWheel(py, tried, cached)) return cached;
  return pythonTorch(py, tried) ?? fail(tried);
}

module.exports = { findLibtorch, searchPath, libtorchCache: CACHED, LibtorchNotFound, TORCH_VERSION };

if (require.main === module) {
  try {
    console.log(findLibtorch());
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
