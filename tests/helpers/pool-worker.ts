// A child of tests/process-pool.test.ts's pool: each task says what to do; given the argument
// 'exit at start', it dies before serving any.
import { serveTasks } from '../../src/runtime/process-pool';

if (process.argv[2] === 'exit at start') process.exit(4);

export type PoolTask = { do: 'double'; value: number } | { do: 'throw' } | { do: 'exit' } | { do: 'spin' };

serveTasks((t: PoolTask) => {
  switch (t.do) {
    case 'double':
      return { twice: 2 * t.value, pid: process.pid, kept: [NaN, -Infinity], typed: new Float64Array([t.value]) };
    case 'throw':
      throw new Error('the task was bad');
    case 'exit':
      process.exit(3);
    case 'spin':
      for (;;);
  }
});
