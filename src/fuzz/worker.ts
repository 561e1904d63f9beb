// Child process of the fuzzer's pool: evaluates the cases it is sent, one at a time. A case that
// hangs or kills this process is the parent's to detect.
import { serveTasks } from '../runtime/process-pool';
import { evaluate, type FuzzCase } from './evaluate';

serveTasks((fuzzCase: FuzzCase) => evaluate(fuzzCase));
