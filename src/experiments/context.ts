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
  /** How `run` is made of independent parts, for the runner to spread them over processes. */
  split?: Split;
}

/**
 * run(ctx) is combine(ctx, [part(ctx, 0), ..., part(ctx, count - 1)]); a part's outcome is plain
 * data (it may come from another process as JSON).
 */
export interface Split {
  count: number;
  part(ctx: Context, i: number): unknown;
  combine(ctx: Context, outcomes: unknown[]): Result;
}
