// The anchors' processes: hand-written eager libtorch (build/Release/bench_eager) and PyTorch from
// Python, each given every job at once and printing one JSON line per job.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const TORCH_ANCHOR = path.join(__dirname, 'torch_anchor.py');

/** A job's name on the anchors' command lines and in their answers: "program:batch", or "program:batch:params"
 *  when only the params require a gradient. */
const jobKey = (j) => `${j.program}:${j.batch}${j.grad === 'params' ? ':params' : ''}`;

/** Map jobKey -> {forward, backward}. */
function runJobs(cmd, args, jobs) {
  const r = spawnSync(cmd, [...args, ...jobs.map(jobKey)], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.error ? r.error.message : r.stderr}`);
  const out = new Map();
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('{'))) {
    const j = JSON.parse(line);
    out.set(jobKey(j), { forward: j.forward, backward: j.backward });
  }
  return out;
}

/** The path of a native/tools program, built on first use (a plain install does not build them). */
function nativeTool(name) {
  const tool = path.join(ROOT, 'build', 'Release', name);
  if (!fs.existsSync(tool)) {
    const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.js'), '--tools', '--native-only'], {
      stdio: 'inherit',
    });
    if (build.status !== 0)
      throw new Error(`${tool} is missing and building it failed: run \`npm run build -- --tools\``);
  }
  return tool;
}

function eagerAnchor(jobs, minMs, threads) {
  return runJobs(nativeTool('bench_eager'), [String(minMs), String(threads)], jobs);
}

/** The Python to use: --python, else the bench venv, else python3; undefined (with why) when it has no torch. */
function findPython(requested) {
  const venv = path.join(ROOT, '.cache', 'bench-venv', 'bin', 'python');
  const python = requested ?? (fs.existsSync(venv) ? venv : 'python3');
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0)
    return { why: `${python} cannot import torch (see ../shared/PLATFORM.md for a venv under .cache/bench-venv)` };
  return { python, version: r.stdout.trim() };
}

function torchAnchor(python, jobs, minMs, threads) {
  return runJobs(python, [TORCH_ANCHOR, String(minMs), String(threads)], jobs);
}

module.exports = { eagerAnchor, torchAnchor, findPython, nativeTool, jobKey };
