// Pieces of the command line and the install that a child process cannot show exactly: the fit
// progress line's times, and where the per-user libtorch cache is.
import os from 'os';
import path from 'path';
import { duration, progressLine } from '../src/cli/commands/fit';

const libtorch = require('../scripts/libtorch.js') as { libtorchCache: () => string; TORCH_VERSION: string };

test('the progress line shows the elapsed time and an estimate of the time left', () => {
  expect(progressLine(25, 100, 0.5, 10)).toBe(`\r[${'#'.repeat(8)}${'-'.repeat(22)}]  25/100 loss 0.5000 10s eta 30s`);
  expect(progressLine(0, 100, 2, 0)).toBe(`\r[${'-'.repeat(30)}]   0/100 loss 2.000 0s`);
  expect([duration(59.4), duration(185), duration(3720)]).toEqual(['59s', '3m05s', '1h02m']);
});

test('the libtorch cache: NC_LIBTORCH_CACHE, else XDG_CACHE_HOME, else ~/.cache', () => {
  const saved = { nc: process.env.NC_LIBTORCH_CACHE, xdg: process.env.XDG_CACHE_HOME };
  const name = `libtorch-${libtorch.TORCH_VERSION}-cpu`;
  try {
    process.env.NC_LIBTORCH_CACHE = '/opt/torch-cache';
    process.env.XDG_CACHE_HOME = '/xdg';
    expect(libtorch.libtorchCache()).toBe(path.join('/opt/torch-cache', name));
    delete process.env.NC_LIBTORCH_CACHE;
    expect(libtorch.libtorchCache()).toBe(path.join('/xdg', 'neural-compiler', name));
    delete process.env.XDG_CACHE_HOME;
    expect(libtorch.libtorchCache()).toBe(path.join(os.homedir(), '.cache', 'neural-compiler', name));
  } finally {
    for (const [key, value] of [
      ['NC_LIBTORCH_CACHE', saved.nc],
      ['XDG_CACHE_HOME', saved.xdg],
    ] as const)
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  }
});
