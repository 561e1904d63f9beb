// Timing: warm-up, then repetitions until a time budget is spent (at least 5), reported as the median.
'use strict';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median microseconds of one call of f. */
function timeUs(f, minMs) {
  for (let i = 0; i < 3; i++) f();
  const samples = [];
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(minMs * 1e6));
  while (samples.length < 5 || (process.hrtime.bigint() - start < budget && samples.length < 100000)) {
    const t0 = process.hrtime.bigint();
    f();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return median(samples);
}

/** For calls far below a microsecond: the median over groups of `inner` calls, per call. */
function timeUsBatched(f, minMs, inner = 1000) {
  return (
    timeUs(() => {
      for (let i = 0; i < inner; i++) f();
    }, minMs) / inner
  );
}

module.exports = { median, timeUs, timeUsBatched };
