// What every experiment receives and returns.
import { Progress } from './progress';
import { Result } from './report';

export interface Context {
  /** Fewer epochs and samples: all of them in a few minutes. */
  quick: boolean;
  progress: Progress;
}

export interface Experiment {
  name: string;
  title: string;
  /** A promise where the experiment trains with fit(), which runs on a thread of its own. */
  run(ctx: Context): Result | Promise<Result>;
}
