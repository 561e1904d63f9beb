// Child process of `neuralc experiments --jobs N`: runs the tasks it is sent (a whole experiment, or
// one part of a split one) on 1 libtorch thread and answers with their plain-data outcome.
import { setNumThreads } from '../runtime/tensor';
import { silent } from './progress';
import { selectExperiments, type Task } from './runner';
import { serveTasks } from '../runtime/process-pool';

setNumThreads(1);
serveTasks(async (t: Task) => {
  const [e] = selectExperiments([t.experiment]);
  const ctx = { quick: t.quick, progress: silent };
  return t.part === undefined ? await e.run(ctx) : await e.split!.part(ctx, t.part);
});
