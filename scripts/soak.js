#!/usr/bin/env node
// Memory soak (not part of npm test: minutes long):
//   node --expose-gc scripts/soak.js [forwards] [compiles] [fitSteps]
// Prints resident-memory growth after warm-up; the code is src/fuzz/soak.ts, compiled to dist/.
// The fit soaks train a hybrid ODE model for fitSteps steps, as one fit() call and as calls of about
// 100 steps, then a cheaper algebraic hybrid for 10 x fitSteps steps, both ways. A count of 0 skips
// that soak (`scripts/soak.js 0 0 10000` runs only the fit soaks).
'use strict';
const { soakForward, soakCompile, soakFit } = require('../dist/fuzz/soak.js');

async function main() {
  if (!global.gc) throw new Error('run with node --expose-gc, so the soak can collect garbage between phases');
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
    console.log(`${g.what}: ${g.iterations} in ${g.seconds.toFixed(0)} s, RSS ${g.warmMb.toFixed(1)} MB after warm-up -> ${g.endMb.toFixed(1)} MB (${g.percent >= 0 ? '+' : ''}${g.percent.toFixed(2)} %)`);
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
