// Finds libtorch for the native build, or fetches it through pip: the pinned PyTorch CPU wheel, or with
// NC_TORCH=cuda the pinned CUDA wheel and NVIDIA's runtime wheels (VARIANTS below). Order: $LIBTORCH,
// the project's own ./libtorch, the one the last build in this folder used, the per-user cache (one
// copy per variant that every install reuses), the wheels via pip into that cache, an installed Python
// torch. With NC_TORCH set, only a libtorch of that variant counts. Returns the folder that holds
// include/, lib/ and share/cmake/Torch.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const LOCAL = path.join(ROOT, 'libtorch');

/**
 * The two pinned builds a fetch can assemble, chosen by NC_TORCH (cpu by default). The CPU wheel holds
 * all of libtorch; the CUDA wheel needs NVIDIA's runtime wheels beside it, in the layout of Python's
 * site-packages (torch/ next to nvidia/), because its libraries find them through rpaths relative to
 * torch/lib. Its metadata names the runtime wheels; crt adds the headers (crt/host_config.h) that the
 * CUDA runtime's own headers include, which libtorch's c10/cuda headers need to compile; cccl adds
 * <nv/target>, which cuda_fp16.h includes, for ProcessGroupNCCL.hpp (native/distributed_nccl.cpp).
 */
const VARIANTS = {
  cpu: { version: '2.13.0', folder: 'libtorch-2.13.0-cpu', libtorch: '.', runtime: [], size: '480 MB' },
  cuda: {
    version: '2.14.1',
    folder: 'torch-2.14.1-cu13',
    libtorch: 'torch',
    runtime: [
      'cuda-toolkit[cccl,crt,cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.0.3',
      'nvidia-cudnn-cu13==9.24.0.43',
      'nvidia-cusparselt-cu13==0.8.1',
      'nvidia-nccl-cu13==2.30.7',
      'nvidia-nvshmem-cu13==3.4.5',
    ],
    size: '6 GB',
  },
};

class LibtorchNotFound extends Error {}

/** The variant NC_TORCH asks for, or undefined when it is unset (then any libtorch found is used, else cpu). */
function requestedVariant() {
  const name = process.env.NC_TORCH;
  if (!name) return undefined;
  if (!VARIANTS[name])
    throw new LibtorchNotFound(
      `neural-compiler: NC_TORCH=${name} is not a libtorch build this project knows; use NC_TORCH=cpu (PyTorch ` +
        `${VARIANTS.cpu.version}, the default) or NC_TORCH=cuda (PyTorch ${VARIANTS.cuda.version} with CUDA 13).`,
    );
  return name;
}
const TORCH_VERSION = VARIANTS.cpu.version;

/** The per-user cache: $NC_LIBTORCH_CACHE, else $XDG_CACHE_HOME/neural-compiler, else ~/.cache/neural-compiler. */
function cacheDir() {
  if (process.env.NC_LIBTORCH_CACHE) return path.resolve(process.env.NC_LIBTORCH_CACHE);
  const base = process.env.XDG_CACHE_HOME
    ? path.resolve(process.env.XDG_CACHE_HOME)
    : path.join(os.homedir(), '.cache');
  return path.join(base, 'neural-compiler');
}
/** The cached libtorch of a variant (cpu unless named). */
const CACHED = (variant = requestedVariant() ?? 'cpu') =>
  path.join(cacheDir(), VARIANTS[variant].folder, VARIANTS[variant].libtorch);

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
const hasCuda = (dir) => fs.existsSync(path.join(dir, 'lib', 'libtorch_cuda.so'));
/** A libtorch that suits the requested variant: any when NC_TORCH is unset. */
const suits = (dir, variant) => isLibtorch(dir) && (!variant || hasCuda(dir) === (variant === 'cuda'));

const python = () => ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);

function fail(tried, variant) {
  const { version } = VARIANTS[variant];
  throw new LibtorchNotFound(
    [
      'neural-compiler: libtorch was not found, so the native addon cannot be built.',
      `Tried: ${tried.join('; ')}.`,
      'Provide it in one of these ways, then run `npm install` (or `npm run build`) again:',
      `  1. Let pip fetch the PyTorch ${version} ${variant.toUpperCase()} wheel${variant === 'cuda' ? 's' : ''}: needs python3 with pip and a reachable package index`,
      `     (check: python3 -m pip download --no-deps --only-binary=:all: torch==${version}).`,
      '  2. Point at an unpacked libtorch: LIBTORCH=/path/to/libtorch npm install',
      `     (or unpack one into the per-user cache, ${CACHED(variant)}; NC_LIBTORCH_CACHE=/dir moves it).`,
      '     (the folder that contains include/, lib/ and share/cmake/Torch).',
      `  3. Install PyTorch for python3 (pip install torch==${version}); its bundled libtorch is used.`,
    ].join('\n'),
  );
}

/**
 * Unpacks what the build and run-time need from the wheels (zips) into dest, atomically: from torch's
 * wheel its headers, CMake files and shared libraries (not the Python extension's), from the others
 * their nvidia/ folders. With strip, torch/ is dropped from the paths (the CPU layout: a bare libtorch).
 */
function extractWheels(py, wheels, dest, strip) {
  const script = `
import sys, zipfile, os, shutil
dest, strip, wheels = sys.argv[1], sys.argv[2] == '1', sys.argv[3:]
skip_libs = {'libtorch_python.so', 'libshm.so'}
tmp = dest + '.partial-' + str(os.getpid())
shutil.rmtree(tmp, ignore_errors=True)
def wanted(name):
    if name.startswith('nvidia/'):
        return True
    if name.startswith('torch/lib/'):
        return name.count('/') == 2 and os.path.basename(name) not in skip_libs
    return name.startswith('torch/include/') or name.startswith('torch/share/cmake/')
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith('/') or not wanted(name):
                continue
            out = os.path.join(tmp, name[len('torch/'):] if strip else name)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(info) as src, open(out, 'wb') as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            if info.external_attr >> 16 & 0o111:
                os.chmod(out, 0o755)
try:
    os.replace(tmp, dest)
except OSError:
    # another install finished the same copy first: keep it
    shutil.rmtree(tmp, ignore_errors=True)
`;
  const r = spawnSync(py, ['-c', script, dest, strip ? '1' : '0', ...wheels], { stdio: 'inherit' });
  return r.status === 0;
}

/** pip download into dir, first from the configured local wheel folders (fast, offline), then any index. */
function pipDownload(py, args, dir) {
  for (const extra of [['--no-index'], []]) {
    const r = spawnSync(py, ['-m', 'pip', 'download', ...extra, '--only-binary=:all:', ...args, '-d', dir, '-q'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 600000,
    });
    if (r.status === 0) return true;
  }
  return false;
}

function fetchWheels(py, tried, variant) {
  const { version, folder, runtime } = VARIANTS[variant];
  const dest = path.join(cacheDir(), folder);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-torch-'));
  try {
    const spec = `torch==${version}`;
    const torchWheel = () => fs.readdirSync(dir).find((f) => f.startsWith('torch-') && f.endsWith('.whl'));
    if (!pipDownload(py, ['--no-deps', spec], dir) || !torchWheel()) {
      tried.push(`pip download ${spec} (failed)`);
      return false;
    }
    const wheel = torchWheel();
    const isCpuWheel = wheel.includes('+cpu');
    if (isCpuWheel !== (variant === 'cpu') && !process.env.LIBTORCH_ALLOW_CUDA_WHEEL) {
      tried.push(`pip gave ${wheel}, not the ${variant.toUpperCase()} build`);
      return false;
    }
    if (runtime.length > 0) {
      console.log(`neural-compiler: fetching the CUDA runtime wheels (${runtime.length} requirements, about 2.2 GB)`);
      if (!pipDownload(py, runtime, dir)) {
        tried.push(`pip download ${runtime.join(' ')} (failed)`);
        return false;
      }
    }
    console.log(`neural-compiler: extracting libtorch from ${wheel} into ${dest}`);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const wheels = fs.readdirSync(dir).filter((f) => f.endsWith('.whl'));
    return (
      extractWheels(
        py,
        wheels.map((f) => path.join(dir, f)),
        dest,
        variant === 'cpu',
      ) && isLibtorch(CACHED(variant))
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function pythonTorch(py, tried, variant) {
  const r = spawnSync(py, ['-c', 'import torch, os; print(os.path.dirname(torch.__file__))'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  if (dir && suits(dir, variant)) return dir;
  tried.push(`an installed Python torch (${dir ? `${dir} is not a ${variant} build` : 'none importable'})`);
  return undefined;
}

/**
 * The folders findLibtorch looks in before fetching anything, in its order, each with how it got on
 * the list and whether a libtorch is there that suits NC_TORCH (neuralc doctor shows them). $LIBTORCH,
 * when set, is the only one.
 */
function searchPath() {
  if (process.env.LIBTORCH) {
    const dir = path.resolve(process.env.LIBTORCH);
    return [{ source: 'LIBTORCH', dir, found: isLibtorch(dir) }];
  }
  const variant = requestedVariant();
  const previous = previousBuild();
  return [
    { source: 'the project', dir: LOCAL },
    ...(previous ? [{ source: 'the last build', dir: previous }] : []),
    { source: 'the per-user cache', dir: CACHED() },
  ].map((place) => ({ ...place, found: suits(place.dir, variant) }));
}

function findLibtorch() {
  const places = searchPath();
  const found = places.find((place) => place.found);
  if (found) return found.dir;
  const variant = requestedVariant() ?? 'cpu';
  const tried = places.map(({ source, dir }) =>
    source === 'LIBTORCH'
      ? `LIBTORCH=${dir} (no share/cmake/Torch/TorchConfig.cmake there)`
      : `${dir} (${isLibtorch(dir) ? `not a ${variant} build` : 'absent'})`,
  );
  if (process.env.LIBTORCH) fail(tried, variant);
  const py = python();
  if (!py) {
    tried.push('python3 (not found, so neither pip nor an installed torch could be used)');
    fail(tried, variant);
  }
  if (fetchWheels(py, tried, variant)) return CACHED(variant);
  // An installed torch of either kind serves unless NC_TORCH asked for one.
  return pythonTorch(py, tried, requestedVariant()) ?? fail(tried, variant);
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
