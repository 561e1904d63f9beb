#!/usr/bin/env node
// Fuzzer entry point (`npm run fuzz -- --count N --seed S`); the code is src/fuzz, compiled to dist/.
'use strict';
require('../dist/fuzz/cli.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
