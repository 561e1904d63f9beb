// Pieces of the command line and the install that a child process cannot show exactly: the fit
// progress line's times, where the per-user libtorch cache is and which libtorch NC_TORCH picks, and
// scripts/gpu-check.js where there is no GPU.
import { spawnSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { duration, progressLine } from '../src/cli/commands/fit';
import { native } from '../src/runtime/native';
import { cudaBuilt } from './helpers/cuda';

const libtorch = require('../scripts/libtorch.js') as {
  libtorchCache: () => string;
  findLibtorch: () => string;
  searchPath: () => { source: string; dir: string; found: boolean }[];
  TORCH_VERSION: string;
};

/** Runs f with these environment variables set (undefined: unset), restoring them after. */
function withEnv(vars: Record<string, string | undefined>, f: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(values))
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  };
  try {
    apply(vars);
    f();
  } finally {
    apply(saved);
  }
}

test('the progress line shows the elapsed time and an estimate of the time left', () => {
  expect(progressLine(25, 100, 0.5, 10)).toBe(`\r[${'#'.repeat(8)}${'-'.repeat(22)}]  25/100 loss 0.5000 10s eta 30s`);
  expect(progressLine(0, 100, 2, 0)).toBe(`\r[${'-'.repeat(30)}]   0/100 loss 2.000 0s`);
  expect([duration(59.4), duration(185), duration(3720)]).toEqual(['59s', '3m05s', '1h02m']);
});

test('the libtorch cache: NC_LIBTORCH_CACHE, else XDG_CACHE_HOME, else ~/.cache', () => {
  const name = `libtorch-${libtorch.TORCH_VERSION}-cpu`;
  withEnv({ NC_TORCH: undefined, NC_LIBTORCH_CACHE: '/opt/torch-cache', XDG_CACHE_HOME: '/xdg' }, () => {
    expect(libtorch.libtorchCache()).toBe(path.join('/opt/torch-cache', name));
    delete process.env.NC_LIBTORCH_CACHE;
    expect(libtorch.libtorchCache()).toBe(path.join('/xdg', 'neural-compiler', name));
    delete process.env.XDG_CACHE_HOME;
    expect(libtorch.libtorchCache()).toBe(path.join(os.homedir(), '.cache', 'neural-compiler', name));
  });
});

test('NC_TORCH: cuda and cpu each find only their own kind of libtorch; anything else is a clear error', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-variants-'));
  const fake = (dir: string, cuda: boolean) => {
    fs.mkdirSync(path.join(dir, 'share', 'cmake', 'Torch'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), '');
    fs.mkdirSync(path.join(dir, 'lib'));
    if (cuda) fs.writeFileSync(path.join(dir, 'lib', 'libtorch_cuda.so'), '');
  };
  const cpu = path.join(cache, 'libtorch-2.13.0-cpu');
  const cuda = path.join(cache, 'torch-2.14.1-cu13', 'torch');
  fake(cpu, false);
  fake(cuda, true);
  try {
    withEnv({ NC_LIBTORCH_CACHE: cache, LIBTORCH: undefined, NC_TORCH: undefined }, () => {
      process.env.NC_TORCH = 'cuda';
      expect(libtorch.libtorchCache()).toBe(cuda);
      // The CUDA libtorch beside NVIDIA's wheels (site-packages layout); a CPU build in this folder does not count.
      expect(fs.existsSync(path.join(libtorch.findLibtorch(), 'lib', 'libtorch_cuda.so'))).toBe(true);
      for (const place of libtorch.searchPath())
        if (place.found) expect(fs.existsSync(path.join(place.dir, 'lib', 'libtorch_cuda.so'))).toBe(true);
      process.env.NC_TORCH = 'cpu';
      expect(fs.existsSync(path.join(libtorch.findLibtorch(), 'lib', 'libtorch_cuda.so'))).toBe(false);
      process.env.NC_TORCH = 'gpu';
      expect(() => libtorch.findLibtorch()).toThrow(
        'NC_TORCH=gpu is not a libtorch build this project knows; use NC_TORCH=cpu (PyTorch 2.13.0, the default) or NC_TORCH=cuda (PyTorch 2.14.1 with CUDA 13).',
      );
    });
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

// On a machine with a GPU the script checks it instead (scripts/gpu-check.sh, not part of the suite).
const noGpu = native().buildInfo().cudaDevices === 0 ? test : test.skip;
noGpu('scripts/gpu-check.js: on a build or machine without a GPU it says so and exits 2, checking nothing', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'gpu-check.js')], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stdout).toContain(
    `gpu-check: nothing to check: ${cudaBuilt() ? 'this CUDA build sees no GPU' : 'this build has no CUDA'}`,
  );
});
