#!/usr/bin/env node
// Memory soak (not part of npm test: minutes long):
//   node scripts/soak.js [forwards] [compiles] [fitSteps]
// Prints resident-memory growth after warm-up; the code is src/fuzz/soak.ts, compiled to dist/.
// The fit soaks train a hybrid ODE model for fitSteps steps, as one fit() call and as calls of about
// 100 steps, then a cheaper algebraic hybrid for 10 x fitSteps steps, both ways. A count of 0 skips
// that soak (`scripts/soak.js 0 0 10000` runs only the fit soaks).
//
// It runs itself again under two V8 flags: --expose-gc, so it can collect garbage between phases, and
// --min-semi-space-size=16, which starts V8's young generation at its usual maximum. Otherwise V8
// grows that space (8 -> 16 -> 32 MB) as the allocation rate asks, which showed as 10 % "growth" of
// the compile/dispose soak after warm-up while the heap and the native allocations stayed flat.
'use strict';
const { spawnSync } = require('child_process');

const FLAGS = ['--expose-gc', '--min-semi-space-size=16'];
if (!FLAGS.every((f) => process.execArgv.includes(f))) {
  const r = spawnSync(process.execPath, [...FLAGS, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const { soakForward, soakCompile, soakFit } = require('../dist/fuzz/soak.js');

async function main() {
  const forwards = Number(process.argv[2] ?? 1000000);
  const compiles = Number(process.argv[3] ?? 100000);
  const fitSteps = Number(process.argv[4] ?? 10000);
  const soaks = [
    forwards > 0 && (() => soakForward(forwards)),
    compiles > 0 && (() => soakCompile(compiles)),
    fitSteps > 0 && (() => soakFit(fitSteps)),
    fitSteps > 0 && (() => soakFit(fitSteps, { perCall: 100 })),
    fitSteps > 0 && (() => soakFit(10 * fitSteps, { model: 'algebraic' })),
    fitSteps > 0 && (() => soakFit(10 * fitSteps, { model: 'algebraic', perCall: 100 })),
  ].filter(Boolean);
  for (const soak of soaks) {
    const g = await soak();
    console.log(
      `${g.what}: ${g.iterations} in ${g.seconds.toFixed(0)} s, RSS ${g.warmMb.toFixed(1)} MB after warm-up -> ${g.endMb.toFixed(1)} MB (${g.percent >= 0 ? '+' : ''}${g.percent.toFixed(2)} %)`,
    );
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
