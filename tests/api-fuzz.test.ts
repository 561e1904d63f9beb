// Random garbage at every exported function and method (src/fuzz/api.ts), in child processes: every
// call returns or throws an Error, and no child dies. A crash names the last call it made.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { loader } from '../src/fuzz/isolate';

const API_FUZZ = path.join(__dirname, '..', 'src', 'fuzz', 'api.ts');

test.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: 400 calls, only Errors thrown, the process alive', (seed) => {
  const script = `${loader()}
const { apiFuzz } = require(${JSON.stringify(API_FUZZ)});
process.stdout.write(JSON.stringify(apiFuzz(${seed}, 400, (call) => process.stderr.write(call + '\\n'))));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000, maxBuffer: 1 << 26 });
  const lastCall = r.stderr.trim().split('\n').pop();
  expect({ status: r.status, signal: r.signal, lastCall: r.status === 0 ? undefined : lastCall }).toEqual({ status: 0, signal: null, lastCall: undefined });
  expect(JSON.parse(r.stdout)).toEqual({ calls: 400, nonErrors: [] });
}, 60000);
