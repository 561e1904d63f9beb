#!/usr/bin/env node
// Memory soak (not part of npm test: minutes long): node --expose-gc scripts/soak.js [forwards] [compiles]
// Prints resident-memory growth after warm-up; the code is src/fuzz/soak.ts, compiled to dist/.
'use strict';
const { soakForward, soakCompile } = require('../dist/fuzz/soak.js');

async function main() {
  if (!global.gc) throw new Error('run with node --expose-gc, so the soak can collect garbage between phases');
  const forwards = Number(process.argv[2] ?? 1000000);
  const compiles = Number(process.argv[3] ?? 100000);
  for (const g of [await soakForward(forwards), await soakCompile(compiles)])
    console.log(`${g.what}: ${g.iterations} in ${g.seconds.toFixed(0)} s, RSS ${g.warmMb.toFixed(1)} MB after warm-up -> ${g.endMb.toFixed(1)} MB (${g.percent >= 0 ? '+' : ''}${g.percent.toFixed(2)} %)`);
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
