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
  run(ctx: Context): Result;
}
