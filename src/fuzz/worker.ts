// Child process of the fuzz pool: evaluates the cases it is sent, one at a time. A case that hangs
// or kills this process is the parent's to detect.
import { evaluate, type FuzzCase } from './evaluate';

process.on('message', (m: { id: number; fuzzCase: FuzzCase }) => {
  const start = process.hrtime.bigint();
  const outcome = evaluate(m.fuzzCase);
  process.send!({ id: m.id, outcome, ms: Number(process.hrtime.bigint() - start) / 1e6 });
});
