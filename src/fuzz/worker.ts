// Child process of the fuzzer's pool and of runIsolatedBatch's: evaluates the cases it is sent, one
// at a time, with src/fuzz/evaluate or the module its argument names (tests give one that crashes on
// purpose). A case that hangs or kills this process is the parent's to detect.
import { serveTasks } from '../runtime/process-pool';

const { evaluate } = require(process.argv[2] ?? './evaluate') as typeof import('./evaluate');
serveTasks(evaluate);
